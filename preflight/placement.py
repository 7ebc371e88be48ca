"""Per-node placement of every pod, the way kube-scheduler places them (docs/architecture.md, "Capacity model").

kube-scheduler takes pending pods highest priority first (the PrioritySort queue), puts each on exactly one node
that can still hold its requests and satisfies its required anti-affinity / DoNotSchedule spread (the Filter
plugins), and among those picks the highest score: NodeResourcesFit's LeastAllocated plus
NodeResourcesBalancedAllocation, plus a soft topology spread (ScheduleAnyway) weighted 2 — the default profile's
weights (https://kubernetes.io/docs/reference/scheduling/config/#scheduling-plugins). A pod no node can take waits
(Pending). DaemonSet pods run on every node whatever their size. Free capacity is never added across nodes.

Within one priority the scheduler's order is arrival order, which nobody controls (a fresh install, a drain and a
lost node each recreate pods in a different order), and the fullest node depends on it. So the model places the
pods in several orders — largest first, smallest first, as listed, and seeded shuffles within each priority band —
and answers with the worst of them: the fullest node it ever saw, and the largest set of pods that ever waited.
Ties, image locality and the scheduler's exact spread score are not modelled, so one order can land differently
than in kube-scheduler; over many orders the worst answer was never better than a real kube-scheduler v1.35.6's
runs on fake nodes (docs/architecture.md, "Capacity model"). It may be more pessimistic; it is not a proof.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

#: Seeded shuffles tried, after largest-first, smallest-first and as listed (deterministic: fixed seeds). With 1000,
#: the default configuration's worst fullest node before this model existed was 88.2 %, what a real kube-scheduler
#: reached; 200 found only 88.0 %.
SHUFFLES = 1000
#: Default-profile score weights (kube-scheduler v1.35, pkg/scheduler/apis/config/v1/default_plugins.go).
WEIGHT_FIT = 1
WEIGHT_BALANCED = 1
WEIGHT_SPREAD = 2


@dataclass(frozen=True)
class Pod:
    """One pod to place. `workload` names its siblings (the pods its spread and anti-affinity count)."""

    workload: str
    cpu_m: float
    memory_mib: float
    priority: int = 0
    #: Required pod anti-affinity on kubernetes.io/hostname against its siblings: never two on one node.
    one_per_node: bool = False
    #: topologySpreadConstraints on kubernetes.io/hostname: maxSkew, and whether it is DoNotSchedule (a filter)
    #: or ScheduleAnyway (a score). None: no constraint.
    max_skew: int | None = None
    hard_spread: bool = False
    daemonset: bool = False


@dataclass
class Node:
    name: str
    cpu_m: float
    memory_mib: float
    cpu_used: float = 0.0
    memory_used: float = 0.0
    pods: list[Pod] = field(default_factory=list)
    siblings: Counter[str] = field(default_factory=Counter)

    def add(self, pod: Pod) -> None:
        self.pods.append(pod)
        self.cpu_used += pod.cpu_m
        self.memory_used += pod.memory_mib
        self.siblings[pod.workload] += 1

    def remove(self, pod: Pod) -> None:
        self.pods.remove(pod)
        self.cpu_used -= pod.cpu_m
        self.memory_used -= pod.memory_mib
        self.siblings[pod.workload] -= 1

    @property
    def memory_pct(self) -> float:
        return 100 * self.memory_used / self.memory_mib

    @property
    def cpu_pct(self) -> float:
        return 100 * self.cpu_used / self.cpu_m


@dataclass
class Placement:
    """Where one order of arrival put every pod."""

    order: str
    nodes: list[Node]
    waiting: list[Pod]

    @property
    def fullest(self) -> Node:
        """The node with the most memory requested (CPU breaks a tie)."""
        return max(self.nodes, key=lambda node: (node.memory_pct, node.cpu_pct))

    @property
    def waiting_memory_mib(self) -> float:
        return sum(pod.memory_mib for pod in self.waiting)


def _fits(node: Node, pod: Pod) -> bool:
    return node.cpu_used + pod.cpu_m <= node.cpu_m and node.memory_used + pod.memory_mib <= node.memory_mib


def _spread_allows(nodes: Sequence[Node], node: Node, pod: Pod) -> bool:
    """PodTopologySpread's filter: the skew after placing must stay within maxSkew (the minimum counted over the
    nodes the pod could otherwise use; here every node)."""
    if not pod.hard_spread or pod.max_skew is None:
        return True
    lowest = min(other.siblings[pod.workload] for other in nodes)
    return node.siblings[pod.workload] + 1 - lowest <= pod.max_skew


def feasible(nodes: Sequence[Node], pod: Pod) -> list[Node]:
    return [
        node
        for node in nodes
        if _fits(node, pod)
        and not (pod.one_per_node and node.siblings[pod.workload])
        and _spread_allows(nodes, node, pod)
    ]


def score(node: Node, pod: Pod, most: int | None) -> float:
    """The default profile's score of `node` for `pod`; `most` is the most siblings any node runs when the pod has
    a soft (ScheduleAnyway) spread, else None."""
    cpu = (node.cpu_used + pod.cpu_m) / node.cpu_m
    memory = (node.memory_used + pod.memory_mib) / node.memory_mib
    least_allocated = 100 * ((1 - cpu) + (1 - memory)) / 2
    balanced = 100 * (1 - abs(cpu - memory) / 2)
    spread = 0.0
    if most is not None:
        spread = 100 * (most - node.siblings[pod.workload]) / most if most else 100.0
    return WEIGHT_FIT * least_allocated + WEIGHT_BALANCED * balanced + WEIGHT_SPREAD * spread


def _schedule(pool: Sequence[Node], pod: Pod) -> bool:
    candidates = feasible(pool, pod)
    if not candidates:
        return False
    soft = pod.max_skew is not None and not pod.hard_spread
    most = max(node.siblings[pod.workload] for node in pool) if soft else None
    max(candidates, key=lambda node: score(node, pod, most)).add(pod)  # the first of equal scores
    return True


def _victims(node: Node, pod: Pod) -> list[Pod] | None:
    """The lower-priority pods to evict from `node` so that `pod` fits there (lowest priority, largest first), or
    None when evicting all of them is not enough or its anti-affinity forbids the node."""
    if pod.one_per_node and node.siblings[pod.workload]:
        return None
    cpu, memory, chosen = node.cpu_used, node.memory_used, []
    lower = sorted(
        (other for other in node.pods if other.priority < pod.priority and not other.daemonset),
        key=lambda other: (other.priority, -other.memory_mib),
    )
    for victim in lower:
        if cpu + pod.cpu_m <= node.cpu_m and memory + pod.memory_mib <= node.memory_mib:
            break
        chosen.append(victim)
        cpu, memory = cpu - victim.cpu_m, memory - victim.memory_mib
    fits = cpu + pod.cpu_m <= node.cpu_m and memory + pod.memory_mib <= node.memory_mib
    return chosen if fits else None


def _preempt(pool: Sequence[Node], pod: Pod) -> list[Pod] | None:
    """DefaultPreemption: the node whose victims have the lowest highest priority, then the fewest; the pod is
    placed there and the evicted pods are returned (None: no node can make room)."""
    options = [(node, victims) for node in pool if (victims := _victims(node, pod)) is not None]
    if not options:
        return None
    node, victims = min(
        options,
        key=lambda option: (max((v.priority for v in option[1]), default=-1), len(option[1]), -option[0].memory_used),
    )
    for victim in victims:
        node.remove(victim)
    node.add(pod)
    return victims


def _settle(pool: Sequence[Node], unplaced: list[Pod]) -> list[Pod]:
    """Retry the pods no node took, highest priority first (in their order within a priority): each goes where it
    fits, else preempts lower-priority pods, whose pods are retried in turn; what still finds no node waits."""
    waiting: list[Pod] = []
    queue = sorted(unplaced, key=lambda pod: -pod.priority)
    while queue:
        pod = queue.pop(0)
        if _schedule(pool, pod):
            continue
        victims = _preempt(pool, pod)
        if victims is None:
            waiting.append(pod)
        else:
            queue = sorted([*queue, *victims], key=lambda other: -other.priority)
    return waiting


def lose_node(result: Placement, lost: int) -> Placement:
    """`result` after its node `lost` is gone: the other nodes keep their pods, the lost node's pods (its DaemonSet
    pods aside) are recreated, in their order, highest priority first, and placed, preempting lower priorities."""
    pool: list[Node] = []
    for index, node in enumerate(result.nodes):
        if index != lost:
            pool.append(Node(node.name, node.cpu_m, node.memory_mib))
            for pod in node.pods:
                pool[-1].add(pod)
    recreated = [pod for pod in result.nodes[lost].pods if not pod.daemonset]
    waiting = _settle(pool, [*recreated, *result.waiting])
    return Placement(f"{result.order}, then {result.nodes[lost].name} lost", pool, waiting)


def place(
    pods: Sequence[Pod],
    *,
    nodes: int,
    cpu_m: float,
    memory_mib: float,
    order: str,
    arrange: Callable[[list[Pod]], None],
) -> Placement:
    """Place `pods` on `nodes` empty nodes: DaemonSet pods on every node, then the others highest priority first,
    `arrange` ordering each priority band in place. A pod no node has room for at its turn waits: only pods of
    its own or a higher priority were placed before it, so preemption could not make room."""
    pool = [Node(f"node-{index + 1}", cpu_m, memory_mib) for index in range(nodes)]
    for pod in pods:
        if pod.daemonset:
            for node in pool:
                node.add(pod)
    unplaced: list[Pod] = []
    queue = [pod for pod in pods if not pod.daemonset]
    for priority in sorted({pod.priority for pod in queue}, reverse=True):
        band = [pod for pod in queue if pod.priority == priority]
        arrange(band)
        unplaced += [pod for pod in band if not _schedule(pool, pod)]
    waiting = _settle(pool, unplaced)
    return Placement(order, pool, waiting)


def _largest_first(band: list[Pod]) -> None:
    band.sort(key=lambda pod: (pod.memory_mib, pod.cpu_m), reverse=True)


def _smallest_first(band: list[Pod]) -> None:
    band.sort(key=lambda pod: (pod.memory_mib, pod.cpu_m))


def placements(pods: Sequence[Pod], *, nodes: int, cpu_m: float, memory_mib: float) -> list[Placement]:
    """The placements of every order tried: largest first, smallest first, as listed, then seeded shuffles."""
    return list(_placements(tuple(pods), nodes, cpu_m, memory_mib))


@lru_cache(maxsize=32)
def _placements(pods: tuple[Pod, ...], nodes: int, cpu_m: float, memory_mib: float) -> tuple[Placement, ...]:
    orders: list[tuple[str, Callable[[list[Pod]], None]]] = [
        ("largest first", _largest_first),
        ("smallest first", _smallest_first),
        ("as listed", lambda band: None),
    ]
    for seed in range(SHUFFLES):
        orders.append((f"shuffle {seed}", random.Random(seed).shuffle))
    return tuple(
        place(pods, nodes=nodes, cpu_m=cpu_m, memory_mib=memory_mib, order=name, arrange=arrange)
        for name, arrange in orders
    )


def worst_fullest(results: Sequence[Placement]) -> Placement:
    return max(results, key=lambda result: (result.fullest.memory_pct, result.fullest.cpu_pct))


def worst_waiting(results: Sequence[Placement]) -> Placement:
    return max(results, key=lambda result: (len(result.waiting), result.waiting_memory_mib))
