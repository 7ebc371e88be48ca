"""Todo app / Capacity: the live view of what preflight's capacity check predicts (docs/architecture.md,
"Capacity model"): requests against allocatable per node and for the cluster, volumes, nodes against the autoscaler's
bounds."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from todo_infra.dashboards.inputs import REQUESTS_LIMIT, Inputs
from todo_infra.dashboards.panels import FULL, THIRD, Query, Threshold, board, graph, listing, row

UID = "todo-app-capacity"
TITLE = "Todo app / Capacity"
NODES, CLUSTER_MEMORY, CLUSTER_CPU = 1, 2, 3
NODE_MEMORY, NODE_CPU, NODE_MEMORY_USED = 4, 5, 6
VOLUME_USAGE, VOLUMES = 7, 8

#: Requests of the pods that hold them: scheduled or waiting to be (kube-state-metrics keeps finished pods too).
_LIVE_PODS = '(kube_pod_status_phase{phase=~"Pending|Running"} == 1)'


def _sum(by: str) -> str:
    return f"sum by ({by})" if by else "sum"


def _requests(resource: str, by: str) -> str:
    return (
        f'{_sum(by)} (kube_pod_container_resource_requests{{resource="{resource}"}} '
        f"* on (namespace, pod) group_left () {_LIVE_PODS})"
    )


def _allocatable(resource: str, by: str) -> str:
    return f'{_sum(by)} (kube_node_status_allocatable{{resource="{resource}"}})'


def build(inputs: Inputs) -> Dashboard:
    prom = inputs.prometheus
    limit = [Threshold(REQUESTS_LIMIT)]
    per_node = "the requests of every pod placed on a node over what the node can allocate"
    return (
        board(UID, TITLE, "Requests against allocatable CPU and memory, volumes, nodes against the autoscaler.")
        .with_row(row(100, "Cluster"))
        .with_panel(
            graph(
                NODES,
                f"Nodes (autoscaler {inputs.node_min}–{inputs.node_max})",
                prom,
                [
                    Query("count(kube_node_info)", "nodes"),
                    Query(f"vector({inputs.node_min})", "autoscaler minimum"),
                    Query(f"vector({inputs.node_max})", "autoscaler maximum"),
                ],
                unit="short",
                width=THIRD,
                description="Nodes in the cluster against the node pool's autoscaling bounds (node_min, node_max).",
            )
        )
        .with_panel(
            graph(
                CLUSTER_MEMORY,
                "Memory requests / allocatable, cluster",
                prom,
                [Query(f"{_requests('memory', '')} / {_allocatable('memory', '')}", "memory")],
                unit="percentunit",
                width=THIRD,
                thresholds=limit,
                description="What preflight's capacity check predicts at the current node count: it refuses a "
                "change whose requests pass the dashed line at minimum scale.",
            )
        )
        .with_panel(
            graph(
                CLUSTER_CPU,
                "CPU requests / allocatable, cluster",
                prom,
                [Query(f"{_requests('cpu', '')} / {_allocatable('cpu', '')}", "cpu")],
                unit="percentunit",
                width=THIRD,
                thresholds=limit,
                description="As the memory panel, for CPU.",
            )
        )
        .with_row(row(101, "Per node"))
        .with_panel(
            graph(
                NODE_MEMORY,
                "Memory requests / allocatable per node",
                prom,
                [Query(f"{_requests('memory', 'node')} / {_allocatable('memory', 'node')}", "{{node}}")],
                unit="percentunit",
                width=THIRD,
                thresholds=limit,
                description=f"Memory: {per_node}. A node near 100 % takes no more pods.",
            )
        )
        .with_panel(
            graph(
                NODE_CPU,
                "CPU requests / allocatable per node",
                prom,
                [Query(f"{_requests('cpu', 'node')} / {_allocatable('cpu', 'node')}", "{{node}}")],
                unit="percentunit",
                width=THIRD,
                thresholds=limit,
                description=f"CPU: {per_node}.",
            )
        )
        .with_panel(
            graph(
                NODE_MEMORY_USED,
                "Memory in use per node",
                prom,
                [
                    Query(
                        "(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) "
                        "* on (instance) group_left (nodename) node_uname_info",
                        "{{nodename}}",
                    )
                ],
                unit="percentunit",
                width=THIRD,
                description="What the node's memory really holds (node-exporter), requests aside.",
            )
        )
        .with_row(row(102, "Volumes"))
        .with_panel(
            graph(
                VOLUME_USAGE,
                "Volume usage (Redis, Prometheus, Loki, Grafana, Alertmanager, Dapr scheduler)",
                prom,
                [
                    Query(
                        "kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes",
                        "{{namespace}}/{{persistentvolumeclaim}}",
                    )
                ],
                unit="percentunit",
                width=FULL,
                thresholds=[Threshold(0.8, "orange"), Threshold(0.9)],
                description="Used over capacity of every mounted PersistentVolumeClaim (the kubelet's volume "
                "statistics). Prometheus also deletes old data past its retentionSize.",
            )
        )
        .with_panel(
            listing(
                VOLUMES,
                "Volumes now",
                prom,
                [
                    Query("kubelet_volume_stats_used_bytes", "used"),
                    Query("kubelet_volume_stats_capacity_bytes", "capacity"),
                ],
                description="Used and total bytes of each mounted PersistentVolumeClaim.",
            )
        )
        .build()
    )
