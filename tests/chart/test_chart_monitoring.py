"""ServiceMonitors, the Dapr sidecars' PodMonitor and the PrometheusRule: the six alerts of the alert table, the
two that watch the sidecars and the one that watches the Redis backups (docs/architecture.md, "Monitoring",
"Alerts")."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import helm_python as helm
import promql_parser
import pytest

from tests.chart.chart_support import Rendered, fullname, release_values, render
from tests.chart.service_facts import with_dapr
from tests.dashboards.dashboard_checks import panels, synthesized
from tests.promql_checks import metric_names, promql_problems
from tests.promql_checks import selectors as vector_selectors
from tests.synth import Synth
from todo_infra.metrics_catalog import catalog, series_labels

SEED_ALERTS = {
    "HighErrorRate": ("5m", "warning", 0.05),
    "CriticalErrorRate": ("2m", "critical", 0.15),
    "PodCrashLooping": ("15m", "critical", 3.0),
    "PodNotReady": ("5m", "critical", 0.0),
    "HighCPU": ("10m", "warning", 0.85),
    "HighMemory": ("5m", "critical", 0.90),
}
#: The sidecar alerts: name -> (for, severity).
DAPR_ALERTS = {"DaprSidecarMissing": ("5m", "critical"), "DaprComponentInitFailing": ("5m", "warning")}
#: The backup alert: name -> (for, severity, threshold in hours).
BACKUP_ALERTS = {"RedisBackupStale": ("5m", "warning", 50.0)}
# The real series each alert must read: the services' request counter, kube-state-metrics, cAdvisor.
ALERT_METRICS = {
    "HighErrorRate": {"http_requests_total"},
    "CriticalErrorRate": {"http_requests_total"},
    "PodCrashLooping": {"kube_pod_container_status_restarts_total"},
    "PodNotReady": {"kube_pod_status_ready", "kube_pod_status_phase"},
    "HighCPU": {
        "container_cpu_usage_seconds_total",
        "kube_pod_container_resource_limits",
    },
    "HighMemory": {
        "container_memory_working_set_bytes",
        "kube_pod_container_resource_limits",
    },
    "DaprSidecarMissing": {"kube_pod_annotations", "kube_pod_container_info"},
    "DaprComponentInitFailing": {"dapr_runtime_component_init_fail_total"},
    "RedisBackupStale": {"kube_cronjob_status_last_successful_time", "kube_cronjob_created"},
}


def _alerts(env: Rendered) -> dict[str, dict[str, Any]]:
    (rule,) = env.of_kind("PrometheusRule")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def test_service_monitors_scrape_metrics_every_30s(rendered: Rendered) -> None:
    for service in ("backend", "notification", "sse-gateway"):
        monitor = rendered.get("ServiceMonitor", fullname(service))
        assert monitor["spec"]["endpoints"] == [
            {"port": "http", "path": "/metrics", "interval": "30s", "scheme": "http"}
        ]
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [rendered.namespace]}


def test_each_service_monitor_selects_a_rendered_service_with_the_named_port(
    rendered: Rendered,
) -> None:
    for monitor in rendered.of_kind("ServiceMonitor"):
        wanted = monitor["spec"]["selector"]["matchLabels"]
        selected = [s for s in rendered.of_kind("Service") if wanted.items() <= s["metadata"]["labels"].items()]
        assert [s["metadata"]["name"] for s in selected] == [monitor["metadata"]["name"]]
        port_names = {p["name"] for p in selected[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in port_names


def test_the_six_alerts_have_seed_names_durations_and_severities(
    rendered: Rendered,
) -> None:
    alerts = _alerts(rendered)
    assert set(alerts) == set(SEED_ALERTS) | set(DAPR_ALERTS) | set(BACKUP_ALERTS)
    for name, (duration, severity, _) in SEED_ALERTS.items():
        assert alerts[name]["for"] == duration
        assert alerts[name]["labels"]["severity"] == severity
    for name, (duration, severity) in DAPR_ALERTS.items():
        assert (alerts[name]["for"], alerts[name]["labels"]["severity"]) == (duration, severity)
    for name, (duration, severity, _) in BACKUP_ALERTS.items():
        assert (alerts[name]["for"], alerts[name]["labels"]["severity"]) == (duration, severity)


@pytest.mark.parametrize("alert", sorted(SEED_ALERTS))
def test_alert_expressions_are_promql_over_real_metrics_in_the_namespace(rendered: Rendered, alert: str) -> None:
    rule = _alerts(rendered)[alert]
    expr = promql_parser.parse(rule["expr"])
    assert isinstance(expr, promql_parser.BinaryExpr)
    assert str(expr.op) in {">", "=="}
    assert float(str(expr.rhs)) == SEED_ALERTS[alert][2]
    selectors = vector_selectors(rule["expr"])
    assert {s.name for s in selectors} == ALERT_METRICS[alert]
    for selector in selectors:
        namespaces = [m.value for m in selector.matchers.matchers if m.name == "namespace"]
        assert namespaces == [rendered.namespace], selector.name


@pytest.mark.parametrize("alert", sorted(DAPR_ALERTS))
def test_sidecar_alerts_read_real_series_in_the_namespace(rendered: Rendered, alert: str) -> None:
    selectors = vector_selectors(_alerts(rendered)[alert]["expr"])
    assert {s.name for s in selectors} == ALERT_METRICS[alert]
    for selector in selectors:
        namespaces = [m.value for m in selector.matchers.matchers if m.name == "namespace"]
        assert namespaces == [rendered.namespace], selector.name


def test_the_backup_alert_reads_the_backup_cronjob_the_chart_renders(rendered: Rendered) -> None:
    """RedisBackupStale: hours since the last success (or the creation) of the CronJob the chart runs the backups
    with, and only that one, in the release namespace, above its threshold."""
    rule = _alerts(rendered)["RedisBackupStale"]
    expr = promql_parser.parse(rule["expr"])
    assert isinstance(expr, promql_parser.BinaryExpr)
    assert (str(expr.op), float(str(expr.rhs))) == (">", BACKUP_ALERTS["RedisBackupStale"][2])
    (backup,) = [job for job in rendered.of_kind("CronJob") if not job["spec"].get("suspend")]
    selectors = vector_selectors(rule["expr"])
    assert {s.name for s in selectors} == ALERT_METRICS["RedisBackupStale"]
    for selector in selectors:
        matchers = {(m.name, m.value) for m in selector.matchers.matchers}
        assert matchers == {("namespace", rendered.namespace), ("cronjob", backup["metadata"]["name"])}


def test_the_backup_panel_shows_the_cronjob_the_backup_alert_reads(cloud: Rendered, synth: Synth) -> None:
    rule = _alerts(cloud)["RedisBackupStale"]
    url = urlsplit(rule["annotations"]["dashboard_url"])
    (panel_key,) = parse_qs(url.query)["viewPanel"]
    (panel,) = [p for p in panels(synthesized(synth)[url.path.removeprefix("/d/")]) if f"panel-{p['id']}" == panel_key]
    shown = {
        m.value
        for t in panel["targets"]
        for s in vector_selectors(t["expr"])
        for m in s.matchers.matchers
        if m.name == "cronjob"
    }
    read = {m.value for s in vector_selectors(rule["expr"]) for m in s.matchers.matchers if m.name == "cronjob"}
    assert shown == read == {fullname("redis-backup")}


def test_the_backup_alert_exists_only_with_the_backup(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = release_values("production", sets)
    values["redis"]["backup"]["enabled"] = False
    documents = [doc for _, doc in render(chart, values, "production")]
    (rule,) = [doc for doc in documents if doc["kind"] == "PrometheusRule"]
    alerts = {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]}
    assert alerts == set(SEED_ALERTS) | set(DAPR_ALERTS)
    assert "CronJob" not in {doc["kind"] for doc in documents}


def test_the_sidecar_pod_monitor_scrapes_daprd_in_every_pod_with_a_sidecar(rendered: Rendered) -> None:
    """daprd's metrics port is the container port the injector names `dapr-metrics` (dapr/dapr v1.18.3
    pkg/injector/consts/consts.go SidecarMetricsPortName; pkg/injector/patcher/sidecar_container.go)."""
    (monitor,) = rendered.of_kind("PodMonitor")
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [rendered.namespace]}
    assert monitor["spec"]["podMetricsEndpoints"] == [
        {"port": "dapr-metrics", "path": "/", "interval": "30s", "scheme": "http"}
    ]
    selector = monitor["spec"]["selector"]
    selected = [
        d
        for d in rendered.of_kind("Deployment")
        if selector["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        and d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        in selector["matchExpressions"][0]["values"]
    ]
    with_sidecar = [
        d
        for d in rendered.of_kind("Deployment")
        if d["spec"]["template"]["metadata"].get("annotations", {}).get("dapr.io/enabled") == "true"
    ]
    assert selected == with_sidecar
    assert {d["metadata"]["name"] for d in selected} == {fullname(s) for s in with_dapr(rendered.values)} != set()
    for deployment in selected:
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["dapr.io/enable-metrics"] == "true"
        assert annotations["dapr.io/metrics-port"] == str(rendered.values["dapr"]["metricsPort"])


def test_error_rate_alerts_count_5xx_responses(rendered: Rendered) -> None:
    for alert in ("HighErrorRate", "CriticalErrorRate"):
        statuses = [
            m.value
            for s in vector_selectors(_alerts(rendered)[alert]["expr"])
            for m in s.matchers.matchers
            if m.name == "status"
        ]
        assert statuses == ["5.."]


def test_alerts_have_summary_description_and_runbook(rendered: Rendered) -> None:
    for name, rule in _alerts(rendered).items():
        annotations = rule["annotations"]
        assert annotations["summary"] and "{{ $labels." in annotations["description"]
        assert annotations["runbook_url"].endswith(f"docs/runbooks/monitoring.md#{name.lower()}")
        assert annotations["dashboard_url"].startswith("http://localhost:3000/d/todo-app-")


def test_every_alert_reads_series_the_platform_scrapes(rendered: Rendered) -> None:
    """Each expression's series and label matchers are in the metrics catalog (todo_infra/metrics_catalog.py), the
    services' own metrics as this render's values name them."""
    known = series_labels(catalog(rendered.values))
    for name, rule in _alerts(rendered).items():
        assert promql_problems(rule["expr"], known, {}) == [], name


def test_an_alert_over_a_series_nobody_produces_is_refused(rendered: Rendered) -> None:
    known = series_labels(catalog(rendered.values))
    expr = _alerts(rendered)["DaprComponentInitFailing"]["expr"]
    broken = expr.replace("dapr_runtime_component_init_fail_total", "dapr_runtime_component_init_failed_total")
    assert promql_problems(broken, known, {}) == [
        f"{broken!r} reads dapr_runtime_component_init_failed_total, which no scrape target of the platform produces"
    ]
    mislabelled = expr.replace("namespace=", "kubernetes_namespace=")
    assert promql_problems(mislabelled, known, {}) == [
        f"{mislabelled!r} matches dapr_runtime_component_init_fail_total on kubernetes_namespace, a label it does "
        "not have"
    ]


def test_each_alert_links_the_dashboard_panel_that_shows_it(cloud: Rendered, synth: Synth) -> None:
    """dashboard_url opens, for the alert's namespace, a panel of the platform's dashboards that reads every series
    the alert reads."""
    dashboards = synthesized(synth)
    base = cloud.values["monitoring"]["alerts"]["dashboardBaseUrl"]
    for name, rule in _alerts(cloud).items():
        url = urlsplit(rule["annotations"]["dashboard_url"])
        assert f"{url.scheme}://{url.netloc}" == base
        uid = url.path.removeprefix("/d/")
        query = parse_qs(url.query)
        assert query["var-namespace"] == [cloud.namespace], name
        (panel_key,) = query["viewPanel"]
        (panel,) = [p for p in panels(dashboards[uid]) if f"panel-{p['id']}" == panel_key]
        shown = set().union(*(metric_names(t["expr"]) for t in panel["targets"]))
        assert metric_names(rule["expr"]) <= shown, (name, panel["title"])
        assert name in panel["title"], (name, panel["title"])


def test_promql_parser_rejects_broken_expressions() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(http_requests_total[5m]) > 0.05")


def test_error_rate_alerts_read_the_metric_and_label_the_values_name(chart: helm.Chart, sets: dict[str, str]) -> None:
    """The services' metrics contract lives in values (monitoring.alerts.requestsMetric / statusLabel): the rules
    follow them, so a service that names its counter differently is one values change away."""
    values = release_values("production", sets)
    values["monitoring"]["alerts"] |= {"requestsMetric": "todo_requests_total", "statusLabel": "code"}
    documents = [doc for _, doc in render(chart, values, "production")]
    (rule,) = [doc for doc in documents if doc["kind"] == "PrometheusRule"]
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    for alert in ("HighErrorRate", "CriticalErrorRate"):
        selectors = vector_selectors(alerts[alert]["expr"])
        assert {s.name for s in selectors} == {"todo_requests_total"}
        assert [m.value for s in selectors for m in s.matchers.matchers if m.name == "code"] == ["5.."]
