"""Todo app / Overview: what an operator paged by one of the app's alerts opens first (docs/runbooks/monitoring.md)."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from todo_infra.dashboards.inputs import Inputs
from todo_infra.dashboards.panels import (
    FULL,
    HALF,
    THIRD,
    Query,
    Threshold,
    board,
    graph,
    listing,
    log_lines,
    namespace_variable,
    query_variable,
    row,
)

UID = "todo-app-overview"
TITLE = "Todo app / Overview"
#: Panel ids the alerts link to (chart/values.yaml monitoring.alerts.<alert>.panel).
ALERTS, REQUEST_RATE, ERROR_RATIO, LATENCY = 1, 2, 3, 4
READY, AUTOSCALING, NOT_READY, RESTARTS = 5, 6, 7, 8
CPU, MEMORY = 9, 10
REDIS_BACKUP = 11
FIRST_LOGS = 12


def build(inputs: Inputs) -> Dashboard:
    prom = inputs.prometheus
    metrics = inputs.metrics
    ns = 'namespace="$namespace"'
    services = f'{ns}, service=~"$service"'
    pods = f'{ns}, pod=~"{inputs.pods_of("$service")}"'
    requests = f"{metrics.requests}{{{services}}}"
    errors = f'{metrics.requests}{{{services}, {metrics.status_label}=~"5.."}}'
    latency = f"{metrics.latency}_bucket{{{services}}}"
    restarts = f"kube_pod_container_status_restarts_total{{{pods}}}"
    containers = f'{pods}, container!="", container!="POD"'
    backup = f'{ns}, cronjob="{inputs.backup_cronjob}"'
    built = (
        board(
            UID,
            TITLE,
            "Requests, errors and latency per service, pods, autoscaling, restarts, alerts, the Redis backup and logs.",
        )
        .with_variable(namespace_variable(inputs.namespaces))
        .with_variable(
            query_variable(
                "service",
                "Service",
                prom,
                'label_values(kube_deployment_spec_replicas{namespace="$namespace"}, deployment)',
            )
        )
        .with_row(row(100, "Alerts"))
        .with_panel(
            listing(
                ALERTS,
                "Alerts firing or pending in this environment",
                prom,
                [Query(f"ALERTS{{{ns}}}")],
                description="Prometheus' ALERTS series: every alert of the app's PrometheusRule that is pending or "
                "firing now, with its labels (service, pod, container, severity).",
            )
        )
        .with_row(row(101, "Requests (rate, errors, duration)"))
        .with_panel(
            graph(
                REQUEST_RATE,
                "Request rate",
                prom,
                [Query(f"sum by (service) (rate({requests}[$__rate_interval]))", "{{service}}")],
                unit="reqps",
                width=THIRD,
                description=f"Handled HTTP requests per second ({metrics.requests}, the metrics contract).",
            )
        )
        .with_panel(
            graph(
                ERROR_RATIO,
                "5xx ratio (HighErrorRate, CriticalErrorRate)",
                prom,
                [
                    Query(
                        f"sum by (service) (rate({errors}[5m])) / sum by (service) (rate({requests}[5m]))",
                        "{{service}}",
                    )
                ],
                unit="percentunit",
                width=THIRD,
                thresholds=[
                    Threshold(inputs.threshold("highErrorRate"), "orange"),
                    Threshold(inputs.threshold("criticalErrorRate"), "red"),
                ],
                description="Share of requests answered 5xx over 5 minutes, as the error-rate alerts compute it; "
                "the dashed lines are their thresholds.",
            )
        )
        .with_panel(
            graph(
                LATENCY,
                "Request duration p50 / p95 / p99",
                prom,
                [
                    Query(
                        f"histogram_quantile({q}, sum by (service, le) (rate({latency}[$__rate_interval])))",
                        f"{{{{service}}}} p{round(q * 100)}",
                    )
                    for q in (0.5, 0.95, 0.99)
                ],
                unit="s",
                width=THIRD,
                description=f"From the histogram {metrics.latency} of the metrics contract.",
            )
        )
        .with_row(row(102, "Pods"))
        .with_panel(
            graph(
                READY,
                "Pods ready vs desired",
                prom,
                [
                    Query(
                        f'kube_deployment_status_replicas_ready{{{ns}, deployment=~"$service"}}', "{{deployment}} ready"
                    ),
                    Query(f'kube_deployment_spec_replicas{{{ns}, deployment=~"$service"}}', "{{deployment}} desired"),
                ],
                unit="short",
                description="Ready replicas against the count the Deployment (or its HPA) asks for.",
            )
        )
        .with_panel(
            graph(
                AUTOSCALING,
                "HPA replicas: current, min, max",
                prom,
                [
                    Query(
                        f'kube_horizontalpodautoscaler_{name}{{{ns}, horizontalpodautoscaler=~"$service"}}',
                        f"{{{{horizontalpodautoscaler}}}} {label}",
                    )
                    for name, label in (
                        ("status_current_replicas", "current"),
                        ("spec_min_replicas", "min"),
                        ("spec_max_replicas", "max"),
                    )
                ],
                unit="short",
                description="Production only: staging runs one replica per service without HPAs (no data there).",
            )
        )
        .with_panel(
            graph(
                NOT_READY,
                "Pods not ready (PodNotReady)",
                prom,
                [
                    Query(
                        f'(min by (pod) (kube_pod_status_ready{{{pods}, condition="true"}}) and on (pod) '
                        f'(max by (pod) (kube_pod_status_phase{{{pods}, phase=~"Pending|Running|Unknown"}}) == 1) '
                        f'or (max by (pod) (kube_pod_status_phase{{{pods}, phase="Pending"}}) == 1) * 0) == 0',
                        "{{pod}}",
                    )
                ],
                unit="short",
                description="Pods meant to run that are not ready now (Ready false while Pending, Running or Unknown, "
                "or Pending without a Ready condition yet); finished pods such as the backup Jobs' are not shown: "
                "PodNotReady fires for one that stays here 5 minutes. Empty is healthy.",
            )
        )
        .with_panel(
            graph(
                RESTARTS,
                "Container restarts in the last hour (PodCrashLooping)",
                prom,
                [
                    Query(
                        f"max_over_time({restarts}[1h]) - min_over_time({restarts}[1h])",
                        "{{pod}} {{container}}",
                    )
                ],
                unit="short",
                thresholds=[Threshold(inputs.threshold("podCrashLooping"))],
                description="Restarts counted as PodCrashLooping counts them (highest minus lowest count in the "
                "hour); the dashed line is its threshold.",
            )
        )
        .with_row(row(103, "CPU and memory against limits"))
        .with_panel(
            graph(
                CPU,
                "CPU used / limit (HighCPU)",
                prom,
                [
                    Query(
                        "sum by (pod, container) (rate(container_cpu_usage_seconds_total"
                        f"{{{containers}}}[5m])) / sum by (pod, container) "
                        f'(kube_pod_container_resource_limits{{{pods}, resource="cpu"}})',
                        "{{pod}} {{container}}",
                    )
                ],
                unit="percentunit",
                thresholds=[Threshold(inputs.threshold("highCpu"))],
                description="Each container's CPU use over its limit, daprd and Redis included; above the dashed "
                "line for 10 minutes HighCPU fires.",
            )
        )
        .with_panel(
            graph(
                MEMORY,
                "Memory working set / limit (HighMemory)",
                prom,
                [
                    Query(
                        f"sum by (pod, container) (container_memory_working_set_bytes{{{containers}}}) / sum by "
                        f'(pod, container) (kube_pod_container_resource_limits{{{pods}, resource="memory"}})',
                        "{{pod}} {{container}}",
                    )
                ],
                unit="percentunit",
                thresholds=[Threshold(inputs.threshold("highMemory"))],
                description="Each container's working set over its memory limit; the next step past 100 % is an "
                "OOM kill.",
            )
        )
        .with_row(row(105, "Backups"))
        .with_panel(
            graph(
                REDIS_BACKUP,
                "Redis backup: hours since last success (RedisBackupStale)",
                prom,
                [
                    Query(
                        f"(time() - (max by (cronjob) (kube_cronjob_status_last_successful_time{{{backup}}}) "
                        f"or max by (cronjob) (kube_cronjob_created{{{backup}}}))) / 3600",
                        "{{cronjob}}",
                    )
                ],
                unit="h",
                width=FULL,
                thresholds=[Threshold(inputs.threshold("redisBackupStale"))],
                description="Hours since the daily backup CronJob last succeeded, or since it was created while it "
                "has never succeeded, as RedisBackupStale computes it; above the dashed line for 5 minutes the alert "
                "fires. A healthy line climbs to about 24 and drops to 0 at each backup.",
            )
        )
        .with_row(row(104, "Logs"))
    )
    for offset, service in enumerate(inputs.services):
        width = FULL if len(inputs.services) % 2 and offset == len(inputs.services) - 1 else HALF
        built = built.with_panel(
            log_lines(
                FIRST_LOGS + offset,
                f"Logs: {service}",
                inputs.loki,
                f'{{namespace="$namespace", container="{service}"}}',
                width=width,
            )
        )
    return built.build()
