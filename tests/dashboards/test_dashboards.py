"""The platform's dashboards (docs/architecture.md, "Dashboards"), judged as the platform stack provisions them: the
ConfigMaps Grafana's sidecar loads, the SDK's own model, every query against the metrics catalog, every datasource
against what kube-prometheus-stack provisions; each check also fails on a seeded broken dashboard."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from main import embedded_context
from preflight.capacity import MIN_SCALE_LIMIT
from preflight.render import inline_values
from tests.dashboards.dashboard_checks import problems, sdk_problems, synthesized
from tests.synth import Synth
from todo_infra import services
from todo_infra.addons import KUBE_PROMETHEUS_STACK
from todo_infra.dashboards import FOLDER, capacity, configmap_name, dapr, overview, terraform_literal, terraform_value
from todo_infra.dashboards.grafana import Provisioning, platform_provisioning, provisioning
from todo_infra.dashboards.inputs import REQUESTS_LIMIT
from todo_infra.metrics_catalog import LOG_STREAM_LABELS, catalog, series_labels
from todo_infra.settings import load_settings

UIDS = {overview.UID, dapr.UID, capacity.UID}


@pytest.fixture(scope="module")
def dashboards(synth: Synth) -> dict[str, dict[str, Any]]:
    return synthesized(synth)


@pytest.fixture(scope="module")
def grafana(synth: Synth) -> Provisioning:
    """What the platform's Grafana provisions, from the kube-prometheus-stack release as synthesized."""
    return provisioning(inline_values(synth.release("platform", KUBE_PROMETHEUS_STACK.release)))


@pytest.fixture(scope="module")
def known() -> dict[str, frozenset[str]]:
    return series_labels(catalog())


def check(model: dict[str, Any], known: dict[str, frozenset[str]], grafana: Provisioning) -> list[str]:
    return problems(model, known=known, log_labels=LOG_STREAM_LABELS, grafana=grafana)


def test_the_platform_provisions_three_dashboards_for_the_grafana_sidecar(synth: Synth, grafana: Provisioning) -> None:
    config_maps = synth.resources("platform", "kubernetes_config_map_v1").values()
    assert {c["metadata"]["name"] for c in config_maps} == {configmap_name(uid) for uid in UIDS}
    for config_map in config_maps:
        metadata = config_map["metadata"]
        assert metadata["namespace"] == "${kubernetes_namespace_v1.namespace-monitoring.metadata[0].name}"
        # kube-prometheus-stack's sidecar label and value, and the folder annotation the platform gives the sidecar.
        assert metadata["labels"] == {"grafana_dashboard": "1"}
        assert metadata["annotations"] == {"grafana_folder": FOLDER}
        assert grafana.dashboard_label == "grafana_dashboard" and grafana.folder_annotation == "grafana_folder"
    values = inline_values(synth.release("platform", KUBE_PROMETHEUS_STACK.release))
    assert values["grafana"]["sidecar"]["dashboards"]["provider"]["foldersFromFilesStructure"] is True


def test_each_dashboard_is_the_sdks_own_model(dashboards: dict[str, dict[str, Any]]) -> None:
    assert set(dashboards) == UIDS
    for model in dashboards.values():
        assert sdk_problems(json.dumps(model)) == []


def test_every_query_reads_what_the_platform_scrapes_from_a_provisioned_datasource(
    dashboards: dict[str, dict[str, Any]], known: dict[str, frozenset[str]], grafana: Provisioning
) -> None:
    for model in dashboards.values():
        assert check(model, known, grafana) == []
    queries = [t["expr"] for m in dashboards.values() for p in m["panels"] for t in p.get("targets", [])]
    assert len(queries) > 40


def test_the_dashboards_reference_what_the_platforms_grafana_provisions(grafana: Provisioning) -> None:
    """kube-prometheus-stack 88.5.3 names its Prometheus datasource `prometheus` (values.yaml
    grafana.sidecar.datasources.uid); Loki's uid is the one Grafana derived from the name when it first provisioned
    it without a uid (safeUIDFromName: "P" + 8 bytes of SHA-256 in hex, upper case), so the running Grafana keeps it."""
    assert grafana == platform_provisioning()
    by_type = {source.type: source.uid for source in grafana.datasources}
    assert by_type["prometheus"] == "prometheus"
    assert by_type["loki"] == ("P" + hashlib.sha256(b"Loki").digest()[:8].hex()).upper()


def test_the_capacity_dashboard_draws_preflights_limit_and_the_autoscaler_bounds(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    assert REQUESTS_LIMIT == MIN_SCALE_LIMIT
    panels = {p["id"]: p for p in dashboards[capacity.UID]["panels"]}
    pool = load_settings(embedded_context(), {}).cluster  # the node pool the committed configuration asks for
    bounds = [f"vector({pool.node_min})", f"vector({pool.node_max})"]
    assert [t["expr"] for t in panels[capacity.NODES]["targets"]] == ["count(kube_node_info)", *bounds]
    steps = panels[capacity.CLUSTER_MEMORY]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == MIN_SCALE_LIMIT


def test_the_overview_has_a_logs_panel_per_service(dashboards: dict[str, dict[str, Any]]) -> None:
    logs = [p for p in dashboards[overview.UID]["panels"] if p["type"] == "logs"]
    assert (
        [p["targets"][0]["expr"] for p in logs]
        == [
            f'{{namespace="$namespace", container="{service}"}}'
            for service, declared in services.declared().items()
            if declared["enabled"]
        ]
        != []
    )


def test_grafana_variables_survive_terraform() -> None:
    text = '{"expr": "rate(x{pod=~\\"${service:regex}\\"}[5m])", "legend": "%{y}"}'
    assert terraform_literal(text) == '{"expr": "rate(x{pod=~\\"$${service:regex}\\"}[5m])", "legend": "%%{y}"}'
    assert terraform_value(terraform_literal(text)) == text


# --- seeded failures: each check refuses what it exists to refuse ------------------------------------------------


def _first_query(model: dict[str, Any]) -> dict[str, Any]:
    target: dict[str, Any] = next(p for p in model["panels"] if p["type"] == "timeseries")["targets"][0]
    return target


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('sum(rate(http_requests_total{namespace="$namespace"}[5m])', "does not parse"),
        ('rate(http_requests_totl{namespace="$namespace"}[5m])', "which no scrape target of the platform produces"),
        ('rate(http_requests_total{namespace="$namespace", code="500"}[5m])', "on code, a label it does not have"),
        ('dapr_component_pubsub_egress_total{success="false"}', "no scrape target"),
        ('rate(http_requests_total{namespace="$environment"}[5m])', "unknown variable $environment"),
        ('{namespace="$namespace"}', "a selector without a metric name"),
    ],
)
def test_a_broken_query_is_refused(
    dashboards: dict[str, dict[str, Any]],
    known: dict[str, frozenset[str]],
    grafana: Provisioning,
    expr: str,
    expected: str,
) -> None:
    model = copy.deepcopy(dashboards[overview.UID])
    _first_query(model)["expr"] = expr
    found = check(model, known, grafana)
    assert len(found) == 1 and expected in found[0], found


def test_dapr_metrics_use_the_names_daprd_exposes(known: dict[str, frozenset[str]]) -> None:
    """OpenCensus counters keep their view name: no _total suffix (the seeded case above), latencies in ms."""
    assert "dapr_component_pubsub_egress_count" in known and "dapr_component_pubsub_egress_total" not in known
    assert "dapr_component_state_latencies_bucket" in known and "le" in known["dapr_component_state_latencies_bucket"]


@pytest.mark.parametrize(
    ("ref", "where"),
    [
        ({"type": "prometheus", "uid": "Prometheus"}, "panel"),
        ({"type": "loki", "uid": "prometheus"}, "target"),
        (None, "panel"),
    ],
)
def test_a_broken_datasource_reference_is_refused(
    dashboards: dict[str, dict[str, Any]],
    known: dict[str, frozenset[str]],
    grafana: Provisioning,
    ref: dict[str, str] | None,
    where: str,
) -> None:
    model = copy.deepcopy(dashboards[overview.UID])
    panel = next(p for p in model["panels"] if p["type"] == "timeseries")
    (panel if where == "panel" else panel["targets"][0])["datasource"] = ref
    found = check(model, known, grafana)
    assert any("is not one the platform provisions" in problem for problem in found), found


def test_a_broken_log_query_is_refused(
    dashboards: dict[str, dict[str, Any]], known: dict[str, frozenset[str]], grafana: Provisioning
) -> None:
    model = copy.deepcopy(dashboards[overview.UID])
    logs = next(p for p in model["panels"] if p["type"] == "logs")
    logs["targets"][0]["expr"] = '{namespace="$namespace", service="backend"}'
    assert [p for p in check(model, known, grafana) if "service, a label no log stream has" in p]
    logs["targets"][0]["expr"] = 'sum(rate({namespace="$namespace"}[5m]))'
    assert [p for p in check(model, known, grafana) if "is not a stream selector" in p]


def test_json_outside_the_sdks_model_is_refused(dashboards: dict[str, dict[str, Any]]) -> None:
    model = copy.deepcopy(dashboards[overview.UID])
    next(p for p in model["panels"] if p["type"] == "timeseries")["fieldconfig"] = {}
    assert sdk_problems(json.dumps(model)) == [
        f"{overview.UID}: the SDK's model does not hold the JSON as it is (unknown fields)"
    ]
    model = copy.deepcopy(dashboards[overview.UID])
    next(p for p in model["panels"] if p["type"] == "timeseries")["type"] = "timeseriess"
    assert any("has no SDK model" in problem for problem in sdk_problems(json.dumps(model)))
