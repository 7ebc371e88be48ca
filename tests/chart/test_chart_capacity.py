"""Requests at minimum replicas fit the per-environment budget (3 x s-2vcpu-4gb shared by both environments and the
platform add-ons): <= 1.2 vCPU and <= 2 GiB per environment, Dapr sidecars and Redis included. Counted by
preflight's own capacity model (preflight/capacity.py), the one the preflight check runs."""

from __future__ import annotations

from preflight.capacity import app_consumers
from tests.chart.chart_support import Rendered

CPU_BUDGET_MILLIS = 1200
MEMORY_BUDGET_MIB = 2048


def _requests(env: Rendered) -> tuple[float, float]:
    consumers, problems = app_consumers([env])
    assert problems == []
    cpu = sum(c.cpu_m * c.replicas_min for c in consumers)
    memory = sum(c.memory_mib * c.replicas_min for c in consumers)
    return cpu, memory


def test_requests_at_minimum_replicas_fit_the_budget(cloud: Rendered) -> None:
    cpu, memory = _requests(cloud)
    assert cpu <= CPU_BUDGET_MILLIS, f"{cloud.environment}: {cpu}m CPU requested"
    assert memory <= MEMORY_BUDGET_MIB, f"{cloud.environment}: {memory:.0f}Mi memory requested"


def test_production_at_minimum_is_the_larger_environment(staging: Rendered, production: Rendered) -> None:
    assert _requests(production) > _requests(staging)
