"""Capacity: every pod's requests against the node pool, at minimum replicas and at every HPA's maximum, in total
and node by node as kube-scheduler places them (preflight/placement.py); node loss: the same on one node less.

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

from preflight.placement import Placement, Pod, lose_node, placements, worst_fullest, worst_waiting
from preflight.quantities import cpu_millicores, mebibytes
from preflight.render import RenderedRelease, inline_values
from preflight.report import CheckResult
from preflight.synth import Synthesized
from todo_infra.access import ACCESS_RELEASE
from todo_infra.addons import ADDONS
from todo_infra.contracts import BOOTSTRAP_RELEASE, CLUSTER_STACK, PLATFORM_STACK, PRIORITIES
from todo_infra.node_sizes import NodeSize, node_sizes
from todo_infra.settings import ConfigError

# --- node and system figures, with their sources -------------------------------------------------------------

# Sources and reasoning: docs/architecture.md, "Capacity model". What one node offers pods (allocatable CPU and
# memory) depends on the pool's size: the node-size table's row of it (todo_infra/node_sizes.py, "Node sizes").
#: DOKS system pods on every node (cilium, do-node-agent, cpc-bridge-proxy, csi node plugin): ~0.5 vCPU
#: requested per node (inferred). Their memory requests are not published; 300 MiB is this repo's estimate
#: (check with `kubectl describe node` and adjust).
SYSTEM_PER_NODE_CPU_M = 500.0
SYSTEM_PER_NODE_MEMORY_MIB = 300.0
#: Cluster-wide DOKS system pods: CoreDNS, 2 replicas at the upstream manifest's 100m / 70Mi each.
COREDNS_REPLICAS = 2
COREDNS_CPU_M = 100.0
COREDNS_MEMORY_MIB = 70.0
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
    #: Required pod anti-affinity on kubernetes.io/hostname against its own pods: never two on one node.
    one_per_node: bool = False
    #: Its topologySpreadConstraints on kubernetes.io/hostname (maxSkew; DoNotSchedule or ScheduleAnyway), if any.
    max_skew: int | None = None
    hard_spread: bool = False

    @property
    def priority(self) -> int:
        return PRIORITY_VALUES.get(self.priority_class, 0)

    @property
    def label(self) -> str:
        return f"{self.group}/{self.name}"

    def count(self, nodes: int, *, maximum: bool) -> int:
        return nodes if self.per_node else (self.replicas_max if maximum else self.replicas_min)

    def pods(self, *, maximum: bool) -> list[Pod]:
        """Its pods to place: one DaemonSet pod (placed on every node), or one per replica."""
        pod = Pod(
            self.label,
            self.cpu_m,
            self.memory_mib,
            self.priority,
            one_per_node=self.one_per_node,
            max_skew=self.max_skew,
            hard_spread=self.hard_spread,
            daemonset=self.per_node,
        )
        return [pod] if self.per_node else [pod] * (self.replicas_max if maximum else self.replicas_min)


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
                    one_per_node=pod.one_per_node,
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


def _spread(spec: Mapping[str, Any]) -> tuple[bool, int | None, bool]:
    """A pod's own scheduling constraints on kubernetes.io/hostname: required anti-affinity against its own pods,
    and a topology spread (maxSkew, DoNotSchedule?). Other topology keys do not constrain a single-zone pool."""
    terms = (
        spec.get("affinity", {}).get("podAntiAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
    )
    one_per_node = any(term.get("topologyKey") == HOSTNAME for term in terms)
    spreads = [c for c in spec.get("topologySpreadConstraints", []) if c.get("topologyKey") == HOSTNAME]
    if not spreads:
        return one_per_node, None, False
    hard = [c for c in spreads if c.get("whenUnsatisfiable") == "DoNotSchedule"]
    chosen = min(hard or spreads, key=lambda c: int(c["maxSkew"]))
    return one_per_node, int(chosen["maxSkew"]), bool(hard)


HOSTNAME = "kubernetes.io/hostname"


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
            one_per_node, max_skew, hard_spread = _spread(template["spec"])
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
                    one_per_node=one_per_node,
                    max_skew=max_skew,
                    hard_spread=hard_spread,
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
            "coredns",
            COREDNS_CPU_M,
            COREDNS_MEMORY_MIB,
            COREDNS_REPLICAS,
            COREDNS_REPLICAS,
            priority_class="system-cluster-critical",
        ),
    ]


def node_pool(synth: Synthesized) -> tuple[int, int]:
    pool = synth.one(CLUSTER_STACK, "digitalocean_kubernetes_cluster")["node_pool"]
    return int(pool["min_nodes"]), int(pool["max_nodes"])


def pool_node_size(synth: Synthesized) -> NodeSize:
    """The node-size table's row of the size the synthesized node pool asks for: what capacity, node loss and cost
    count one node as. A size the table does not hold (a cdktf.out synthesized from another version) cannot be
    counted: a RuntimeError, which preflight prints as one line."""
    size = synth.one(CLUSTER_STACK, "digitalocean_kubernetes_cluster")["node_pool"]["size"]
    try:
        return node_sizes().get(size)
    except ConfigError as error:
        raise RuntimeError(f"the synthesized node pool: {error}") from None


def gather_consumers(synth: Synthesized, rendered: Iterable[RenderedRelease]) -> tuple[list[Consumer], list[str]]:
    """Every pod the cluster runs: DOKS system pods, platform add-ons, and both app environments."""
    addons, addon_problems = addon_consumers(synth)
    apps, app_problems = app_consumers(rendered)
    return [*system_consumers(), *addons, *apps], [*addon_problems, *app_problems]


def place_pool(consumers: list[Consumer], nodes: int, *, maximum: bool, node: NodeSize) -> list[Placement]:
    """Every order's placement of the consumers' pods on `nodes` empty nodes of size `node` (preflight/placement.py)."""
    pods = [pod for consumer in consumers for pod in consumer.pods(maximum=maximum)]
    return placements(pods, nodes=nodes, cpu_m=node.allocatable_cpu_m, memory_mib=node.allocatable_memory_mib)


def _node_line(placement: Placement) -> str:
    return ", ".join(
        f"{node.name} {node.memory_used:.0f}Mi ({node.memory_pct:.1f}%) {node.cpu_used:.0f}m ({node.cpu_pct:.1f}%)"
        for node in placement.nodes
    )


def _waiting_line(placement: Placement) -> str:
    counts: dict[str, int] = {}
    for pod in placement.waiting:
        counts[pod.workload] = counts.get(pod.workload, 0) + 1
    sizes = {pod.workload: pod for pod in placement.waiting}
    return ", ".join(
        f"{count} × {name} ({sizes[name].memory_mib:.0f}Mi, {sizes[name].cpu_m:.0f}m)" for name, count in counts.items()
    )


def check_capacity(
    consumers: list[Consumer], model_problems: list[str], *, min_nodes: int, max_nodes: int, node: NodeSize
) -> CheckResult:
    """Requests against the pool of `node`-sized nodes, in total and per node: at minimum scale the fullest node (the
    worst order of arrival tried) keeps 15 % free and every pod is placed; at maximum scale every pod is placed."""
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
    figures: dict[str, Any] = {
        "node_size": node.slug,
        "node_allocatable_cpu_m": node.allocatable_cpu_m,
        "node_allocatable_memory_mib": node.allocatable_memory_mib,
    }
    for label, nodes, maximum, limit in (
        ("min", min_nodes, False, MIN_SCALE_LIMIT),
        ("max", max_nodes, True, MAX_SCALE_LIMIT),
    ):
        cpu = sum(c.cpu_m * c.count(nodes, maximum=maximum) for c in consumers)
        memory = sum(c.memory_mib * c.count(nodes, maximum=maximum) for c in consumers)
        cpu_pct = 100 * cpu / (nodes * node.allocatable_cpu_m)
        memory_pct = 100 * memory / (nodes * node.allocatable_memory_mib)
        results = place_pool(consumers, nodes, maximum=maximum, node=node)
        worst = worst_fullest(results)
        fullest = worst.fullest
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
        rows.append(
            [
                f"FULLEST NODE at {label}",
                f"{fullest.name} ({worst.order})",
                f"{fullest.cpu_used:.0f}m ({fullest.cpu_pct:.1f}%)",
                f"{fullest.memory_used:.0f}Mi ({fullest.memory_pct:.1f}%)",
                f"limit {limit:.0%}",
                f"worst of {len(results)} orders",
            ]
        )
        figures[f"{label}_cpu_used_pct"] = round(cpu_pct, 1)
        figures[f"{label}_memory_used_pct"] = round(memory_pct, 1)
        figures[f"{label}_fullest_node_cpu_pct"] = round(fullest.cpu_pct, 1)
        figures[f"{label}_fullest_node_memory_pct"] = round(fullest.memory_pct, 1)
        figures[f"{label}_headroom_pct"] = round(100 * limit - max(fullest.cpu_pct, fullest.memory_pct), 1)
        for resource, used_pct, key in (("CPU", cpu_pct, "cpu_m"), ("memory", memory_pct, "memory_mib")):
            if used_pct > 100 * limit:
                top = sorted(consumers, key=lambda c: getattr(c, key) * c.count(nodes, maximum=maximum), reverse=True)[
                    :3
                ]
                names = ", ".join(c.label for c in top)
                problems.append(
                    f"{resource} requests at {label} scale use {used_pct:.1f}% of {nodes} × {node.slug} "
                    f"(limit {limit:.0%}); largest consumers: {names}"
                )
        totals = {"CPU": cpu_pct, "memory": memory_pct}
        for resource, node_pct in (("CPU", fullest.cpu_pct), ("memory", fullest.memory_pct)):
            if node_pct > 100 * limit and totals[resource] <= 100 * limit:
                problems.append(
                    f"{resource} requests at {label} scale fill the fullest node to {node_pct:.1f}% "
                    f"(limit {limit:.0%}) when pods arrive {worst.order}: {_node_line(worst)}"
                )
        stuck = [result for result in results if result.waiting]
        if stuck:
            one = worst_waiting(stuck)
            problems.append(
                f"at {label} scale on {nodes} nodes {len(one.waiting)} pods find no node when pods arrive "
                f"{one.order} ({len(stuck)} of {len(results)} orders): {_waiting_line(one)}"
            )
    free_cpu = node.allocatable_cpu_m - SYSTEM_PER_NODE_CPU_M
    free_memory = node.allocatable_memory_mib - SYSTEM_PER_NODE_MEMORY_MIB
    for c in consumers:
        if not c.per_node and (c.cpu_m > free_cpu or c.memory_mib > free_memory):
            problems.append(
                f"{c.group}/{c.name} requests more than one node can offer ({c.cpu_m:.0f}m, {c.memory_mib:.0f}Mi)"
            )
    return CheckResult(
        name="capacity",
        title=f"Capacity (requests vs node pool of {node.slug}, in total and per node)",
        headers=["group", "pods", "cpu each", "memory each", "min", "max"],
        rows=rows,
        problems=problems,
        figures=figures,
    )


#: The pods that may wait for a node when one is lost: staging's. Anything else waiting fails the check, except a
#: pod whose required anti-affinity already has one of its siblings on every remaining node (the Dapr scheduler's
#: third etcd member: two of three keep quorum).
MAY_WAIT = frozenset({"staging"})


def _waits(placement: Placement) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pod in placement.waiting:
        counts[pod.workload] = counts.get(pod.workload, 0) + 1
    return counts


def _forced(consumer: Consumer, waiting: int, nodes: int) -> bool:
    """It waits only because its anti-affinity has a sibling on every remaining node."""
    return consumer.one_per_node and consumer.count(nodes, maximum=False) - waiting >= nodes


def check_node_loss(consumers: list[Consumer], *, min_nodes: int, node: NodeSize) -> CheckResult:
    """N−1: the pool at minimum scale loses a node (a failure, or a drain the autoscaler has not yet replaced).

    Pods are placed per node the way kube-scheduler does (preflight/placement.py): highest priority first, each pod
    on one node that still holds its requests and honours its anti-affinity, DaemonSet pods on every node; free
    memory is never added across nodes. Two ways to get there, each in every order of arrival tried: the pool
    placed from scratch on one node less, and the full pool placed, then each of its nodes lost in turn — the
    others keep their pods, the lost node's are recreated and placed, preempting lower priorities. The check fails
    if in any of them a pod other than staging's waits (except one its own anti-affinity keeps out: a sibling on
    every remaining node), and reports the outcome in which the most pods waited."""
    nodes = min_nodes - 1
    full = place_pool(consumers, min_nodes, maximum=False, node=node)
    results = place_pool(consumers, nodes, maximum=False, node=node) + [
        lose_node(result, lost) for result in full for lost in range(min_nodes)
    ]
    by_label = {c.label: c for c in consumers}

    def disallowed(placement: Placement) -> dict[str, int]:
        return {
            label: count
            for label, count in _waits(placement).items()
            if by_label[label].group not in MAY_WAIT and not _forced(by_label[label], count, nodes)
        }

    refused = [result for result in results if disallowed(result)]
    worst = worst_waiting(refused or results)
    rows, problems = [], []
    for label, count in _waits(worst).items():
        consumer = by_label[label]
        forced = _forced(consumer, count, nodes)
        rows.append(
            [
                consumer.priority_class or "(none)",
                label,
                f"{consumer.memory_mib:.0f}Mi",
                f"{consumer.cpu_m:.0f}m",
                str(count),
                "one per node: every node runs one" if forced else "no node has room",
            ]
        )
    for label, count in disallowed(worst).items():
        problems.append(
            f"losing a node at minimum scale leaves {count} × {label} pending when pods arrive {worst.order} "
            f"(in {len(refused)} of {len(results)} orders; only {', '.join(sorted(MAY_WAIT))} may wait)"
        )
    orders_with_waits = sum(1 for result in results if result.waiting)
    fullest = worst_fullest(results)
    rows.append(
        [
            f"TOTAL on {nodes} nodes",
            f"{len(worst.waiting)} pods wait ({worst.order})",
            f"{worst.waiting_memory_mib:.0f}Mi",
            "",
            f"in {orders_with_waits} of {len(results)} outcomes",
            f"fullest node {fullest.fullest.memory_pct:.1f}% memory, {fullest.fullest.cpu_pct:.1f}% CPU",
        ]
    )
    return CheckResult(
        name="node-loss",
        title=f"Node loss (pods on {nodes} of {min_nodes} × {node.slug}, per node, highest priority first)",
        headers=["priority class", "waiting pods", "memory each", "cpu each", "wait", "why"],
        rows=rows,
        problems=problems,
        figures={
            "nodes": nodes,
            "node_size": node.slug,
            "waiting_pods": len(worst.waiting),
            "waiting_memory_mib": round(worst.waiting_memory_mib),
            "waiting_groups": sorted({by_label[pod.workload].group for pod in worst.waiting}),
            "outcomes_with_waits": orders_with_waits,
            "outcomes": len(results),
            "fullest_node_memory_pct": round(fullest.fullest.memory_pct, 1),
        },
    )
