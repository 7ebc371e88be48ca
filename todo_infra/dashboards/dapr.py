"""Todo app / Dapr: the sidecars, pub/sub per topic, the state store, from daprd's own metrics (PodMonitor
todo-app-daprd) and the cluster's view of the daprd containers."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from todo_infra.dashboards.inputs import Inputs
from todo_infra.dashboards.panels import (
    FULL,
    Query,
    board,
    graph,
    log_lines,
    namespace_variable,
    query_variable,
    row,
)

UID = "todo-app-dapr"
TITLE = "Todo app / Dapr"
#: Panel ids the alerts link to (chart/values.yaml monitoring.alerts.<alert>.panel).
SCRAPED, READY, MISSING, INIT_FAILURES = 1, 2, 3, 4
PUBLISHED, PUBLISH_FAILURES, DELIVERED, DELIVERY_FAILURES = 5, 6, 7, 8
STATE_LATENCY, STATE_ERRORS = 9, 10
CPU, MEMORY = 11, 12
LOGS = 13


def build(inputs: Inputs) -> Dashboard:
    prom = inputs.prometheus
    ns = 'namespace="$namespace"'
    apps = f'{ns}, app_id=~"$app_id"'
    sidecars = f'{ns}, container="daprd", pod=~"{inputs.pods_of("$app_id")}"'
    egress = f"dapr_component_pubsub_egress_count{{{apps}"
    ingress = f"dapr_component_pubsub_ingress_count{{{apps}"
    return (
        board(UID, TITLE, "Dapr sidecars: up and ready, pub/sub per topic, state store, CPU and memory, logs.")
        .with_variable(namespace_variable(inputs.namespaces))
        .with_variable(
            query_variable(
                "app_id",
                "Dapr app-id",
                prom,
                'label_values(dapr_runtime_component_loaded{namespace="$namespace"}, app_id)',
            )
        )
        .with_row(row(100, "Sidecars"))
        .with_panel(
            graph(
                SCRAPED,
                "Sidecars scraped (up)",
                prom,
                [Query(f'up{{{ns}, container="daprd", endpoint="dapr-metrics"}}', "{{pod}}")],
                unit="short",
                description="1 when Prometheus reached the sidecar's metrics port (PodMonitor todo-app-daprd), 0 "
                "when it did not.",
            )
        )
        .with_panel(
            graph(
                READY,
                "Sidecars ready",
                prom,
                [Query(f'kube_pod_container_status_ready{{{ns}, container="daprd"}}', "{{pod}}")],
                unit="short",
                description="The daprd container's readiness (kube-state-metrics).",
            )
        )
        .with_panel(
            graph(
                MISSING,
                "Pods without their sidecar (DaprSidecarMissing)",
                prom,
                [
                    Query(
                        f'(kube_pod_annotations{{{ns}, annotation_dapr_io_enabled="true"}} and on (namespace, pod) '
                        f"kube_pod_container_info{{{ns}}}) unless on (namespace, pod) "
                        f'kube_pod_container_info{{{ns}, container="daprd"}}',
                        "{{pod}}",
                    )
                ],
                unit="short",
                description="Pods annotated dapr.io/enabled that run without a daprd container, as the alert finds "
                "them. Empty is healthy.",
            )
        )
        .with_panel(
            graph(
                INIT_FAILURES,
                "Component init failures (DaprComponentInitFailing)",
                prom,
                [
                    Query(
                        "sum by (app_id, componentName) "
                        f"(increase(dapr_runtime_component_init_fail_total{{{ns}}}[2m]))",
                        "{{app_id}} {{componentName}}",
                    )
                ],
                unit="short",
                description="Failed initialisations of a component per sidecar in the last 2 minutes (statestore: "
                "Redis, pubsub: the brokers; daprd retries every 60 s); above 0 without a break for 5 minutes the "
                "alert fires.",
            )
        )
        .with_row(row(101, "Pub/sub per topic"))
        .with_panel(
            graph(
                PUBLISHED,
                "Published",
                prom,
                [Query(f"sum by (app_id, topic) (rate({egress}}}[$__rate_interval]))", "{{app_id}} → {{topic}}")],
                unit="ops",
                description="Messages the sidecars published to the pub/sub component, per second.",
            )
        )
        .with_panel(
            graph(
                PUBLISH_FAILURES,
                "Publish failures",
                prom,
                [
                    Query(
                        f'sum by (app_id, topic) (rate({egress}, success="false"}}[$__rate_interval]))',
                        "{{app_id}} → {{topic}}",
                    )
                ],
                unit="ops",
                description="Publishes the broker refused or that timed out, per second.",
            )
        )
        .with_panel(
            graph(
                DELIVERED,
                "Delivered to the app",
                prom,
                [Query(f"sum by (app_id, topic) (rate({ingress}}}[$__rate_interval]))", "{{topic}} → {{app_id}}")],
                unit="ops",
                description="Messages the sidecars delivered to their app, per second.",
            )
        )
        .with_panel(
            graph(
                DELIVERY_FAILURES,
                "Delivery failures (retry, drop)",
                prom,
                [
                    Query(
                        "sum by (app_id, topic, process_status) "
                        f'(rate({ingress}, process_status!="success"}}[$__rate_interval]))',
                        "{{topic}} → {{app_id}} {{process_status}}",
                    )
                ],
                unit="ops",
                description="Deliveries the app did not acknowledge: retried or dropped, per second.",
            )
        )
        .with_row(row(102, "State store"))
        .with_panel(
            graph(
                STATE_LATENCY,
                "State operation latency p95",
                prom,
                [
                    Query(
                        "histogram_quantile(0.95, sum by (app_id, operation, le) "
                        f"(rate(dapr_component_state_latencies_bucket{{{apps}}}[$__rate_interval])))",
                        "{{app_id}} {{operation}}",
                    )
                ],
                unit="ms",
                description="How long the state store (Redis) took to answer, per operation (daprd measures in "
                "milliseconds).",
            )
        )
        .with_panel(
            graph(
                STATE_ERRORS,
                "State operation errors",
                prom,
                [
                    Query(
                        "sum by (app_id, operation) "
                        f'(rate(dapr_component_state_count{{{apps}, success="false"}}[$__rate_interval]))',
                        "{{app_id}} {{operation}}",
                    )
                ],
                unit="ops",
                description="Failed state operations per second.",
            )
        )
        .with_row(row(103, "Sidecar CPU and memory"))
        .with_panel(
            graph(
                CPU,
                "Sidecar CPU",
                prom,
                [
                    Query(
                        f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{sidecars}}}[$__rate_interval]))",
                        "{{pod}}",
                    ),
                    Query(f'max(kube_pod_container_resource_limits{{{sidecars}, resource="cpu"}})', "limit"),
                ],
                unit="cores",
                description="CPU the daprd containers use, and their limit (dapr.sidecar.cpuLimit).",
            )
        )
        .with_panel(
            graph(
                MEMORY,
                "Sidecar memory working set",
                prom,
                [
                    Query(f"sum by (pod) (container_memory_working_set_bytes{{{sidecars}}})", "{{pod}}"),
                    Query(f'max(kube_pod_container_resource_limits{{{sidecars}, resource="memory"}})', "limit"),
                ],
                unit="bytes",
                description="Memory the daprd containers hold, and their limit (dapr.sidecar.memoryLimit).",
            )
        )
        .with_row(row(104, "Logs"))
        .with_panel(
            log_lines(LOGS, "Logs: daprd", inputs.loki, '{namespace="$namespace", container="daprd"}', width=FULL)
        )
        .build()
    )
