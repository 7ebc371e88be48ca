"""The default edge (docs/architecture.md, "Edge"): the app's routes as Gateway API objects attached to the platform's
Gateway — one HTTPRoute per environment with the four paths, SSE never cut, an HTTP→HTTPS redirect, the Certificate
and the ReferenceGrant that let the Gateway terminate TLS with the namespace's own Secret — validated against the
Gateway API and cert-manager schemas."""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import pytest

from preflight.render import render_bootstrap_release
from tests.chart.chart_support import Rendered, release_values, render
from tests.chart.crd_schemas import crd_errors
from tests.chart.test_chart_ingress import SEED_ROUTES
from tests.synth import Synth
from todo_infra.contracts import EDGE_NAMESPACES, GATEWAY_NAME, gateway_listener

GATEWAY_NAMESPACE = EDGE_NAMESPACES["envoy-gateway"]
EDGE_KINDS = ("HTTPRoute", "ReferenceGrant", "Certificate")


def _paths(route: dict[str, Any]) -> dict[str, tuple[str, int, str]]:
    return {
        rule["matches"][0]["path"]["value"]: (
            rule["backendRefs"][0]["name"],
            rule["backendRefs"][0]["port"],
            rule["timeouts"]["request"],
        )
        for rule in route["spec"]["rules"]
    }


def test_one_route_carries_the_four_paths_to_their_services(cloud: Rendered, base: Rendered) -> None:
    for env in (cloud, base):
        assert env.of_kind("Ingress") == []
        route = env.get("HTTPRoute", "todo-app")
        assert {path: backend[:2] for path, backend in _paths(route).items()} == SEED_ROUTES
        assert all(rule["matches"][0]["path"]["type"] == "PathPrefix" for rule in route["spec"]["rules"])


def test_sse_stays_open_and_other_paths_get_a_minute(cloud: Rendered) -> None:
    """Envoy cuts a route at 15 s by default; "0s" disables the request timeout (and Envoy Gateway's stream idle
    timeout with it), so an event stream on /sse/ stays open. Every other path gets 60 s."""
    timeouts = {path: backend[2] for path, backend in _paths(cloud.get("HTTPRoute", "todo-app")).items()}
    assert timeouts == {"/": "60s", "/api/": "60s", "/sse/": "0s", "/mcp/": "60s"}


def test_routes_attach_to_their_namespaces_listeners_for_their_host(cloud: Rendered) -> None:
    host = cloud.values["ingress"]["host"]
    assert host == {"staging": "staging.todo.example.com", "production": "todo.example.com"}[cloud.namespace]
    parent = {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": GATEWAY_NAME,
        "namespace": GATEWAY_NAMESPACE,
    }
    route = cloud.get("HTTPRoute", "todo-app")
    assert route["spec"]["hostnames"] == [host]
    assert route["spec"]["parentRefs"] == [{**parent, "sectionName": gateway_listener("https", cloud.namespace)}]
    redirect = cloud.get("HTTPRoute", "todo-app-https-redirect")
    assert redirect["spec"]["hostnames"] == [host]
    assert redirect["spec"]["parentRefs"] == [{**parent, "sectionName": gateway_listener("http", cloud.namespace)}]
    assert redirect["spec"]["rules"] == [
        {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}
    ]


def test_the_certificate_stays_in_the_namespace_and_only_the_gateway_may_read_it(cloud: Rendered) -> None:
    host = cloud.values["ingress"]["host"]
    certificate = cloud.get("Certificate", "todo-app-tls")
    assert certificate["spec"] == {
        "secretName": "todo-app-tls",
        "dnsNames": [host],
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt-prod"},
    }
    grant = cloud.get("ReferenceGrant", "todo-app-tls-to-gateway")
    assert grant["spec"] == {
        "from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": GATEWAY_NAMESPACE}],
        "to": [{"group": "", "kind": "Secret", "name": "todo-app-tls"}],
    }


def test_local_development_has_no_tls(base: Rendered) -> None:
    """Without a ClusterIssuer: plain HTTP on the namespace's http listener, no certificate, grant or redirect."""
    route = base.get("HTTPRoute", "todo-app")
    assert route["spec"]["parentRefs"][0]["sectionName"] == gateway_listener("http", "default")
    assert {d["kind"] for d in base.manifests} & {"Certificate", "ReferenceGrant"} == set()
    assert base.names("HTTPRoute") == {"todo-app"}


def test_edge_objects_are_schema_valid(cloud: Rendered, base: Rendered) -> None:
    documents = [d for env in (cloud, base) for d in env.manifests if d["kind"] in EDGE_KINDS]
    assert {d["kind"] for d in documents} == set(EDGE_KINDS)
    for doc in documents:
        assert crd_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


def test_schema_validation_catches_a_bad_route(production: Rendered) -> None:
    """Seeded failure: a timeout Gateway API cannot parse, and a path match type it does not know, are refused."""
    route = copy.deepcopy(production.get("HTTPRoute", "todo-app"))
    route["spec"]["rules"][0]["timeouts"]["request"] = "1 hour"
    route["spec"]["rules"][1]["matches"][0]["path"]["type"] = "Glob"
    errors = crd_errors(route)
    assert any("timeouts/request" in error or "request" in error for error in errors), errors
    assert any("type" in error for error in errors), errors


@pytest.mark.parametrize(
    ("override", "refusal"),
    [
        ({"edge": "traefik"}, "at '/ingress/edge'"),
        ({"streamingTimeout": "forever"}, "at '/ingress/streamingTimeout'"),
        ({"gateway": {"name": "Todo", "namespace": GATEWAY_NAMESPACE}}, "at '/ingress/gateway/name'"),
    ],
)
def test_the_chart_refuses_a_bad_edge_value(
    chart: helm.Chart, sets: dict[str, str], override: dict[str, Any], refusal: str
) -> None:
    values = release_values("production", sets)
    values["ingress"] = {**values["ingress"], **override}
    with pytest.raises(Exception, match=refusal):
        render(chart, values, "production")


def test_the_edge_policy_admits_the_gateway_namespace_to_the_routed_services(cloud: Rendered) -> None:
    policy = cloud.get("NetworkPolicy", "todo-app-from-edge")
    assert policy["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": GATEWAY_NAMESPACE}}}
    ]
    routed = {name.removeprefix("todo-app-") for name, _ in SEED_ROUTES.values()}
    assert set(policy["spec"]["podSelector"]["matchExpressions"][0]["values"]) == routed


def test_the_bootstrap_chart_renders_one_gateway_with_a_listener_pair_per_environment(synth: Synth) -> None:
    documents = render_bootstrap_release(synth).manifests
    (gateway_class,) = [d for d in documents if d["kind"] == "GatewayClass"]
    (gateway,) = [d for d in documents if d["kind"] == "Gateway"]
    assert gateway_class["metadata"]["name"] == gateway["spec"]["gatewayClassName"] == "envoy"
    assert gateway_class["spec"]["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
    assert (gateway["metadata"]["namespace"], gateway["metadata"]["name"]) == (GATEWAY_NAMESPACE, GATEWAY_NAME)
    listeners = {item["name"]: item for item in gateway["spec"]["listeners"]}
    assert set(listeners) == {"http-staging", "https-staging", "http-production", "https-production"}
    for namespace, host in (("staging", "staging.todo.example.com"), ("production", "todo.example.com")):
        only_this_namespace = {
            "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
            "namespaces": {"from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
        }
        http, https = listeners[f"http-{namespace}"], listeners[f"https-{namespace}"]
        assert (http["protocol"], http["port"], http["hostname"]) == ("HTTP", 80, host)
        assert (https["protocol"], https["port"], https["hostname"]) == ("HTTPS", 443, host)
        assert http["allowedRoutes"] == https["allowedRoutes"] == only_this_namespace
        assert https["tls"] == {
            "mode": "Terminate",
            "certificateRefs": [{"group": "", "kind": "Secret", "name": "todo-app-tls", "namespace": namespace}],
        }
    (issuer,) = [d for d in documents if d["kind"] == "ClusterIssuer"]
    assert issuer["spec"]["acme"]["solvers"] == [
        {
            "http01": {
                "gatewayHTTPRoute": {
                    "parentRefs": [
                        {
                            "group": "gateway.networking.k8s.io",
                            "kind": "Gateway",
                            "name": GATEWAY_NAME,
                            "namespace": GATEWAY_NAMESPACE,
                        }
                    ]
                }
            }
        }
    ]
    for doc in (gateway_class, gateway, issuer):
        assert crd_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


def test_the_ingress_nginx_edge_renders_no_gateway_and_solves_with_its_class(variant: Synth) -> None:
    documents = render_bootstrap_release(variant).manifests
    assert [d["kind"] for d in documents if d["kind"] in ("Gateway", "GatewayClass")] == []
    (issuer,) = [d for d in documents if d["kind"] == "ClusterIssuer"]
    assert issuer["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
