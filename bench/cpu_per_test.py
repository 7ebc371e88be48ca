"""A pytest plugin for `dev.py bench suite`: the CPU seconds each test costs (setup, call and teardown), its own
process's and its subprocesses' (Helm, Terraform, jsii/Node, checkov, redis-server: every child that was waited
for), recorded as the junit property `cpu` so the benchmark can say where the CPU goes, not only the wall time.

Loaded with `-p bench.cpu_per_test`; the suite itself never loads it (no timed tests).
"""

from __future__ import annotations

import resource
from collections.abc import Generator
from typing import Any

import pytest


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    item.user_properties.append(("cpu-start", f"{_cpu():.3f}"))
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    if call.when == "teardown":
        report: pytest.TestReport = outcome.get_result()
        started = float(str(dict(item.user_properties)["cpu-start"]))
        kept = [(k, v) for k, v in report.user_properties if k != "cpu-start"]
        report.user_properties = [*kept, ("cpu", f"{_cpu() - started:.3f}")]
