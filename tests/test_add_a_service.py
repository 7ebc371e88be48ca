"""Adding a sixth service by docs/adding-a-service.md alone, in a copy of the repo: the scaffold command, then synth,
preflight (with the guide's node step when capacity asks for it) and the chart, stack and services tests, all green.

Every command run here is quoted from the guide (checked first), so the guide cannot drift from what works.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import kept_runs
from tests.sandbox import clean_env, copy_repo
from tests.upstream import upstream_dir

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "adding-a-service.md"
#: What the copy needs beyond tests/sandbox.py's set to run the tests as well as the commands.
ALSO_COPIED = ("tests", ".github", "pyproject.toml", "docs")
SCAFFOLD = "python3 dev.py add-service recurring-task --port 8004 --dapr"
CHECKS = ("python3 dev.py synth", "python3 dev.py preflight")
#: The guide's last check, on the test files that enumerate the services (the whole suite is the guide's step; this
#: subset keeps the test's own time down): the chart's renders, the app stacks, dashboards and workflows (preflight's
#: runtime, capacity and consistency checks have already run on the copy).
TESTS = "python3 dev.py test"
SUBSET = (
    "tests/test_services.py",
    "tests/chart/test_chart_render.py",
    "tests/chart/test_chart_workloads.py",
    "tests/chart/test_chart_network.py",
    "tests/chart/test_chart_autoscaling.py",
    "tests/chart/test_chart_dapr.py",
    "tests/chart/test_chart_monitoring.py",
    "tests/stacks/test_stack_app.py",
    "tests/dashboards/test_dashboards.py",
    "tests/workflows/test_workflow_build.py",
)
#: The guide's node step: preflight's checks it answers, and the setting it raises.
NODE_CHECKS = {"capacity", "node-loss"}
NODE_STEP = '"node_min": 4,'


def _guide_commands() -> str:
    return GUIDE.read_text()


def test_the_guide_quotes_every_step_this_test_takes() -> None:
    text = _guide_commands()
    for command in (SCAFFOLD, *CHECKS, TESTS, NODE_STEP):
        assert command in text, f"docs/adding-a-service.md no longer says {command!r}"


def _run(root: Path, command: str, *extra: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    words = command.split()
    assert words[:2] == ["python3", "dev.py"]
    env = clean_env({"UPSTREAM_DATA_DIR": str(upstream_dir())} if upstream_dir() else {})
    return kept_runs.run([sys.executable, "dev.py", *words[2:], *extra], root, env=env, timeout=timeout)


def _summary(output: str) -> str:
    return next(line for line in reversed(output.splitlines()) if line.startswith("PREFLIGHT "))


def _failed_checks(summary: str) -> set[str]:
    return set(re.findall(r"([\w-]+) FAILED", summary.split(":", 1)[1]))


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    root = copy_repo(tmp_path)
    for name in ALSO_COPIED:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, root / name)
    return root


def test_a_sixth_service_by_the_documented_steps_only(copy: Path) -> None:
    scaffold = _run(copy, SCAFFOLD)
    assert scaffold.returncode == 0, scaffold.stderr
    assert "chart/values.yaml" in scaffold.stdout and ".github/images.json" in scaffold.stdout

    synth = _run(copy, CHECKS[0])
    assert synth.returncode == 0, synth.stderr[-3000:]

    preflight = _run(copy, CHECKS[1])
    if preflight.returncode != 0:
        # The guide's "If capacity fails": only capacity or node loss may ask for it; then one more node.
        summary = _summary(preflight.stdout)
        assert _failed_checks(summary) <= NODE_CHECKS and _failed_checks(summary), summary
        config = copy / "cdktf.json"
        context = json.loads(config.read_text())["context"]
        text = config.read_text()
        assert f'"node_min": {context["node_min"]},' in text
        config.write_text(text.replace(f'"node_min": {context["node_min"]},', NODE_STEP))
        assert context["node_min"] + 1 == 4 <= context["node_max"]
        preflight = _run(copy, CHECKS[1])
    assert preflight.returncode == 0, preflight.stdout[-3000:] + preflight.stderr[-2000:]
    assert _summary(preflight.stdout).startswith("PREFLIGHT PASSED")
    assert "recurring-task" in preflight.stdout  # placed by capacity, listed by consistency

    # One process: each xdist worker would synthesize the stacks again, and the suite around this test already
    # keeps both cores busy.
    tests = _run(copy, TESTS, *SUBSET, "-q", "-p", "no:cacheprovider", "-x", "-n", "0")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", tests.stdout), tests.stdout[-2000:]


def test_a_derived_consumer_that_misses_the_sixth_service_fails_in_the_copy(copy: Path) -> None:
    """Seeded: the copy's images.json loses the new service (as a hand edit that skipped the command would): the
    services check and build.yml's matrix test both fail, naming the file."""
    assert _run(copy, SCAFFOLD).returncode == 0
    images = copy / ".github" / "images.json"
    declaration = json.loads(images.read_text())
    kept = [entry for entry in declaration["services"] if entry["service"] != "recurring-task"]
    assert len(kept) == len(declaration["services"]) - 1
    images.write_text(json.dumps({**declaration, "services": kept}, indent=2))
    result = _run(
        copy,
        "python3 dev.py test",
        "tests/test_services.py::test_the_services_are_declared_once_and_include_the_specified_five",
        "tests/workflows/test_workflow_build.py::test_the_matrix_comes_from_the_one_declaration",
        "-q",
        "-p",
        "no:cacheprovider",
        "-n",
        "0",
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert "2 failed" in result.stdout, result.stdout[-3000:]
    assert ".github/images.json: services lists" in result.stdout
