"""The README's three Mermaid diagrams say what the code says.

Stacks: the arrows between stacks are the synthesized dependencies, every output of `todo_infra/contracts.py` is on
the arrow leaving its producer and on no other, and an output drawn into a stack is one that stack reads (one drawn to
the operators is read by no stack). Request path: the edge's paths and services are `ingress.routes`, the ports each
service's, the services with a sidecar, the components each loads and the database users are the chart's. Event
path: the topics are `topics`, every subscription is an arrow labelled with its route, the publishers are the apps
whose sidecar loads `pubsub`.

Mermaid itself is not run here (its parser needs Node and a DOM, not a project dependency): the diagrams are parsed
by the small grammar below, which accepts only the flowchart forms the README uses and fails on any other line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.synth import Synth
from todo_infra import yamlload
from todo_infra.contracts import OUTPUTS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
VALUES = ROOT / "chart" / "values.yaml"

_BLOCK = re.compile(r"^```mermaid\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_SHAPE = r'(?:\[\("(?P<{0}a>[^"]*)"\)\]|\(\["(?P<{0}b>[^"]*)"\]\)|\(\("(?P<{0}c>[^"]*)"\)\)|\["(?P<{0}d>[^"]*)"\])'
_NODE = re.compile(r"^(?P<id>\w+)" + _SHAPE.format("l") + "$")
_EDGE = re.compile(
    r"^(?P<src>\w+)" + "(?:" + _SHAPE.format("s") + ")?"
    r'\s*(?:-->|-- "(?P<solid>[^"]*)" -->|-\. "(?P<dotted>[^"]*)" \.->)\s*'
    r"(?P<dst>\w+)" + "(?:" + _SHAPE.format("d") + ")?$"
)
_OUTPUT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str
    dotted: bool


@dataclass
class Flowchart:
    #: node id -> its label, `<br/>` lines joined by newlines
    labels: dict[str, str]
    edges: list[Edge]

    def name(self, node: str) -> str:
        """A node's name: the first line of its label."""
        return self.labels[node].split("\n")[0]

    def edges_from(self, name: str) -> list[Edge]:
        return [edge for edge in self.edges if self.name(edge.src) == name]


def _label(match: re.Match[str], prefix: str) -> str | None:
    for shape in "abcd":
        value = match.group(f"{prefix}{shape}")
        if value is not None:
            return value.replace("<br/>", "\n")
    return None


def parse_flowchart(block: str) -> Flowchart:
    """The README's flowcharts: `flowchart LR`, node definitions, and edges with an optional label."""
    lines = [line.strip() for line in block.strip().splitlines()]
    if lines[0] != "flowchart LR":
        raise ValueError(f"not a left-to-right flowchart: {lines[0]!r}")
    chart = Flowchart({}, [])
    for line in lines[1:]:
        if node := _NODE.match(line):
            chart.labels[node["id"]] = _label(node, "l") or ""
        elif edge := _EDGE.match(line):
            for side in ("s", "d"):
                label = _label(edge, side)
                if label is not None:
                    chart.labels[edge["src" if side == "s" else "dst"]] = label
            label = edge["solid"] if edge["solid"] is not None else edge["dotted"]
            chart.edges.append(Edge(edge["src"], edge["dst"], label or "", edge["dotted"] is not None))
        else:
            raise ValueError(f"a line the diagram grammar does not know: {line!r}")
    undefined = {node for edge in chart.edges for node in (edge.src, edge.dst)} - set(chart.labels)
    if undefined:
        raise ValueError(f"edges to nodes without a label: {sorted(undefined)}")
    return chart


def diagrams(text: str) -> list[Flowchart]:
    return [parse_flowchart(block) for block in _BLOCK.findall(text)]


@pytest.fixture(scope="module")
def charts() -> list[Flowchart]:
    found = diagrams(README.read_text())
    assert len(found) == 3, "the README draws the stacks, the request path and the event path"
    return found


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yamlload.load(VALUES.read_text())
    return loaded


# --- stacks and their outputs --------------------------------------------------------------------------------------


def stack_problems(chart: Flowchart, dependencies: dict[str, frozenset[str]], stacks: dict[str, str]) -> list[str]:
    """`dependencies`: stack -> the stacks it depends on; `stacks`: stack -> its synthesized JSON as text."""
    problems = []
    drawn = {
        (chart.name(e.src), chart.name(e.dst))
        for e in chart.edges
        if chart.name(e.src) in dependencies and chart.name(e.dst) in dependencies
    }
    declared = {(dependency, stack) for stack, deps in dependencies.items() for dependency in deps}
    problems += [f"arrow {a} -> {b} is not a stack dependency" for a, b in sorted(drawn - declared)]
    problems += [f"dependency {a} -> {b} is not drawn" for a, b in sorted(declared - drawn)]
    outputs: set[tuple[str, str]] = set()
    for edge in chart.edges:
        names = [name.strip() for name in edge.label.split(",")]
        if not all(_OUTPUT_NAME.match(name) for name in names):
            continue  # not a list of outputs (e.g. the ConfigMap the platform writes)
        producer, consumer = chart.name(edge.src), chart.name(edge.dst)
        for name in names:
            outputs.add((producer, name))
            read = f".outputs.{name}}}" in stacks.get(consumer, "")
            if consumer in stacks and not read:
                problems.append(f"{consumer} does not read {producer}'s output {name}")
            if consumer not in stacks:
                readers = sorted(stack for stack, text in stacks.items() if f".outputs.{name}}}" in text)
                problems += [f"{name} is drawn to {consumer}, but {reader} reads it" for reader in readers]
    contract = {(output.producer, output.name) for output in OUTPUTS}
    problems += [f"{p}'s output {n} is drawn but not declared in OUTPUTS" for p, n in sorted(outputs - contract)]
    problems += [f"{p}'s output {n} (OUTPUTS) is not drawn" for p, n in sorted(contract - outputs)]
    return problems


def _stack_facts(synth: Synth) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
    dependencies = {stack: frozenset(spec["dependencies"]) for stack, spec in synth.manifest["stacks"].items()}
    return dependencies, {stack: json.dumps(document) for stack, document in synth.stacks.items()}


def test_the_stacks_diagram_draws_the_dependencies_and_every_output(charts: list[Flowchart], synth: Synth) -> None:
    dependencies, stacks = _stack_facts(synth)
    assert set(dependencies) == {"cluster", "platform", "app-staging", "app-production"}
    assert stack_problems(charts[0], dependencies, stacks) == []


def test_a_stacks_diagram_that_drifts_from_the_contracts_is_caught(charts: list[Flowchart], synth: Synth) -> None:
    """Seeded: an output renamed, an output dropped, an arrow reversed, an operators' output drawn into a stack."""
    text = README.read_text()
    seeded = [
        ('"cluster_id, region, vpc_id"', '"cluster_id, region_slug, vpc_id"'),
        ('"cluster_id, region, vpc_id"', '"cluster_id, region"'),
        ('cluster -- "cluster_name" --> platform', 'platform -- "cluster_name" --> cluster'),
        ('platform -- "ConfigMap todo-platform" --> staging', 'platform -- "load_balancer_ip" --> staging'),
    ]
    found = []
    for old, new in seeded:
        assert old in text
        found.append(stack_problems(diagrams(text.replace(old, new, 1))[0], *_stack_facts(synth)))
    assert found == [
        [
            "cluster's output region_slug is drawn but not declared in OUTPUTS",
            "cluster's output region (OUTPUTS) is not drawn",
        ],
        ["cluster's output vpc_id (OUTPUTS) is not drawn"],
        [
            "arrow platform -> cluster is not a stack dependency",
            "dependency cluster -> platform is not drawn",
            "cluster does not read platform's output cluster_name",
            "platform's output cluster_name is drawn but not declared in OUTPUTS",
            "cluster's output cluster_name (OUTPUTS) is not drawn",
        ],
        ["app-staging does not read platform's output load_balancer_ip"],
    ]


# --- the request path -------------------------------------------------------------------------------------------


def _listed(label: str, prefix: str) -> set[str] | None:
    """The services a label `<prefix>: a, b, c` lists, or None when it is not such a label."""
    if not label.startswith(f"{prefix}: "):
        return None
    return {name.strip() for name in label.removeprefix(f"{prefix}: ").split(",")}


def request_problems(chart: Flowchart, values: dict[str, Any]) -> list[str]:
    services = {name: spec for name, spec in values["services"].items() if spec.get("enabled", True)}
    problems = []
    nodes = {}  # service -> node id
    for node in chart.labels:
        name, _, port = chart.name(node).partition(" :")
        if name in services:
            nodes[name] = node
            if port != str(services[name]["port"]):
                problems.append(f"{name} is drawn with port {port or 'none'}, the chart's is {services[name]['port']}")
    problems += [f"service {name} is not drawn" for name in sorted(set(services) - set(nodes))]
    service_of = {node: name for name, node in nodes.items()}
    routes = {(e.label, service_of.get(e.dst, chart.name(e.dst))) for e in chart.edges if e.label.startswith("/")}
    chart_routes = {(route["path"], route["service"]) for route in values["ingress"]["routes"]}
    problems += [f"route {path} -> {name} is not the chart's" for path, name in sorted(routes - chart_routes)]
    problems += [f"the chart's route {path} -> {name} is not drawn" for path, name in sorted(chart_routes - routes)]
    with_sidecar = {service_of[e.src] for e in chart.edges if chart.name(e.dst) == "daprd" and e.src in service_of}
    dapr = {name for name, spec in services.items() if spec["dapr"]["enabled"]}
    if with_sidecar != dapr:
        problems.append(f"services drawn into daprd: {sorted(with_sidecar)}, with a sidecar: {sorted(dapr)}")
    for component in ("pubsub", "statestore"):
        drawn = [names for e in chart.edges_from("daprd") if (names := _listed(e.label, component)) is not None]
        users = {name for name, spec in services.items() if component in spec["dapr"]["components"]}
        if drawn != [users]:
            problems.append(f"{component} is drawn for {[sorted(d) for d in drawn]}, loaded by {sorted(users)}")
    postgres = next(port for port in values["networkPolicy"]["externalEgressPorts"] if port["name"] == "postgresql")
    database_users = {name for name, spec in services.items() if set(spec["secretKeys"]) & set(postgres["secretKeys"])}
    drawn_users = {service_of[e.src] for e in chart.edges if chart.name(e.dst) == "Neon" and e.src in service_of}
    if drawn_users != database_users:
        problems.append(f"Neon is drawn for {sorted(drawn_users)}, its users are {sorted(database_users)}")
    return problems


def test_the_request_diagram_is_the_charts_routes_sidecars_and_data(
    charts: list[Flowchart], values: dict[str, Any]
) -> None:
    assert request_problems(charts[1], values) == []


def test_a_request_diagram_that_drifts_from_the_chart_is_caught(values: dict[str, Any]) -> None:
    text = README.read_text()
    seeded = [
        ('edge -- "/api/" --> backend["backend :8000"]', 'edge -- "/api/" --> mcp\n  backend["backend :8000"]'),
        ('mcp["mcp :8001"]', 'mcp["mcp :8011"]'),
        ('"statestore: backend, notification"', '"statestore: backend, notification, mcp"'),
        ('  mcp -- "PostgreSQL" --> neon\n', ""),
    ]
    found = [request_problems(diagrams(text.replace(old, new, 1))[1], values) for old, new in seeded]
    assert found == [
        ["route /api/ -> mcp is not the chart's", "the chart's route /api/ -> backend is not drawn"],
        ["mcp is drawn with port 8011, the chart's is 8001"],
        ["statestore is drawn for [['backend', 'mcp', 'notification']], loaded by ['backend', 'notification']"],
        [
            "Neon is drawn for ['backend', 'frontend', 'notification'], its users are "
            "['backend', 'frontend', 'mcp', 'notification']"
        ],
    ]


# --- the event path ---------------------------------------------------------------------------------------------


def event_problems(chart: Flowchart, values: dict[str, Any]) -> list[str]:
    services = values["services"]
    topic_keys = {name: key for key, name in values["topics"].items()}
    problems: list[str] = []
    topics = {node: topic_keys[chart.name(node)] for node in chart.labels if chart.name(node) in topic_keys}
    problems += [f"topic {name} is not drawn" for name in sorted(set(topic_keys) - {chart.name(n) for n in topics})]
    drawn = {(topics[e.src], chart.name(e.dst), e.label) for e in chart.edges if e.src in topics}
    subscribed = {
        (subscription["topic"], name, subscription["route"])
        for name, spec in services.items()
        for subscription in spec["subscriptions"]
    }
    problems += [f"subscription {s} is drawn but not the chart's" for s in sorted(drawn - subscribed)]
    problems += [f"the chart's subscription {s} is not drawn" for s in sorted(subscribed - drawn)]
    pubsub = {name for name, spec in services.items() if "pubsub" in spec["dapr"]["components"]}
    publishing = [e for e in chart.edges if e.label == "publish"]
    for edge in publishing:
        listed = {name.strip() for name in chart.labels[edge.src].split("\n")[-1].split(",")}
        if listed != pubsub:
            problems.append(f"publishers drawn: {sorted(listed)}, the apps loading pubsub: {sorted(pubsub)}")
    if {topics.get(e.dst) for e in publishing} != set(topic_keys.values()):
        problems.append("not every topic is drawn with its publishers")
    return problems


def test_the_event_diagram_is_the_charts_topics_and_subscriptions(
    charts: list[Flowchart], values: dict[str, Any]
) -> None:
    assert event_problems(charts[2], values) == []


def test_an_event_diagram_that_drifts_from_the_chart_is_caught(values: dict[str, Any]) -> None:
    text = README.read_text()
    seeded = [
        ('tasks -- "/dapr/task-events" --> notification', 'tasks -- "/dapr/tasks" --> notification'),
        ('notes[("notifications")]', 'notes[("alerts")]'),
        ('backend, mcp, notification, sse-gateway"]', 'backend, notification, sse-gateway"]'),
    ]
    found = [event_problems(diagrams(text.replace(old, new, 1))[2], values) for old, new in seeded]
    assert found[0] == [
        "subscription ('taskEvents', 'notification', '/dapr/tasks') is drawn but not the chart's",
        "the chart's subscription ('taskEvents', 'notification', '/dapr/task-events') is not drawn",
    ]
    assert "topic notifications is not drawn" in found[1]
    assert (
        found[2]
        == [
            "publishers drawn: ['backend', 'notification', 'sse-gateway'], the apps loading pubsub: "
            "['backend', 'mcp', 'notification', 'sse-gateway']"
        ]
        * 2
    )


def test_the_grammar_refuses_what_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="a line the diagram grammar does not know"):
        parse_flowchart('flowchart LR\n  a["A"] ==> b["B"]\n')
    with pytest.raises(ValueError, match="edges to nodes without a label"):
        parse_flowchart('flowchart LR\n  a["A"] --> b\n')
    with pytest.raises(ValueError, match="not a left-to-right flowchart"):
        parse_flowchart("graph TD\n  a --> b\n")
