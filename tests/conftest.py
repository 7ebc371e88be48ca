from __future__ import annotations

import json

import pytest

from preflight import policy
from preflight.terraform import Terraform
from tests import kept_runs
from tests.skips import ALLOWED, unexplained
from tests.synth import (
    CANARY,
    CREDENTIAL_ENV,
    SECRET_VARIABLES,
    VARIANT_OVERRIDES,
    Synth,
    loaded,
    synthesize,
)
from todo_infra.outdir_lock import locked


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fresh",
        action="store_true",
        help="run every synth and every kept command again instead of replaying kept results (tests/kept_runs.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    kept_runs.ENABLED = not config.getoption("fresh")
    # checkov reads only the folder preflight lays out for it: a command the suite keeps.
    policy.run_in = lambda command, folder, env: kept_runs.run(command, folder, env=env, timeout=600)


@pytest.fixture(scope="session")
def _synth_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synth]:
    """Both synths, once per run: with pytest-xdist the first worker makes them (or copies them from the synth cache,
    tests/synth.py) in the run's shared temporary folder (under its lock) and the others read them. Whether this
    process is an xdist worker comes from its own configuration, never from PYTEST_XDIST_WORKER, which a pytest
    started by a test (tests/test_add_a_service.py) inherits: it would then share one folder with every such run."""
    base = tmp_path_factory.getbasetemp()
    worker = hasattr(request.config, "workerinput")
    shared = (base.parent if worker else base) / "session-synth"
    printed = shared / "printed.json"
    with locked(shared, "the test session's synth", say=lambda _: None):
        if not printed.is_file():
            canaries = {f"TF_VAR_{name}": CANARY for name in SECRET_VARIABLES} | dict.fromkeys(CREDENTIAL_ENV, CANARY)
            runs = {"default": canaries, "variant": VARIANT_OVERRIDES | canaries}
            made = synthesize({shared / name: overrides for name, overrides in runs.items()})
            printed.write_text(json.dumps({path.name: [synth.stdout, synth.stderr] for path, synth in made.items()}))
        outputs: dict[str, list[str]] = json.loads(printed.read_text())
    return {name: loaded(shared / name, *output) for name, output in outputs.items()}


@pytest.fixture(scope="session")
def synth(_synth_runs: dict[str, Synth]) -> Synth:
    """The four stacks with the embedded defaults (every secret TF_VAR_* set to a canary)."""
    return _synth_runs["default"]


@pytest.fixture(scope="session")
def variant(_synth_runs: dict[str, Synth]) -> Synth:
    """The four stacks with CI-style TODO_* overrides: local state, DNS on DigitalOcean, HA control plane."""
    return _synth_runs["variant"]


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    """The pinned Terraform, offline: its own CLI configuration whose only provider source is an empty mirror."""
    return Terraform(tmp_path_factory.mktemp("terraform-cli"))


_SKIPPED: dict[str, list[str]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        _SKIPPED.setdefault(reason, []).append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skip for a reason tests/skips.py does not list fails the run."""
    if unexplained(_SKIPPED) and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for reason, tests in sorted(_SKIPPED.items()):
        if reason in ALLOWED:
            terminalreporter.write_line(f"not run here ({len(tests)} tests): {reason} — {ALLOWED[reason]}")
        else:
            terminalreporter.write_line(
                f"FAILED: {len(tests)} tests skipped for a reason tests/skips.py does not allow: {reason}", red=True
            )
