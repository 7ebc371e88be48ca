"""The chart renders and lints clean per environment, and every rendered document is schema-valid."""

from __future__ import annotations

import helm_python as helm
import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.chart.chart_support import (
    CHART_DIR,
    SERVICES,
    Rendered,
    cluster_kubernetes_version,
    fullname,
    release_values,
)
from tests.chart.crd_schemas import crd_errors, has_crd_schema

# The cluster's pinned minor (cdktf.json); kubernetes-validate 1.37.0 ships schemas up to 1.37, so no fallback is needed
# (test_kubernetes_validate_ships_the_cluster_minor fails loudly if the pin outgrows the package).
KUBERNETES_VERSION = cluster_kubernetes_version()
CUSTOM_GROUPS = ("dapr.io/", "monitoring.coreos.com/")


def test_kubernetes_validate_ships_the_cluster_minor() -> None:
    assert KUBERNETES_VERSION.startswith("1.") and KUBERNETES_VERSION.endswith(".0")
    assert KUBERNETES_VERSION in kubernetes_validate.utils.all_versions(), (
        f"kubernetes-validate has no schemas for {KUBERNETES_VERSION}; upgrade it"
    )


@pytest.mark.parametrize("environment", ["base", "staging", "production"])
def test_lint_reports_no_errors_or_warnings(environment: str, sets: dict[str, str]) -> None:
    namespace = "default" if environment == "base" else environment
    report = helm.lint(
        CHART_DIR,
        release_values(environment, sets),
        strict=True,
        namespace=namespace,
        kube_version=f"v{KUBERNETES_VERSION}",
    )
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_builtin_kinds_are_valid_for_kubernetes_strict(rendered: Rendered) -> None:
    builtin = [doc for doc in rendered.manifests if not doc["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert builtin, "nothing to validate"
    for doc in builtin:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {error.message}")


def test_custom_resources_are_valid_against_their_crds(rendered: Rendered) -> None:
    custom = [doc for doc in rendered.manifests if doc["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert {doc["kind"] for doc in custom} >= {
        "Component",
        "ServiceMonitor",
        "PrometheusRule",
        "Subscription",
        "Configuration",
    }
    for doc in custom:
        assert has_crd_schema(doc["apiVersion"], doc["kind"]), f"no CRD copy for {doc['apiVersion']} {doc['kind']}"
        assert crd_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


def test_crd_validation_rejects_a_misspelt_field(production: Rendered) -> None:
    """The strict conversion is real: an unknown field in a custom resource is an error."""
    monitor = dict(production.get("ServiceMonitor", fullname("backend")))
    monitor["spec"] = {**monitor["spec"], "endpoint": monitor["spec"]["endpoints"]}
    assert any("endpoint" in error for error in crd_errors(monitor))


def test_strict_kubernetes_validation_rejects_a_misspelt_field(
    production: Rendered,
) -> None:
    service = dict(production.get("Service", fullname("backend")))
    service["spec"] = {**service["spec"], "selecter": {}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)


def test_every_document_is_namespaced_by_the_release_not_hardcoded(
    rendered: Rendered,
) -> None:
    assert [doc["metadata"]["name"] for doc in rendered.manifests if "namespace" in doc["metadata"]] == []


def test_inventory_per_environment(base: Rendered, staging: Rendered, production: Rendered) -> None:
    services = {fullname(s) for s in SERVICES}
    for env in (base, staging, production):
        assert env.names("Deployment") == services | {fullname("redis")}
        assert env.names("Service") == services | {fullname("redis")}
        assert env.names("PersistentVolumeClaim") == {fullname("redis")}
        assert env.names("Component") == {"pubsub", "statestore"}
        assert env.names("Configuration") == {"appconfig"}
        assert env.names("ServiceMonitor") == {fullname(s) for s in ("backend", "notification", "sse-gateway")}
        assert env.names("PrometheusRule") == {"todo-app"}
        assert env.names("Ingress") == {"todo-app", "todo-app-sse"}
        assert "Secret" not in {doc["kind"] for doc in env.manifests}
    assert staging.names("HorizontalPodAutoscaler") == set()
    assert base.names("HorizontalPodAutoscaler") == set()
    assert production.names("HorizontalPodAutoscaler") == services


def test_every_service_has_its_files_at_the_seed_paths(production: Rendered) -> None:
    sources = {template.split("/", 1)[1]: doc for template, doc in production.documents}
    for service in SERVICES:
        assert sources[f"templates/hpa/{service}-hpa.yaml"]["kind"] == "HorizontalPodAutoscaler"
        assert sources[f"templates/{service}/deployment.yaml"]["metadata"]["name"] == fullname(service)
    for service in ("backend", "notification", "sse-gateway"):
        assert sources[f"templates/monitoring/servicemonitor-{service}.yaml"]["kind"] == "ServiceMonitor"
    assert sources["templates/monitoring/alerting-rules.yaml"]["kind"] == "PrometheusRule"
    assert sources["templates/ingress/ingress.yaml"]["kind"] == "Ingress"
