"""The monitoring namespace accepts exactly its own flows (todo_infra/monitoring.py MONITORING_FLOWS): every scrape,
datasource, log push, alert and the operator's webhook gets through, and nothing else — no app environment, no other
platform namespace — reaches Loki (no authentication), Grafana, Prometheus or Alertmanager (silences)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from preflight.admission import selects
from preflight.render import Manifest, RenderedRelease
from tests.synth import Synth
from todo_infra.access import MONITORING_SERVICES
from todo_infra.monitoring import MONITORING_FLOWS, OPERATOR

MONITORING = "monitoring"
#: A source that is no pod: the API server calling a webhook (its address is no pod's and no namespace's).
API_SERVER = None


def ns_labels(name: str, synth: Synth | None = None) -> dict[str, str]:
    """A namespace's labels as the API server holds them (the platform's own for the namespaces it creates)."""
    labels = {"kubernetes.io/metadata.name": name}
    if synth is not None and name in ("staging", "production"):
        labels |= synth.namespace(name)["metadata"]["labels"]
    return labels


def ingress_allowed(
    policies: Iterable[Manifest],
    source: tuple[Mapping[str, str], Mapping[str, str]] | None,
    destination: Mapping[str, str],
    port: int,
    namespace: str = MONITORING,
) -> bool:
    """NetworkPolicy semantics for one TCP connection to a pod of `namespace` labelled `destination`, from `source`
    (namespace labels, pod labels; None: no pod). A pod no Ingress policy selects accepts everything; a selected pod
    accepts what some rule of a selecting policy allows: a peer with only podSelector means that namespace's pods,
    only namespaceSelector every pod of those namespaces, both the pods of those namespaces; no `from`: any source."""
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == namespace
        and "Ingress" in p["spec"]["policyTypes"]
        and selects(p["spec"]["podSelector"], destination)
    ]
    if not selecting:
        return True

    def peer_admits(peer: Mapping[str, Any]) -> bool:
        if source is None:
            return False
        source_ns, source_pod = source
        if "namespaceSelector" in peer:
            in_namespace = selects(peer["namespaceSelector"], source_ns)
        else:
            in_namespace = source_ns.get("kubernetes.io/metadata.name") == namespace
        return in_namespace and selects(peer.get("podSelector") or {}, source_pod)

    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            ports = {(p["protocol"], p["port"]) for p in rule.get("ports", [])}
            if (peers is None or any(peer_admits(peer) for peer in peers)) and (not ports or ("TCP", port) in ports):
                return True
    return False


def pod(name: str, namespace: str = MONITORING) -> tuple[dict[str, str], dict[str, str]]:
    return ns_labels(namespace), {"app.kubernetes.io/name": name}


def network_policies(access: RenderedRelease) -> list[Manifest]:
    return [d for d in access.manifests if d["kind"] == "NetworkPolicy"]


def test_the_flows_name_the_pods_the_charts_label() -> None:
    """app.kubernetes.io/name as each pinned chart renders it: prometheus-operator's pods for Prometheus and
    Alertmanager, the grafana, kube-state-metrics, loki, alloy and promtail charts, and kube-prometheus-stack 88.5.3's
    operator (`<release>-prometheus-operator`)."""
    assert {f.server for f in MONITORING_FLOWS} == {
        "prometheus", "alertmanager", "grafana", "kube-state-metrics", OPERATOR, "loki",
    }  # fmt: skip
    assert OPERATOR == "kube-prometheus-stack-prometheus-operator"
    assert {f.client for f in MONITORING_FLOWS} == {"prometheus", "grafana", "alloy", "promtail", "loki", API_SERVER}


@pytest.mark.parametrize("flow", MONITORING_FLOWS, ids=lambda f: f"{f.client or 'api-server'}->{f.server}")
def test_every_monitoring_flow_gets_through(access: RenderedRelease, flow: Any) -> None:
    source = None if flow.client is None else pod(flow.client)
    for port in flow.ports:
        assert ingress_allowed(network_policies(access), source, {"app.kubernetes.io/name": flow.server}, port), port


def test_the_namespace_denies_every_other_connection(access: RenderedRelease) -> None:
    (deny,) = [p for p in network_policies(access) if p["metadata"]["name"] == "todo-monitoring-default-deny-ingress"]
    assert deny["metadata"]["namespace"] == MONITORING
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


@pytest.mark.parametrize("service", MONITORING_SERVICES)
@pytest.mark.parametrize("namespace", ["staging", "production", "dapr-system", "ingress-nginx", "cert-manager"])
def test_no_other_namespace_reaches_the_monitoring_data(
    synth: Synth, access: RenderedRelease, service: str, namespace: str
) -> None:
    """An app environment writes its own NetworkPolicies (it may open its egress): here it is kept from production's
    logs, metrics and alert silences; so is every other namespace."""
    ports = {p for f in MONITORING_FLOWS if f.server == service for p in f.ports}
    for labels in ({"app.kubernetes.io/name": "backend"}, {"app.kubernetes.io/name": "prometheus"}):
        source = (ns_labels(namespace, synth), labels)
        for port in ports:
            assert not ingress_allowed(network_policies(access), source, {"app.kubernetes.io/name": service}, port)


def test_a_flow_is_one_port_set_between_two_pods(access: RenderedRelease) -> None:
    policies = network_policies(access)
    loki = {"app.kubernetes.io/name": "loki"}
    assert ingress_allowed(policies, pod("alloy"), loki, 3100)
    assert not ingress_allowed(policies, pod("alloy"), loki, 7946), "memberlist is Loki's own"
    assert not ingress_allowed(policies, pod("alloy"), {"app.kubernetes.io/name": "alertmanager"}, 9093)
    assert not ingress_allowed(policies, pod("grafana"), {"app.kubernetes.io/name": "kube-state-metrics"}, 8080)
    assert not ingress_allowed(policies, API_SERVER, loki, 3100), "only the webhook port is open to any source"


def test_seeded_a_lost_rule_breaks_its_flow(access: RenderedRelease) -> None:
    policies = copy.deepcopy(network_policies(access))
    (to_loki,) = [p for p in policies if p["metadata"]["name"] == "todo-monitoring-to-loki"]
    to_loki["spec"]["ingress"] = [
        rule
        for rule in to_loki["spec"]["ingress"]
        if rule["from"][0]["podSelector"]["matchLabels"] != {"app.kubernetes.io/name": "alloy"}
    ]
    assert not ingress_allowed(policies, pod("alloy"), {"app.kubernetes.io/name": "loki"}, 3100)


def test_seeded_without_the_default_deny_a_pod_no_flow_names_is_open(access: RenderedRelease) -> None:
    policies = [p for p in network_policies(access) if p["metadata"]["name"] != "todo-monitoring-default-deny-ingress"]
    # Alloy serves no flow: only the default deny closes it.
    assert ingress_allowed(policies, pod("backend", "staging"), {"app.kubernetes.io/name": "alloy"}, 12345)
    assert not ingress_allowed(
        network_policies(access), pod("backend", "staging"), {"app.kubernetes.io/name": "alloy"}, 12345
    )


def test_seeded_the_evaluator_is_not_vacuous(access: RenderedRelease) -> None:
    """A rule admitting every namespace (the kind of policy this replaced) lets staging in."""
    policies = copy.deepcopy(network_policies(access))
    (to_loki,) = [p for p in policies if p["metadata"]["name"] == "todo-monitoring-to-loki"]
    to_loki["spec"]["ingress"].append({"from": [{"namespaceSelector": {}}]})
    assert ingress_allowed(policies, pod("backend", "staging"), {"app.kubernetes.io/name": "loki"}, 3100)
