"""Capacity: every pod's requests against the node pool, at minimum replicas and at every HPA's maximum.

Add-on charts cannot be rendered offline (their repositories are out of reach), so their pods are modelled in
each add-on's definition (todo_infra/addons.py) from the chart's values.yaml: which values key holds each
container's resources, how many replicas, whether it is a DaemonSet. The requests themselves are read from all
the values documents the platform stack deploys; a key missing from them, or a release without a pod model, fails
the check, so the model cannot silently drift from what is deployed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from preflight.quantities import cpu_millicores, mebibytes
from preflight.render import RenderedRelease, inline_values
from preflight.report import CheckResult
from preflight.synth import Synthesized
from todo_infra.access import ACCESS_RELEASE
from todo_infra.addons import ADDONS
from todo_infra.contracts import BOOTSTRAP_RELEASE, CLUSTER_STACK, PLATFORM_STACK, PRIORITIES

# --- node and system figures, with their sources -------------------------------------------------------------

# Sources and reasoning: docs/architecture.md, "Capacity model".
#: Allocatable memory of an s-2vcpu-4gb DOKS node: 2.5 GiB (DigitalOcean, "Kubernetes Limits", allocatable memory:
#: https://docs.digitalocean.com/products/kubernetes/details/limits/).
NODE_MEMORY_MIB = 2560.0
#: Allocatable CPU is not published; ~1.9 vCPU inferred (2 vCPU less the kubelet's reservation).
NODE_CPU_M = 1900.0
#: DOKS system pods on every node (cilium, do-node-agent, cpc-bridge-proxy, csi node plugin): ~0.5 vCPU
#: requested per node (inferred). Their memory requests are not published; 300 MiB is this repo's estimate
#: (check with `kubectl describe node` and adjust).
SYSTEM_PER_NODE_CPU_M = 500.0
SYSTEM_PER_NODE_MEMORY_MIB = 300.0
#: Cluster-wide DOKS system pods: CoreDNS, 2 replicas at the upstream manifest's 100m / 70Mi.
SYSTEM_CLUSTER_CPU_M = 2 * 100.0
SYSTEM_CLUSTER_MEMORY_MIB = 2 * 70.0
#: Kubernetes' built-in PriorityClasses (kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption), and
#: the ones the platform creates. A pod naming none has priority 0.
PRIORITY_VALUES = {
    "system-node-critical": 2_000_001_000,
    "system-cluster-critical": 2_000_000_000,
    **{priority.name: priority.value for priority in PRIORITIES},
}
#: At minimum scale the requests must leave 15 % of the pool free; at maximum scale they must fit.
MIN_SCALE_LIMIT = 0.85
MAX_SCALE_LIMIT = 1.0


@dataclass
class Consumer:
    """A group of identical pods and what one of them requests."""

    group: str
    name: str
    cpu_m: float
    memory_mib: float
    replicas_min: int
    replicas_max: int
    per_node: bool = False
    volumes_gib: list[float] = field(default_factory=list)
    #: The PriorityClass its pods name ("" for none).
    priority_class: str = ""

    @property
    def priority(self) -> int:
        return PRIORITY_VALUES.get(self.priority_class, 0)

    def count(self, nodes: int, *, maximum: bool) -> int:
        return nodes if self.per_node else (self.replicas_max if maximum else self.replicas_min)


def _dig(values: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted values path; a numeric part indexes a list (`...containers.0.resources`)."""
    node: Any = values
    for key in path.split("."):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, Mapping) and key in node:
            node = node[key]
        else:
            raise KeyError(path)
    return node


def addon_consumers(synth: Synthesized) -> tuple[list[Consumer], list[str]]:
    """The steady-state pods of every add-on the platform releases, sized by all of each release's values
    documents. A release with no add-on definition or no pod model is a problem: it could not be counted."""
    definitions = {addon.release: addon for addon in ADDONS}
    consumers, problems = [], []
    for release in synth.resources(PLATFORM_STACK, "helm_release").values():
        addon = definitions.get(release["name"])
        if release["name"] in (BOOTSTRAP_RELEASE, ACCESS_RELEASE):
            continue  # custom resources, identities and a ConfigMap: no pods
        if addon is None or not addon.pods:
            problems.append(
                f"platform release {release['name']} has no pod model in todo_infra/addons.py: "
                "capacity and cost cannot count it"
            )
            continue
        values = inline_values(release)
        for pod in addon.pods:
            try:
                requests = [_dig(values, f"{path}.requests") for path in pod.containers]
                replicas = pod.replicas if isinstance(pod.replicas, int) else int(_dig(values, pod.replicas))
                volumes = [mebibytes(_dig(values, path)) / 1024 for path in pod.volumes]
            except KeyError as missing:
                problems.append(f"{addon.release}/{pod.name}: values set no {missing.args[0]}")
                continue
            if pod.transient:
                continue
            consumers.append(
                Consumer(
                    group=f"platform/{addon.release}",
                    name=pod.name,
                    cpu_m=sum(cpu_millicores(r["cpu"]) for r in requests),
                    memory_mib=sum(mebibytes(r["memory"]) for r in requests),
                    replicas_min=replicas,
                    replicas_max=replicas,
                    per_node=pod.daemonset,
                    volumes_gib=volumes * replicas,
                    priority_class=addon.priority_class,
                )
            )
    return consumers, problems


def _pod_requests(template: Mapping[str, Any]) -> tuple[float, float]:
    spec = template["spec"]
    cpu = sum(cpu_millicores(c["resources"]["requests"]["cpu"]) for c in spec["containers"])
    memory = sum(mebibytes(c["resources"]["requests"]["memory"]) for c in spec["containers"])
    annotations = template.get("metadata", {}).get("annotations", {})
    if annotations.get("dapr.io/enabled") == "true":  # the injected sidecar, sized by annotation
        cpu += cpu_millicores(annotations["dapr.io/sidecar-cpu-request"])
        memory += mebibytes(annotations["dapr.io/sidecar-memory-request"])
    return cpu, memory


def app_consumers(rendered: Iterable[RenderedRelease]) -> tuple[list[Consumer], list[str]]:
    consumers, problems = [], []
    for release in rendered:
        docs = release.manifests
        hpas = {h["spec"]["scaleTargetRef"]["name"]: h["spec"] for h in docs if h["kind"] == "HorizontalPodAutoscaler"}
        claims = {
            c["metadata"]["name"]: mebibytes(c["spec"]["resources"]["requests"]["storage"]) / 1024
            for c in docs
            if c["kind"] == "PersistentVolumeClaim"
        }
        mounted: set[str] = set()
        # Deployments first: a claim a long-running pod mounts is counted with that pod. CronJob pods run on a
        # schedule, not in the steady state (0 replicas here); their requests are shown and their own volumes counted.
        workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
        workloads += [d for d in docs if d["kind"] == "CronJob"]
        for workload in workloads:
            name = workload["metadata"]["name"]
            scheduled = workload["kind"] == "CronJob"
            template = (
                workload["spec"]["jobTemplate"]["spec"]["template"] if scheduled else workload["spec"]["template"]
            )
            try:
                cpu, memory = _pod_requests(template)
            except KeyError as missing:
                problems.append(f"{release.namespace}/{name}: a container has no {missing.args[0]} request")
                continue
            hpa = hpas.get(name)
            low = 0 if scheduled else (hpa["minReplicas"] if hpa else workload["spec"].get("replicas", 1))
            high = hpa["maxReplicas"] if hpa else low
            mounts = [
                v["persistentVolumeClaim"]["claimName"]
                for v in template["spec"].get("volumes", [])
                if "persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] in claims
            ]
            volumes = [claims[claim] for claim in mounts if claim not in mounted]
            mounted.update(mounts)
            consumers.append(
                Consumer(
                    release.namespace,
                    f"{name} (scheduled)" if scheduled else name,
                    cpu,
                    memory,
                    low,
                    high,
                    volumes_gib=volumes,
                    priority_class=template["spec"].get("priorityClassName", ""),
                )
            )
        problems += [
            f"{release.namespace}/{claim}: a PersistentVolumeClaim no pod mounts (cost cannot place it)"
            for claim in sorted(set(claims) - mounted)
        ]
    return consumers, problems


def system_consumers() -> list[Consumer]:
    return [
        Consumer(
            "doks-system",
            "per-node agents",
            SYSTEM_PER_NODE_CPU_M,
            SYSTEM_PER_NODE_MEMORY_MIB,
            0,
            0,
            per_node=True,
            priority_class="system-node-critical",
        ),
        Consumer(
            "doks-system",
            "coredns (2)",
            SYSTEM_CLUSTER_CPU_M,
            SYSTEM_CLUSTER_MEMORY_MIB,
            1,
            1,
            priority_class="system-cluster-critical",
        ),
    ]


def node_pool(synth: Synthesized) -> tuple[int, int]:
    pool = synth.one(CLUSTER_STACK, "digitalocean_kubernetes_cluster")["node_pool"]
    return int(pool["min_nodes"]), int(pool["max_nodes"])


def gather_consumers(synth: Synthesized, rendered: Iterable[RenderedRelease]) -> tuple[list[Consumer], list[str]]:
    """Every pod the cluster runs: DOKS system pods, platform add-ons, and both app environments."""
    addons, addon_problems = addon_consumers(synth)
    apps, app_problems = app_consumers(rendered)
    return [*system_consumers(), *addons, *apps], [*addon_problems, *app_problems]


def check_capacity(
    consumers: list[Consumer], model_problems: list[str], *, min_nodes: int, max_nodes: int
) -> CheckResult:
    rows: list[list[str]] = []
    for c in consumers:
        rows.append(
            [
                c.group,
                c.name,
                f"{c.cpu_m:.0f}m",
                f"{c.memory_mib:.0f}Mi",
                "per node" if c.per_node else str(c.replicas_min),
                "per node" if c.per_node else str(c.replicas_max),
            ]
        )
    problems = list(model_problems)
    figures: dict[str, Any] = {}
    for label, nodes, maximum, limit in (
        ("min", min_nodes, False, MIN_SCALE_LIMIT),
        ("max", max_nodes, True, MAX_SCALE_LIMIT),
    ):
        cpu = sum(c.cpu_m * c.count(nodes, maximum=maximum) for c in consumers)
        memory = sum(c.memory_mib * c.count(nodes, maximum=maximum) for c in consumers)
        cpu_pct, memory_pct = 100 * cpu / (nodes * NODE_CPU_M), 100 * memory / (nodes * NODE_MEMORY_MIB)
        rows.append(
            [
                f"TOTAL at {label}",
                f"{nodes} nodes",
                f"{cpu:.0f}m ({cpu_pct:.1f}%)",
                f"{memory:.0f}Mi ({memory_pct:.1f}%)",
                f"limit {limit:.0%}",
                "",
            ]
        )
        figures[f"{label}_cpu_used_pct"] = round(cpu_pct, 1)
        figures[f"{label}_memory_used_pct"] = round(memory_pct, 1)
        figures[f"{label}_headroom_pct"] = round(100 * limit - max(cpu_pct, memory_pct), 1)
        for resource, used_pct, key in (("CPU", cpu_pct, "cpu_m"), ("memory", memory_pct, "memory_mib")):
            if used_pct > 100 * limit:
                top = sorted(consumers, key=lambda c: getattr(c, key) * c.count(nodes, maximum=maximum), reverse=True)[
                    :3
                ]
                names = ", ".join(f"{c.group}/{c.name}" for c in top)
                problems.append(
                    f"{resource} requests at {label} scale use {used_pct:.1f}% of {nodes} × s-2vcpu-4gb "
                    f"(limit {limit:.0%}); largest consumers: {names}"
                )
    free_cpu = NODE_CPU_M - SYSTEM_PER_NODE_CPU_M
    free_memory = NODE_MEMORY_MIB - SYSTEM_PER_NODE_MEMORY_MIB
    for c in consumers:
        if not c.per_node and (c.cpu_m > free_cpu or c.memory_mib > free_memory):
            problems.append(
                f"{c.group}/{c.name} requests more than one node can offer ({c.cpu_m:.0f}m, {c.memory_mib:.0f}Mi)"
            )
    return CheckResult(
        name="capacity",
        title="Capacity (requests vs node pool)",
        headers=["group", "pods", "cpu each", "memory each", "min", "max"],
        rows=rows,
        problems=problems,
        figures=figures,
    )


#: The pods that may wait for a node when one is lost: staging's. Anything else waiting fails the check.
MAY_WAIT = frozenset({"staging"})


def check_node_loss(consumers: list[Consumer], *, min_nodes: int) -> CheckResult:
    """N−1: the pool at minimum scale loses a node (a failure, or a drain the autoscaler has not yet replaced).

    The remaining nodes' allocatable is filled pod by pod in the scheduler's order — highest priority first — and
    a pod that no longer fits waits until the autoscaler adds a node (minutes). Requests are summed over the
    nodes, not packed per node, so the answer is a lower bound on what waits. Per-node pods run on every remaining
    node."""
    nodes = min_nodes - 1
    cpu_left, memory_left = nodes * NODE_CPU_M, nodes * NODE_MEMORY_MIB
    placed: dict[int, list[int]] = {}  # consumer index -> [running, waiting]
    order = sorted(range(len(consumers)), key=lambda i: (-consumers[i].priority, not consumers[i].per_node))
    for index in order:
        consumer = consumers[index]
        running = waiting = 0
        for _ in range(consumer.count(nodes, maximum=False)):
            if consumer.per_node or (consumer.cpu_m <= cpu_left and consumer.memory_mib <= memory_left):
                cpu_left -= consumer.cpu_m
                memory_left -= consumer.memory_mib
                running += 1
            else:
                waiting += 1
        placed[index] = [running, waiting]
    rows, problems = [], []
    for index in order:
        consumer = consumers[index]
        running, waiting = placed[index]
        if running + waiting == 0:
            continue
        rows.append(
            [
                consumer.priority_class or "(none)",
                f"{consumer.group}/{consumer.name}",
                f"{consumer.memory_mib:.0f}Mi",
                str(running),
                str(waiting) if waiting else "",
            ]
        )
        if waiting and consumer.group not in MAY_WAIT:
            problems.append(
                f"losing a node at minimum scale leaves {waiting} × {consumer.group}/{consumer.name} pending "
                f"(only {', '.join(sorted(MAY_WAIT))} may wait)"
            )
    waiting_pods = [(consumers[i], placed[i][1]) for i in order if placed[i][1]]
    waiting_memory = sum(c.memory_mib * n for c, n in waiting_pods)
    rows.append(
        [
            f"TOTAL on {nodes} nodes",
            f"{sum(n for _, n in waiting_pods)} pods wait",
            f"{waiting_memory:.0f}Mi waits",
            f"{100 * (1 - memory_left / (nodes * NODE_MEMORY_MIB)):.1f}% memory used",
            "",
        ]
    )
    return CheckResult(
        name="node-loss",
        title=f"Node loss (requests on {nodes} of {min_nodes} nodes, highest priority first)",
        headers=["priority class", "pods", "memory each", "run", "wait"],
        rows=rows,
        problems=problems,
        figures={
            "nodes": nodes,
            "waiting_pods": sum(n for _, n in waiting_pods),
            "waiting_memory_mib": round(waiting_memory),
            "waiting_groups": sorted({c.group for c, _ in waiting_pods}),
        },
    )
