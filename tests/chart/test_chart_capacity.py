"""Requests at minimum replicas fit the per-environment budget (3 x s-2vcpu-4gb shared by both environments and the
platform add-ons): <= 1.2 vCPU and <= 2 GiB per environment, Dapr sidecars and Redis included."""

from __future__ import annotations

from tests.chart.chart_support import Rendered, cpu_millis, memory_mib, pod_spec

CPU_BUDGET_MILLIS = 1200
MEMORY_BUDGET_MIB = 2048


def _minimum_replicas(env: Rendered, deployment: dict[str, object]) -> int:
    name = deployment["metadata"]["name"]  # type: ignore[index]
    hpas = [h for h in env.of_kind("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name]
    if hpas:
        minimum: int = hpas[0]["spec"]["minReplicas"]
        return minimum
    replicas: int = deployment["spec"]["replicas"]  # type: ignore[index]
    return replicas


def _requests(env: Rendered) -> tuple[int, float]:
    cpu, memory = 0, 0.0
    for deployment in env.of_kind("Deployment"):
        replicas = _minimum_replicas(env, deployment)
        for container in pod_spec(deployment)["containers"]:
            cpu += replicas * cpu_millis(container["resources"]["requests"]["cpu"])
            memory += replicas * memory_mib(container["resources"]["requests"]["memory"])
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        if annotations.get("dapr.io/enabled") == "true":
            cpu += replicas * cpu_millis(annotations["dapr.io/sidecar-cpu-request"])
            memory += replicas * memory_mib(annotations["dapr.io/sidecar-memory-request"])
    return cpu, memory


def test_requests_at_minimum_replicas_fit_the_budget(cloud: Rendered) -> None:
    cpu, memory = _requests(cloud)
    assert cpu <= CPU_BUDGET_MILLIS, f"{cloud.environment}: {cpu}m CPU requested"
    assert memory <= MEMORY_BUDGET_MIB, f"{cloud.environment}: {memory:.0f}Mi memory requested"


def test_production_at_minimum_is_the_larger_environment(staging: Rendered, production: Rendered) -> None:
    assert _requests(production) > _requests(staging)
