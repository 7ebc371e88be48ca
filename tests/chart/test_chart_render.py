"""The chart renders and lints clean per environment, and every rendered document is schema-valid."""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from preflight.render import render_bootstrap_release
from tests.chart.chart_support import (
    CHART_DIR,
    SERVICES,
    Rendered,
    cluster_kubernetes_version,
    fullname,
    release_values,
)
from tests.chart.crd_schemas import can_validate, crd_errors, registry_errors
from tests.chart.service_facts import autoscaled, with_metrics
from tests.synth import Synth
from tests.upstream import upstream, upstream_dir
from todo_infra.services import REQUIRED_SERVICES

# The cluster's pinned minor (cdktf.json); kubernetes-validate 1.37.0 ships schemas up to 1.37, so no fallback is needed
# (test_kubernetes_validate_ships_the_cluster_minor fails loudly if the pin outgrows the package).
KUBERNETES_VERSION = cluster_kubernetes_version()
#: API groups of custom resources (validated against their CRDs; kubernetes-validate knows built-in kinds only).
CUSTOM_GROUPS = ("dapr.io/", "monitoring.coreos.com/", "gateway.networking.k8s.io/", "cert-manager.io/")


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


def _custom(documents: list[dict[str, Any]], groups: tuple[str, ...]) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["apiVersion"].startswith(groups)]


def test_monitoring_custom_resources_are_valid(rendered: Rendered) -> None:
    """ServiceMonitors, the PodMonitor and the PrometheusRule, against the upstream CRDs (or the registry models)."""
    custom = _custom(rendered.manifests, ("monitoring.coreos.com/",))
    assert {doc["kind"] for doc in custom} == {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    for doc in custom:
        assert crd_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


def test_dapr_custom_resources_are_valid(rendered: Rendered) -> None:
    upstream("crds")  # no registry package models the Dapr kinds
    custom = _custom(rendered.manifests, ("dapr.io/",))
    assert {doc["kind"] for doc in custom} >= {"Component", "Subscription", "Configuration"}
    for doc in custom:
        assert can_validate(doc["apiVersion"], doc["kind"]), f"no CRD for {doc['apiVersion']} {doc['kind']}"
        assert crd_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


def test_bootstrap_custom_resources_are_valid(synth: Synth) -> None:
    """The ClusterIssuer (and, with the upstream CRDs, the Dapr Configuration) of the cluster-bootstrap chart."""
    documents = render_bootstrap_release(synth).manifests
    issuers = [doc for doc in documents if doc["kind"] == "ClusterIssuer"]
    assert len(issuers) == 1 and crd_errors(issuers[0]) == []
    if upstream_dir() is not None:
        for doc in _custom(documents, ("dapr.io/",)):
            assert crd_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


def test_crd_validation_rejects_a_misspelt_field(production: Rendered) -> None:
    """The strict conversion of the upstream schemas is real: an unknown field in a custom resource is an error."""
    upstream("crds")
    monitor = dict(production.get("ServiceMonitor", fullname("backend")))
    monitor["spec"] = {**monitor["spec"], "endpoint": monitor["spec"]["endpoints"]}
    assert any("endpoint" in error for error in crd_errors(monitor))


def test_registry_models_validate_the_monitoring_kinds_and_the_issuer(production: Rendered, synth: Synth) -> None:
    """The fallback for clones without the upstream CRDs works: good documents pass, a wrong type fails."""
    monitor = production.get("ServiceMonitor", fullname("backend"))
    (rule,) = production.of_kind("PrometheusRule")
    (issuer,) = [d for d in render_bootstrap_release(synth).manifests if d["kind"] == "ClusterIssuer"]
    broken = copy.deepcopy(monitor)
    broken["spec"]["endpoints"][0]["interval"] = 30
    component = production.get("Component", "pubsub")
    assert registry_errors([monitor, rule, issuer, broken, component]) == [
        [],
        [],
        [],
        ["data/spec/endpoints/0/interval must be string", "data/spec/endpoints/0/interval must be string"],
        None,
    ]


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
        assert env.names("PersistentVolumeClaim") == {fullname("redis"), fullname("redis-backup")}
        backup_jobs = {fullname("redis-backup"), fullname("redis-restore")}
        # the stacks name a backup bucket; the chart's own default (local development) has no offsite copy
        assert env.names("CronJob") == backup_jobs | ({fullname("redis-fetch")} if env is not base else set())
        assert env.names("ConfigMap") == {fullname("redis-backup-scripts")}
        assert env.names("Component") == {"pubsub", "statestore"}
        dapr_apps = {s for s in SERVICES if env.values["services"][s]["dapr"]["enabled"]}
        assert env.names("Configuration") == {f"appconfig-{app}" for app in dapr_apps}  # one per app-id (its ACL)
        monitored = {fullname(s) for s in with_metrics(env.values)}
        assert env.names("ServiceMonitor") == monitored
        assert monitored >= {fullname(s) for s in ("backend", "notification", "sse-gateway")}
        assert env.names("PrometheusRule") == {"todo-app"}
        assert env.names("Ingress") == set()  # the default edge routes with HTTPRoutes (test_chart_edge.py)
        assert env.names("HTTPRoute") == {"todo-app"} | ({"todo-app-https-redirect"} if env is not base else set())
        assert "Secret" not in {doc["kind"] for doc in env.manifests}
    assert staging.names("HorizontalPodAutoscaler") == set()
    assert base.names("HorizontalPodAutoscaler") == set()
    assert production.names("HorizontalPodAutoscaler") == {fullname(s) for s in autoscaled(production.values)}
    assert production.names("HorizontalPodAutoscaler") >= {fullname(s) for s in REQUIRED_SERVICES}


def test_every_service_has_its_files_at_the_seed_paths(production: Rendered) -> None:
    sources = {template.split("/", 1)[1]: doc for template, doc in production.documents}
    for service in SERVICES:
        assert sources[f"templates/{service}/deployment.yaml"]["metadata"]["name"] == fullname(service)
    for service in autoscaled(production.values):
        assert sources[f"templates/hpa/{service}-hpa.yaml"]["kind"] == "HorizontalPodAutoscaler"
    for service in with_metrics(production.values):
        assert sources[f"templates/monitoring/servicemonitor-{service}.yaml"]["kind"] == "ServiceMonitor"
    assert sources["templates/monitoring/alerting-rules.yaml"]["kind"] == "PrometheusRule"
    assert sources["templates/gateway/httproute.yaml"]["kind"] == "HTTPRoute"
    assert {doc["kind"] for template, doc in production.documents if template.endswith("gateway/certificate.yaml")} == {
        "Certificate",
        "ReferenceGrant",
    }
