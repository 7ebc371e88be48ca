"""Fixtures of the workflow tests: the parsed workflows, the app's stack ids, the external linters."""

from __future__ import annotations

from typing import Any

import pytest

from tests.synth import Synth
from tests.workflows.gha_support import WORKFLOWS_DIR, load_workflow


@pytest.fixture(scope="session")
def workflows() -> dict[str, dict[str, Any]]:
    """Every workflow of .github/workflows by file name, parsed once."""
    found = {path.name: load_workflow(path) for path in sorted(WORKFLOWS_DIR.glob("*.y*ml"))}
    assert found, f"no workflow in {WORKFLOWS_DIR}"
    return found


@pytest.fixture(scope="session")
def app_stack_ids(synth: Synth) -> list[str]:
    """The stack ids of the CDKTF app, read from its synthesized manifest, never from a second list."""
    ids = list(synth.manifest["stacks"])
    assert ids, "the app synthesized no stack"
    return ids
