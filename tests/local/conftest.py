"""The local target synthesized once per session (TODO_TARGET=local, every secret a canary), and its renders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from preflight.render import RenderedRelease, app_stacks, render_app_release, render_bootstrap_release
from tests.synth import CANARY, CREDENTIAL_ENV, SECRET_VARIABLES, Synth, synthesize

LOCAL_OVERRIDES = {"TODO_TARGET": "local"}


@pytest.fixture(scope="session")
def local_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    outdir = tmp_path_factory.mktemp("synth-local")
    canaries = {f"TF_VAR_{name}": CANARY for name in SECRET_VARIABLES} | dict.fromkeys(CREDENTIAL_ENV, CANARY)
    yield synthesize({outdir: LOCAL_OVERRIDES | canaries})[outdir]


@pytest.fixture(scope="session")
def local_app(local_synth: Synth) -> RenderedRelease:
    (stack,) = app_stacks(local_synth)
    return render_app_release(local_synth, stack)


@pytest.fixture(scope="session")
def local_bootstrap(local_synth: Synth) -> RenderedRelease:
    return render_bootstrap_release(local_synth)
