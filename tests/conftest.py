from __future__ import annotations

from collections.abc import Iterator

import pytest

from preflight.terraform import Terraform
from tests.skips import ALLOWED, unexplained
from tests.synth import CANARY, CREDENTIAL_ENV, SECRET_VARIABLES, VARIANT_OVERRIDES, Synth, finish, run_main


@pytest.fixture(scope="session")
def _synth_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Synth]]:
    default_dir = tmp_path_factory.mktemp("synth-default")
    variant_dir = tmp_path_factory.mktemp("synth-variant")
    canaries = {f"TF_VAR_{name}": CANARY for name in SECRET_VARIABLES} | dict.fromkeys(CREDENTIAL_ENV, CANARY)
    default = run_main(default_dir, canaries)
    variant = run_main(variant_dir, VARIANT_OVERRIDES | canaries)
    yield {"default": finish(default, default_dir), "variant": finish(variant, variant_dir)}


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
