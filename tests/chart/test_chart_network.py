"""NetworkPolicies: default deny, then only the flows the app needs."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import helm_python as helm

from preflight.admission import selects
from tests.chart.chart_support import SERVICES, Rendered, fullname, render
from tests.chart.service_facts import with_metrics
from todo_infra.contracts import EDGE_NAMESPACES


def _pods_selected(env: Rendered, selector: dict[str, Any]) -> set[str]:
    return {
        d["metadata"]["name"]
        for d in env.of_kind("Deployment")
        if selects(selector, d["spec"]["template"]["metadata"]["labels"])
    }


def _ports(rule: dict[str, Any]) -> set[tuple[str, int]]:
    return {(p["protocol"], p["port"]) for p in rule.get("ports", [])}


def test_namespace_default_is_deny_all(rendered: Rendered) -> None:
    deny = rendered.get("NetworkPolicy", "todo-app-default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def _edges(default: Rendered, nginx: Rendered) -> list[tuple[Rendered, str]]:
    """A render of each edge with the namespace its proxies run in: Envoy Gateway's (the default), ingress-nginx's."""
    return [(default, EDGE_NAMESPACES["envoy-gateway"]), (nginx, EDGE_NAMESPACES["ingress-nginx"])]


def test_the_edge_reaches_only_the_routed_services_on_their_ports(rendered: Rendered, nginx_cloud: Rendered) -> None:
    for env, edge_namespace in _edges(rendered, nginx_cloud):
        policy = env.get("NetworkPolicy", "todo-app-from-edge")
        assert _pods_selected(env, policy["spec"]["podSelector"]) == {
            fullname(s) for s in ("frontend", "backend", "sse-gateway", "mcp")
        }
        (rule,) = policy["spec"]["ingress"]
        assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": edge_namespace}}}]
        assert _ports(rule) == {("TCP", 3000), ("TCP", 8000), ("TCP", 8003), ("TCP", 8001)}


def test_prometheus_reaches_metrics_ports(rendered: Rendered) -> None:
    policy = rendered.get("NetworkPolicy", "todo-app-from-prometheus")
    assert _pods_selected(rendered, policy["spec"]["podSelector"]) == {fullname(s) for s in SERVICES}
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"
    metrics_ports = {rendered.values["services"][s]["port"] for s in with_metrics(rendered.values)}
    assert _ports(rule) == {("TCP", rendered.values["dapr"]["metricsPort"])} | {("TCP", p) for p in metrics_ports}


def test_redis_accepts_only_state_store_users(rendered: Rendered) -> None:
    policy = rendered.get("NetworkPolicy", fullname("redis"))
    assert _pods_selected(rendered, policy["spec"]["podSelector"]) == {fullname("redis")}
    (rule,) = policy["spec"]["ingress"]
    assert _pods_selected(rendered, rule["from"][0]["podSelector"]) == {
        fullname("backend"),
        fullname("notification"),
    }
    assert _ports(rule) == {("TCP", 6379)}


def test_app_pods_talk_to_each_other_and_dapr_sidecars(rendered: Rendered) -> None:
    policy = rendered.get("NetworkPolicy", "todo-app-app-traffic")
    app_pods = {fullname(s) for s in SERVICES}
    assert _pods_selected(rendered, policy["spec"]["podSelector"]) == app_pods
    (inbound,) = policy["spec"]["ingress"]
    assert ("TCP", 50002) in _ports(inbound)
    assert _pods_selected(rendered, inbound["from"][0]["podSelector"]) == app_pods
    to_redis = [r for r in policy["spec"]["egress"] if ("TCP", 6379) in _ports(r)]
    assert _pods_selected(rendered, to_redis[0]["to"][0]["podSelector"]) == {fullname("redis")}


def test_egress_allows_dns_and_dapr_to_every_app_pod(rendered: Rendered) -> None:
    policy = rendered.get("NetworkPolicy", "todo-app-egress")
    dns, dapr = policy["spec"]["egress"]
    assert dns["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "kube-system"
    assert _ports(dns) == {("UDP", 53), ("TCP", 53)}
    assert dapr["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "dapr-system"


#: What each service reaches outside the cluster, and why: Kafka (9092) from the Dapr sidecars that load pub/sub,
#: PostgreSQL (5432) for the services that hold a database URL, HTTPS (443) only for the one holding the LLM API key.
EXTERNAL_PORTS = {
    "backend": {9092, 5432, 443},
    "frontend": {5432},
    "mcp": {9092, 5432},
    "notification": {9092, 5432},
    "sse-gateway": {9092},
}
#: Never reachable on any port: RFC 1918, carrier-grade NAT (RFC 6598) and link-local, where the droplet metadata
#: service answers (169.254.169.254).
EXCLUDED = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"]


def external_ports(env: Rendered) -> dict[str, set[int]]:
    """Service -> the TCP ports its pods may open to the internet, over every egress policy that selects them."""
    found: dict[str, set[int]] = {}
    for service in SERVICES:
        labels = env.get("Deployment", fullname(service))["spec"]["template"]["metadata"]["labels"]
        for policy in env.of_kind("NetworkPolicy"):
            if "Egress" not in policy["spec"]["policyTypes"] or not selects(policy["spec"]["podSelector"], labels):
                continue
            for rule in policy["spec"].get("egress", []):
                if any("ipBlock" in peer for peer in rule.get("to", [])):
                    found.setdefault(service, set()).update(port for _, port in _ports(rule))
    return found


def test_each_service_reaches_the_internet_only_on_the_ports_it_needs(rendered: Rendered) -> None:
    assert external_ports(rendered) == EXTERNAL_PORTS


def test_internet_egress_excludes_private_cgnat_and_link_local_ranges(rendered: Rendered) -> None:
    for policy in rendered.of_kind("NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            for peer in rule.get("to", []):
                if "ipBlock" in peer:
                    assert peer["ipBlock"] == {"cidr": "0.0.0.0/0", "except": EXCLUDED}, policy["metadata"]["name"]


def test_seeded_a_service_that_loses_its_database_url_loses_5432(chart: helm.Chart, production: Rendered) -> None:
    values = copy.deepcopy(production.values)
    values["services"]["mcp"]["secretKeys"] = []
    changed = dataclasses.replace(production, documents=render(chart, values, production.namespace))
    assert external_ports(changed)["mcp"] == {9092}
    assert external_ports(changed)["backend"] == EXTERNAL_PORTS["backend"]


# cert-manager's HTTP-01 solver pod, as its controller creates it in the Certificate's namespace
# (pkg/issuer/acme/http/pod.go: podLabels; SolverIdentificationLabelKey in pkg/apis/acme/v1; acmeSolverListenPort).
ACME_SOLVER_LABELS = {
    "acme.cert-manager.io/http-domain": "1234567",
    "acme.cert-manager.io/http-token": "7654321",
    "acme.cert-manager.io/http01-solver": "true",
}
ACME_SOLVER_PORT = 8089


def _ingress_allowed(env: Rendered, pod_labels: dict[str, str], from_namespace: str, port: int) -> bool:
    """NetworkPolicy semantics for one TCP connection from a pod in another namespace: isolated pods accept only what
    some policy selecting them allows (namespace labels: the automatic kubernetes.io/metadata.name)."""
    namespace_labels = {"kubernetes.io/metadata.name": from_namespace}
    selecting = [
        p
        for p in env.of_kind("NetworkPolicy")
        if "Ingress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod_labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            peer_ok = peers is None or any(
                "namespaceSelector" in peer
                and selects(peer["namespaceSelector"], namespace_labels)
                and not peer.get("podSelector")
                for peer in peers
            )
            if peer_ok and (not rule.get("ports") or ("TCP", port) in _ports(rule)):
                return True
    return False


def test_the_edge_reaches_cert_managers_http01_solver(cloud: Rendered, nginx_cloud: Rendered) -> None:
    """Under default deny the ACME HTTP-01 challenge (the edge's proxies -> solver pod :8089) must still get through,
    on either edge: Envoy Gateway routes cert-manager's solver HTTPRoute to the same pods ingress-nginx reached."""
    for env, edge_namespace in _edges(cloud, nginx_cloud):
        assert env.values["ingress"]["clusterIssuer"]
        assert _ingress_allowed(env, ACME_SOLVER_LABELS, edge_namespace, ACME_SOLVER_PORT)
        assert not _ingress_allowed(env, ACME_SOLVER_LABELS, "monitoring", ACME_SOLVER_PORT)
        assert not _ingress_allowed(env, ACME_SOLVER_LABELS, edge_namespace, 80)
        # the check is not vacuous: the routed frontend is reachable, Redis is not
        assert _ingress_allowed(
            env,
            env.get("Deployment", fullname("frontend"))["spec"]["template"]["metadata"]["labels"],
            edge_namespace,
            3000,
        )
        assert not _ingress_allowed(
            env,
            env.get("Deployment", fullname("redis"))["spec"]["template"]["metadata"]["labels"],
            edge_namespace,
            6379,
        )
    # seeded: the retired edge's namespace no longer reaches anything on the default edge
    assert not _ingress_allowed(cloud, ACME_SOLVER_LABELS, EDGE_NAMESPACES["ingress-nginx"], ACME_SOLVER_PORT)


def test_acme_solver_policy_selects_only_solver_pods(cloud: Rendered, nginx_cloud: Rendered) -> None:
    for env, edge_namespace in _edges(cloud, nginx_cloud):
        policy = env.get("NetworkPolicy", "todo-app-acme-http01-solver")
        assert policy["spec"]["podSelector"] == {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}}
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        assert _pods_selected(env, policy["spec"]["podSelector"]) == set()
        (rule,) = policy["spec"]["ingress"]
        assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": edge_namespace}}}]
        assert _ports(rule) == {("TCP", ACME_SOLVER_PORT)}


def test_no_acme_solver_policy_without_cert_manager(base: Rendered) -> None:
    assert base.values["ingress"]["clusterIssuer"] == ""
    assert "todo-app-acme-http01-solver" not in base.names("NetworkPolicy")
