"""Per-node placement (preflight/placement.py) and the capacity and node-loss checks built on it: each pod on exactly
one node, DaemonSets on every node, priority order with preemption, required anti-affinity, and the worst order of
arrival. Seeded cases: the total fits and a node does not, in each of the ways the old summed model missed."""

from __future__ import annotations

import dataclasses

import pytest

from main import embedded_context
from preflight import placement
from preflight.capacity import Consumer, check_capacity, check_node_loss
from preflight.placement import SHUFFLES, Pod, lose_node, place, placements, worst_fullest
from todo_infra.node_sizes import node_size
from todo_infra.settings import load_settings

#: The node size of the committed configuration (cdktf.json's node_size): the seeded cases are sized against it.
NODE = node_size(load_settings(embedded_context(), {}).cluster.node_size)
NODE_CPU_M, NODE_MEMORY_MIB = NODE.allocatable_cpu_m, NODE.allocatable_memory_mib

PLATFORM, PRODUCTION, STAGING = "todo-platform", "todo-production", "todo-staging"


def as_listed(band: list[Pod]) -> None:
    """Keep each priority band in the order given."""


def pods_of(consumers: list[Consumer]) -> list[Pod]:
    return [pod for consumer in consumers for pod in consumer.pods(maximum=False)]


def summed_waits(consumers: list[Consumer], nodes: int) -> int:
    """The old node-loss model, for the seeded cases: free memory added across the nodes."""
    free = nodes * NODE_MEMORY_MIB - sum(c.memory_mib * c.count(nodes, maximum=False) for c in consumers if c.per_node)
    waiting = 0
    for consumer in sorted((c for c in consumers if not c.per_node), key=lambda c: -c.priority):
        for _ in range(consumer.count(nodes, maximum=False)):
            if consumer.memory_mib <= free:
                free -= consumer.memory_mib
            else:
                waiting += 1
    return waiting


def test_every_order_places_each_pod_on_exactly_one_node_and_daemonsets_on_every_node() -> None:
    consumers = [
        Consumer("platform/x", "agent", 10, 300, 0, 0, per_node=True, priority_class=PLATFORM),
        Consumer("production", "api", 50, 400, 5, 5, priority_class=PRODUCTION),
        Consumer("staging", "api", 50, 300, 3, 3, priority_class=STAGING),
    ]
    results = placements(pods_of(consumers), nodes=3, cpu_m=NODE_CPU_M, memory_mib=NODE_MEMORY_MIB)
    assert len(results) == 3 + SHUFFLES
    for result in results:
        assert all(sum(pod.workload == "platform/x/agent" for pod in node.pods) == 1 for node in result.nodes)
        placed = [pod.workload for node in result.nodes for pod in node.pods if not pod.daemonset]
        assert sorted(placed + [pod.workload for pod in result.waiting]) == sorted(
            ["production/api"] * 5 + ["staging/api"] * 3
        )
        assert all(node.memory_used <= node.memory_mib and node.cpu_used <= node.cpu_m for node in result.nodes)


def test_seeded_the_total_fits_but_no_single_node_can_take_the_pod() -> None:
    """Two nodes left; two large platform pods leave 160 MiB on each node: 320 MiB free in total, which the old
    summed model gave to a 200 MiB production pod. Per node it waits, and the check fails naming it."""
    consumers = [
        Consumer("platform/x", "big", 100, NODE_MEMORY_MIB - 160, 2, 2, priority_class=PLATFORM),
        Consumer("production", "small", 10, 200, 1, 1, priority_class=PRODUCTION),
    ]
    assert summed_waits(consumers, nodes=2) == 0  # the old answer
    for result in placements(pods_of(consumers), nodes=2, cpu_m=NODE_CPU_M, memory_mib=NODE_MEMORY_MIB):
        assert [(pod.workload, pod.memory_mib) for pod in result.waiting] == [("production/small", 200)]
    problems = check_node_loss(consumers, min_nodes=3, node=NODE).problems
    assert len(problems) == 1
    assert problems[0].startswith("losing a node at minimum scale leaves 1 × production/small pending when pods arrive")


def test_seeded_a_daemonset_counts_on_every_node() -> None:
    """A 600 MiB DaemonSet pod on each of 3 nodes and a 2000 MiB pod: 3800 of 7680 MiB in total (49 %), yet no node
    has 2000 MiB left once its own DaemonSet pod runs."""
    consumers = [
        Consumer("platform/x", "agent", 10, 600, 0, 0, per_node=True, priority_class=PLATFORM),
        Consumer("production", "whale", 100, 2000, 1, 1, priority_class=PRODUCTION),
    ]
    result = check_capacity(consumers, [], min_nodes=3, max_nodes=3, node=NODE)
    assert result.figures["min_memory_used_pct"] < 85
    assert any(
        p.startswith("at min scale on 3 nodes 1 pods find no node") and "1 × production/whale (2000Mi, 100m)" in p
        for p in result.problems
    ), result.problems


def test_seeded_the_total_is_under_the_limit_but_the_fullest_node_is_not() -> None:
    """One pod of 2300 MiB on a 3-node pool: 30 % of the pool, 89.8 % of its node."""
    consumers = [Consumer("production", "whale", 100, 2300, 1, 1, priority_class=PRODUCTION)]
    result = check_capacity(consumers, [], min_nodes=3, max_nodes=3, node=NODE)
    assert result.figures["min_memory_used_pct"] == pytest.approx(29.9, abs=0.1)
    assert result.figures["min_fullest_node_memory_pct"] == pytest.approx(89.8, abs=0.1)
    assert [p for p in result.problems if "fullest node" in p] == [
        "memory requests at min scale fill the fullest node to 89.8% (limit 85%) when pods arrive largest first: "
        "node-1 2300Mi (89.8%) 100m (5.3%), node-2 0Mi (0.0%) 0m (0.0%), node-3 0Mi (0.0%) 0m (0.0%)"
    ]


def test_seeded_largest_first_fits_but_another_order_of_arrival_does_not() -> None:
    """The scheduler meets pods in arrival order, not largest first. These seven fit at 80 % per node largest
    first, but some order fills a node completely; the check answers with that order."""
    sizes = [512, 512, 768, 768, 1024, 1024, 1024]
    consumers = [Consumer("production", f"p{i}", 100, size, 1, 1) for i, size in enumerate(sizes)]
    results = placements(pods_of(consumers), nodes=3, cpu_m=NODE_CPU_M, memory_mib=NODE_MEMORY_MIB)
    assert results[0].order == "largest first" and results[0].fullest.memory_pct == pytest.approx(80.0)
    worst = worst_fullest(results)
    assert worst.fullest.memory_pct == pytest.approx(100.0)
    result = check_capacity(consumers, [], min_nodes=3, max_nodes=3, node=NODE)
    assert result.figures["min_fullest_node_memory_pct"] == pytest.approx(100.0)
    assert any(f"when pods arrive {worst.order}:" in p for p in result.problems), result.problems


def test_seeded_anti_affinity_pair_with_one_node_left() -> None:
    """Required anti-affinity: with one node left, one replica of the pair runs and the other waits, because the
    node already runs its sibling — reported as such and allowed. Without it both share the node."""
    pair = Consumer("platform/dapr", "operator", 50, 64, 2, 2, priority_class=PLATFORM, one_per_node=True)
    result = check_node_loss([pair], min_nodes=2, node=NODE)
    assert result.problems == []
    assert result.rows[0][1:] == ["platform/dapr/operator", "64Mi", "50m", "1", "one per node: every node runs one"]
    together = check_node_loss([dataclasses.replace(pair, one_per_node=False)], min_nodes=2, node=NODE)
    assert together.figures["waiting_pods"] == 0
    (node,) = place(
        pods_of([pair]), nodes=1, cpu_m=NODE_CPU_M, memory_mib=NODE_MEMORY_MIB, order="-", arrange=as_listed
    ).nodes
    assert len(node.pods) == 1


def test_seeded_anti_affinity_pair_whose_second_node_is_full_fails() -> None:
    """Two nodes left, but one of them is full: the second replica of the pair cannot go anywhere — not forced by its
    anti-affinity alone (a node without a sibling exists), so the check fails."""
    consumers = [
        Consumer("production", "whale", 100, NODE_MEMORY_MIB, 1, 1, priority_class=PRODUCTION),
        Consumer("platform/dapr", "sentry", 25, 32, 2, 2, priority_class=PLATFORM, one_per_node=True),
    ]
    # The whale comes first only if it outranks the pair; give it the higher class to make the case.
    consumers[0] = dataclasses.replace(consumers[0], priority_class="system-cluster-critical")
    result = check_node_loss(consumers, min_nodes=3, node=NODE)
    assert len(result.problems) == 1 and "1 × platform/dapr/sentry pending" in result.problems[0]


def test_one_per_node_replicas_never_share_a_node_in_any_order() -> None:
    trio = Consumer("platform/dapr", "scheduler", 50, 128, 3, 3, priority_class=PLATFORM, one_per_node=True)
    filler = Consumer("production", "api", 50, 200, 6, 6, priority_class=PRODUCTION)
    for result in placements(pods_of([trio, filler]), nodes=3, cpu_m=NODE_CPU_M, memory_mib=NODE_MEMORY_MIB):
        assert [node.siblings["platform/dapr/scheduler"] for node in result.nodes] == [1, 1, 1]


def test_a_pod_of_the_lost_node_preempts_lower_priorities_on_the_others() -> None:
    """The big production pod's node is lost; both other nodes are full of staging pods. The scheduler evicts three
    staging pods from one node to place it: production runs, five staging pods wait."""
    consumers = [
        Consumer("production", "big", 100, 1300, 1, 1, priority_class=PRODUCTION),
        Consumer("staging", "small", 10, 500, 12, 12, priority_class=STAGING),
    ]
    full = place(
        pods_of(consumers), nodes=3, cpu_m=NODE_CPU_M, memory_mib=NODE_MEMORY_MIB, order="-", arrange=as_listed
    )
    lost = next(index for index, node in enumerate(full.nodes) if node.siblings["production/big"])
    after = lose_node(full, lost)
    assert sum(node.siblings["production/big"] for node in after.nodes) == 1
    assert [pod.workload for pod in after.waiting] == ["staging/small"] * 5
    check = check_node_loss(consumers, min_nodes=3, node=NODE)
    assert check.problems == [] and check.figures["waiting_groups"] == ["staging"]


def test_seeded_without_preemption_the_production_pod_would_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same loss with preemption switched off: the production pod waits, and the check says so."""
    consumers = [
        Consumer("production", "big", 100, 1300, 1, 1, priority_class=PRODUCTION),
        Consumer("staging", "small", 10, 500, 12, 12, priority_class=STAGING),
    ]
    monkeypatch.setattr(placement, "_preempt", lambda pool, pod: None)
    placement._placements.cache_clear()
    try:
        problems = check_node_loss(consumers, min_nodes=3, node=NODE).problems
    finally:
        placement._placements.cache_clear()
    assert problems and problems[0].startswith("losing a node at minimum scale leaves 1 × production/big pending")
