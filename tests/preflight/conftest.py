from __future__ import annotations

import pytest

from preflight.render import (
    RenderedRelease,
    app_stacks,
    render_app_release,
    render_bootstrap_release,
    render_platform_release,
)
from preflight.report import load_config
from tests.synth import Synth
from todo_infra.access import ACCESS_RELEASE


@pytest.fixture(scope="module")
def apps(synth: Synth) -> list[RenderedRelease]:
    """The todo-app release of both app stacks, rendered as preflight renders it."""
    return [render_app_release(synth, stack) for stack in app_stacks(synth)]


@pytest.fixture(scope="module")
def bootstrap(synth: Synth) -> RenderedRelease:
    return render_bootstrap_release(synth)


@pytest.fixture(scope="module")
def access(synth: Synth) -> RenderedRelease:
    """The platform's environment-access release: the identities and the environment boundary."""
    return render_platform_release(synth, ACCESS_RELEASE)


@pytest.fixture(scope="module")
def config() -> dict[str, object]:
    return load_config()


@pytest.fixture(scope="module")
def nginx_apps(variant: Synth) -> list[RenderedRelease]:
    """The variant's app releases: the retired ingress-nginx edge (TODO_EDGE=ingress-nginx)."""
    return [render_app_release(variant, stack) for stack in app_stacks(variant)]


@pytest.fixture(scope="module")
def nginx_bootstrap(variant: Synth) -> RenderedRelease:
    return render_bootstrap_release(variant)
