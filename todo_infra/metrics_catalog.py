"""Every metric the alerts and the dashboards may read, each with the scrape target of this platform that produces it
and the upstream source of its name and labels (docs/architecture.md, "Metrics contract", "Dashboards").

A query over a name that is not listed here reads nothing in this cluster: the suite parses every alert and every
dashboard query and refuses a name, or a label matcher, this catalog does not know (tests/promql_checks.py). The
services' own metrics are the metrics contract, read from the chart's values (`monitoring.alerts.requestsMetric`,
`statusLabel`, `latencyMetric`), so a service that names its metrics differently is one values change away.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from todo_infra.chart_values import base_values

_OPERATOR = "https://github.com/prometheus-operator/prometheus-operator/blob/v0.93.0/pkg/prometheus/promcfg.go"
_KSM = "https://github.com/kubernetes/kube-state-metrics/blob/v2.20.0/docs/metrics"
_DAPR = "https://github.com/dapr/dapr/blob/v1.18.3/pkg/diagnostics"
_NODE_EXPORTER = "https://github.com/prometheus/node_exporter/blob/v1.12.1/collector"
_CADVISOR = "https://github.com/google/cadvisor/blob/master/docs/storage/prometheus.md"


@dataclass(frozen=True)
class Producer:
    """A scrape target the platform creates: who scrapes what, and the labels the target adds to every series."""

    name: str
    scraped_by: str
    target_labels: frozenset[str]


#: ServiceMonitor targets get namespace, service, pod, container, endpoint and job from the Prometheus Operator
#: (promcfg.go, generateServiceMonitorConfig; `node` when the endpoint is a Node, as the kubelet's are).
_SERVICE_MONITOR = frozenset({"namespace", "service", "pod", "container", "endpoint", "job", "instance"})
APP = Producer(
    "app",
    "the ServiceMonitors todo-app-<service> (chart/templates/monitoring/): GET /metrics of every service with "
    "metrics.enabled, the metrics contract",
    _SERVICE_MONITOR,
)
#: PodMonitor targets: namespace, container, pod, job (<namespace>/<PodMonitor>) and endpoint (the port name)
#: (promcfg.go, generatePodMonitorConfig).
DAPRD = Producer(
    "daprd",
    "the PodMonitor todo-app-daprd (chart/templates/monitoring/podmonitor-dapr.yaml): daprd's `dapr-metrics` port",
    frozenset({"namespace", "pod", "container", "endpoint", "job", "instance"}),
)
#: kube-prometheus-stack scrapes kube-state-metrics with honorLabels: a series' namespace/pod/container are the
#: object's own.
KUBE_STATE_METRICS = Producer(
    "kube-state-metrics",
    "kube-prometheus-stack 88.5.3's ServiceMonitor of kube-state-metrics v2.20.0",
    _SERVICE_MONITOR,
)
_KUBELET_TARGET = frozenset({"job", "instance", "node", "endpoint", "service", "metrics_path", "namespace"})
CADVISOR = Producer(
    "cadvisor", "kube-prometheus-stack's kubelet ServiceMonitor, endpoint /metrics/cadvisor", _KUBELET_TARGET
)
KUBELET = Producer("kubelet", "kube-prometheus-stack's kubelet ServiceMonitor, endpoint /metrics", _KUBELET_TARGET)
NODE_EXPORTER = Producer(
    "node-exporter", "kube-prometheus-stack's ServiceMonitor of prometheus-node-exporter 1.12.1", _SERVICE_MONITOR
)
PROMETHEUS = Producer(
    "prometheus",
    "Prometheus itself: `up` for every target it scrapes, `ALERTS` for every alerting rule it evaluates",
    frozenset(),
)
PRODUCERS = (APP, DAPRD, KUBE_STATE_METRICS, CADVISOR, KUBELET, NODE_EXPORTER, PROMETHEUS)


@dataclass(frozen=True)
class Metric:
    """One metric family: its exposed name, type, own labels, producer and the upstream source of both."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    labels: frozenset[str]
    producer: Producer
    source: str

    @property
    def series(self) -> dict[str, frozenset[str]]:
        """Each exposed series name with the labels a query may match on it (a histogram's buckets add `le`)."""
        own = self.labels | self.producer.target_labels
        if self.kind != "histogram":
            return {self.name: own}
        return {f"{self.name}_bucket": own | {"le"}, f"{self.name}_sum": own, f"{self.name}_count": own}


def _metric(
    name: str, kind: Literal["counter", "gauge", "histogram"], labels: str, producer: Producer, source: str
) -> Metric:
    return Metric(name, kind, frozenset(labels.split()), producer, source)


@dataclass(frozen=True)
class MetricsContract:
    """What every service with metrics.enabled serves (docs/architecture.md, "Metrics contract")."""

    requests: str
    status_label: str
    latency: str


def contract(values: Mapping[str, Any]) -> MetricsContract:
    """The metrics contract as a chart values document states it (monitoring.alerts)."""
    alerts = values["monitoring"]["alerts"]
    return MetricsContract(alerts["requestsMetric"], alerts["statusLabel"], alerts["latencyMetric"])


def app_metrics(terms: MetricsContract) -> tuple[Metric, ...]:
    source = "docs/architecture.md, Metrics contract (chart/values.yaml monitoring.alerts)"
    return (
        _metric(terms.requests, "counter", terms.status_label, APP, source),
        _metric(terms.latency, "histogram", "", APP, source),
    )


_POD = "namespace pod uid"
_CONTAINER = f"{_POD} container"
_DAPR_COMPONENT = "app_id component namespace"
_ALERT_LABELS = "alertname alertstate severity namespace service pod container app_id componentName"

#: Everything but the services' own metrics (those come from the chart's values: `catalog()`).
PLATFORM_METRICS: tuple[Metric, ...] = (
    # daprd: OpenCensus views exposed by the Prometheus exporter with namespace "dapr": dapr_ + the view name with
    # "/" and "." as "_", counters without a _total suffix, latencies in milliseconds
    # (https://github.com/census-ecosystem/opencensus-go-exporter-prometheus/blob/v0.4.2/prometheus.go metricName,
    # https://github.com/dapr/dapr/blob/v1.18.3/pkg/metrics/exporter.go DefaultMetricNamespace).
    _metric(
        "dapr_runtime_component_init_fail_total",
        "counter",
        "app_id component reason componentName",
        DAPRD,
        f"{_DAPR}/service_monitoring.go",
    ),
    _metric("dapr_runtime_component_loaded", "counter", "app_id", DAPRD, f"{_DAPR}/service_monitoring.go"),
    _metric(
        "dapr_component_pubsub_egress_count",
        "counter",
        f"{_DAPR_COMPONENT} success topic",
        DAPRD,
        f"{_DAPR}/component_monitoring.go",
    ),
    _metric(
        "dapr_component_pubsub_ingress_count",
        "counter",
        f"{_DAPR_COMPONENT} process_status topic status",
        DAPRD,
        f"{_DAPR}/component_monitoring.go",
    ),
    _metric(
        "dapr_component_state_count",
        "counter",
        f"{_DAPR_COMPONENT} operation success",
        DAPRD,
        f"{_DAPR}/component_monitoring.go",
    ),
    _metric(
        "dapr_component_state_latencies",
        "histogram",
        f"{_DAPR_COMPONENT} operation success",
        DAPRD,
        f"{_DAPR}/component_monitoring.go",
    ),
    # kube-state-metrics v2.20.0 (the version kube-prometheus-stack 88.5.3 ships, chart 8.4.0).
    _metric(
        "kube_pod_status_ready", "gauge", f"{_POD} condition", KUBE_STATE_METRICS, f"{_KSM}/workload/pod-metrics.md"
    ),
    _metric("kube_pod_status_phase", "gauge", f"{_POD} phase", KUBE_STATE_METRICS, f"{_KSM}/workload/pod-metrics.md"),
    _metric(
        "kube_pod_container_status_restarts_total",
        "counter",
        _CONTAINER,
        KUBE_STATE_METRICS,
        f"{_KSM}/workload/pod-metrics.md",
    ),
    _metric(
        "kube_pod_container_status_ready", "gauge", _CONTAINER, KUBE_STATE_METRICS, f"{_KSM}/workload/pod-metrics.md"
    ),
    _metric(
        "kube_pod_container_info",
        "gauge",
        f"{_CONTAINER} image image_id image_spec container_id",
        KUBE_STATE_METRICS,
        f"{_KSM}/workload/pod-metrics.md",
    ),
    _metric(
        "kube_pod_container_resource_requests",
        "gauge",
        f"{_CONTAINER} resource unit node",
        KUBE_STATE_METRICS,
        f"{_KSM}/workload/pod-metrics.md",
    ),
    _metric(
        "kube_pod_container_resource_limits",
        "gauge",
        f"{_CONTAINER} resource unit node",
        KUBE_STATE_METRICS,
        f"{_KSM}/workload/pod-metrics.md",
    ),
    # Only the annotations the platform allows (kube-state-metrics.metricAnnotationsAllowList in
    # k8s/addons/kube-prometheus-stack.yaml): dapr.io/enabled.
    _metric(
        "kube_pod_annotations",
        "gauge",
        f"{_POD} annotation_dapr_io_enabled",
        KUBE_STATE_METRICS,
        f"{_KSM}/workload/pod-metrics.md",
    ),
    _metric(
        "kube_deployment_spec_replicas",
        "gauge",
        "namespace deployment",
        KUBE_STATE_METRICS,
        f"{_KSM}/workload/deployment-metrics.md",
    ),
    _metric(
        "kube_deployment_status_replicas_ready",
        "gauge",
        "namespace deployment",
        KUBE_STATE_METRICS,
        f"{_KSM}/workload/deployment-metrics.md",
    ),
    # Set from the CronJob's metadata.creationTimestamp and status.lastSuccessfulTime (internal/store/cronjob.go); the
    # last success is absent until a Job of the CronJob has succeeded once.
    *(
        _metric(
            f"kube_cronjob_{name}",
            "gauge",
            "namespace cronjob",
            KUBE_STATE_METRICS,
            f"{_KSM}/workload/cronjob-metrics.md",
        )
        for name in ("created", "status_last_successful_time")
    ),
    *(
        _metric(
            f"kube_horizontalpodautoscaler_{name}",
            "gauge",
            "namespace horizontalpodautoscaler",
            KUBE_STATE_METRICS,
            f"{_KSM}/workload/horizontalpodautoscaler-metrics.md",
        )
        for name in ("status_current_replicas", "spec_min_replicas", "spec_max_replicas")
    ),
    _metric(
        "kube_node_info",
        "gauge",
        "node kernel_version os_image container_runtime_version kubelet_version provider_id internal_ip",
        KUBE_STATE_METRICS,
        f"{_KSM}/cluster/node-metrics.md",
    ),
    _metric(
        "kube_node_status_allocatable",
        "gauge",
        "node resource unit",
        KUBE_STATE_METRICS,
        f"{_KSM}/cluster/node-metrics.md",
    ),
    # cAdvisor through the kubelet; kube-prometheus-stack drops a few cAdvisor series by name (kubelet.serviceMonitor.
    # cAdvisorMetricRelabelings), none of these.
    _metric("container_cpu_usage_seconds_total", "counter", f"{_CONTAINER} id image name", CADVISOR, _CADVISOR),
    _metric("container_memory_working_set_bytes", "gauge", f"{_CONTAINER} id image name", CADVISOR, _CADVISOR),
    # The kubelet's volume statistics of every mounted PVC (the DigitalOcean CSI driver reports GET_VOLUME_STATS).
    *(
        _metric(
            f"kubelet_volume_stats_{name}",
            "gauge",
            "namespace persistentvolumeclaim",
            KUBELET,
            "https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/metrics/collectors/volume_stats.go",
        )
        for name in ("used_bytes", "capacity_bytes")
    ),
    *(
        _metric(f"node_memory_{name}_bytes", "gauge", "", NODE_EXPORTER, f"{_NODE_EXPORTER}/meminfo.go")
        for name in ("MemTotal", "MemAvailable")
    ),
    _metric(
        "node_uname_info",
        "gauge",
        "sysname release version machine nodename domainname",
        NODE_EXPORTER,
        f"{_NODE_EXPORTER}/uname.go",
    ),
    _metric(
        "up",
        "gauge",
        " ".join(sorted(_SERVICE_MONITOR | _KUBELET_TARGET)),
        PROMETHEUS,
        "https://prometheus.io/docs/concepts/jobs_instances/#automatically-generated-labels-and-time-series",
    ),
    _metric(
        "ALERTS",
        "gauge",
        _ALERT_LABELS,
        PROMETHEUS,
        "https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/#inspecting-alerts-during-runtime",
    ),
)


def catalog(values: Mapping[str, Any] | None = None) -> tuple[Metric, ...]:
    """Every metric a query may read; the app's from `values` (chart/values.yaml when None)."""
    return (*app_metrics(contract(base_values() if values is None else values)), *PLATFORM_METRICS)


def series_labels(metrics: tuple[Metric, ...]) -> dict[str, frozenset[str]]:
    """Series name -> the labels a query may match on it, for every series the metrics expose."""
    found: dict[str, frozenset[str]] = {}
    for metric in metrics:
        for name, labels in metric.series.items():
            if name in found:
                raise ValueError(f"metric series {name!r} is listed twice")
            found[name] = labels
    return found


#: The labels of the log streams each log shipper writes to Loki (the `log_shipper` setting picks one).
#: Promtail's `kubernetes-pods` job (promtail chart 6.17.1 values.yaml, config.snippets.scrapeConfigs and .common) sets
#: app, instance, component, node_name, namespace, job, pod and container; its cri stage adds stream (stdout/stderr),
#: and Promtail adds filename (https://github.com/grafana/helm-charts/blob/promtail-6.17.1/charts/promtail/values.yaml).
#: Alloy's pipeline (k8s/addons/alloy.yaml) repeats the relabelling rule for rule; it reads through the Kubernetes
#: API, which serves stdout and stderr as one stream from no file, so it has no stream and no filename, and
#: loki.source.kubernetes drops every label starting with "__" (internal/component/loki/source/kubernetes/kubetail/
#: target.go, publicLabels, https://github.com/grafana/alloy/blob/helm-chart/1.11.1/).
_POD_LOG_LABELS = frozenset({"app", "instance", "component", "node_name", "namespace", "job", "pod", "container"})
LOG_SHIPPER_LABELS: Mapping[str, frozenset[str]] = {
    "alloy": _POD_LOG_LABELS,
    "promtail": _POD_LOG_LABELS | {"stream", "filename"},
}
#: What a dashboard or runbook query may select on: the labels every selectable shipper writes.
LOG_STREAM_LABELS = frozenset.intersection(*LOG_SHIPPER_LABELS.values())
