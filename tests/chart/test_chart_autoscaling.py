"""HPAs (docs/architecture.md, "Autoscaling": production only), replicas ownership and PodDisruptionBudgets."""

from __future__ import annotations

from typing import Any

from tests.chart.chart_support import SERVICES, Rendered, app_container, fullname
from tests.chart.service_facts import autoscaled, enabled

SEED_HPA = {
    "backend": (2, 6, 70),
    "frontend": (2, 4, 80),
    "sse-gateway": (2, 4, 70),
    "notification": (1, 3, 70),
    "mcp": (1, 2, 80),
}


def _cpu_target(hpa: dict[str, Any]) -> int:
    (metric,) = hpa["spec"]["metrics"]
    resource = metric.get("containerResource") or metric["resource"]
    assert resource["name"] == "cpu" and resource["target"]["type"] == "Utilization"
    target: int = resource["target"]["averageUtilization"]
    return target


def test_production_hpas_match_the_seed_table(production: Rendered) -> None:
    for service, (low, high, cpu) in SEED_HPA.items():
        hpa = production.get("HorizontalPodAutoscaler", fullname(service))
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (low, high)
        assert _cpu_target(hpa) == cpu
        assert hpa["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 60
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_staging_and_base_render_no_hpa(staging: Rendered, base: Rendered) -> None:
    assert staging.of_kind("HorizontalPodAutoscaler") == []
    assert base.of_kind("HorizontalPodAutoscaler") == []


def test_hpa_targets_are_rendered_deployments_with_cpu_requests(
    production: Rendered,
) -> None:
    for hpa in production.of_kind("HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "Deployment")
        container = app_container(production.get("Deployment", ref["name"]))
        metric_container = hpa["spec"]["metrics"][0].get("containerResource", {}).get("container", container["name"])
        assert metric_container == container["name"]
        assert container["resources"]["requests"]["cpu"]


def test_deployments_omit_replicas_exactly_when_an_hpa_owns_them(production: Rendered, staging: Rendered) -> None:
    scaled = autoscaled(production.values)
    assert scaled >= set(SEED_HPA)
    for service in SERVICES:
        spec = production.get("Deployment", fullname(service))["spec"]
        assert ("replicas" in spec) is (service not in scaled), service
        assert staging.get("Deployment", fullname(service))["spec"]["replicas"] == 1


def test_pdbs_exist_for_services_with_a_minimum_of_two(production: Rendered, staging: Rendered) -> None:
    services = enabled(production.values)
    lowest = {
        s: v["autoscaling"]["minReplicas"] if v["autoscaling"]["enabled"] else v["replicas"]
        for s, v in services.items()
    }
    assert production.names("PodDisruptionBudget") == {fullname(s) for s, low in lowest.items() if low >= 2}
    assert production.names("PodDisruptionBudget") >= {fullname(s) for s, (low, _, _) in SEED_HPA.items() if low >= 2}
    for pdb in production.of_kind("PodDisruptionBudget"):
        deployment = production.get("Deployment", pdb["metadata"]["name"])
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert pdb["spec"]["maxUnavailable"] == 1
    assert staging.of_kind("PodDisruptionBudget") == []
