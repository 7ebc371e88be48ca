"""NetworkPolicies: default deny, then only the flows the app needs."""

from __future__ import annotations

from typing import Any

from preflight.admission import selects
from tests.chart.chart_support import SERVICES, Rendered, fullname
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
    assert _ports(rule) == {("TCP", 9090), ("TCP", 8000), ("TCP", 8002), ("TCP", 8003)}


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


def test_egress_allows_dns_dapr_kafka_and_postgres_only(rendered: Rendered) -> None:
    policy = rendered.get("NetworkPolicy", "todo-app-egress")
    dns, dapr, external = policy["spec"]["egress"]
    assert dns["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "kube-system"
    assert _ports(dns) == {("UDP", 53), ("TCP", 53)}
    assert dapr["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "dapr-system"
    assert external["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "10.0.0.0/8" in external["to"][0]["ipBlock"]["except"]
    assert _ports(external) == {("TCP", 9092), ("TCP", 5432), ("TCP", 443)}


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
