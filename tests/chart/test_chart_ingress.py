"""Ingress on the retired ingress-nginx edge (docs/architecture.md, "Ingress"): host per environment, path routing,
TLS via cert-manager, SSE settings on /sse/. Rendered with the variant's release values (TODO_EDGE=ingress-nginx)."""

from __future__ import annotations

from tests.chart.chart_support import Rendered

SEED_ROUTES = {
    "/": ("todo-app-frontend", 3000),
    "/api/": ("todo-app-backend", 8000),
    "/sse/": ("todo-app-sse-gateway", 8003),
    "/mcp/": ("todo-app-mcp", 8001),
}
SSE_BUFFERING = "nginx.ingress.kubernetes.io/proxy-buffering"
SSE_READ_TIMEOUT = "nginx.ingress.kubernetes.io/proxy-read-timeout"


def _routes(env: Rendered) -> dict[str, tuple[str, int]]:
    routes: dict[str, tuple[str, int]] = {}
    for ingress in env.of_kind("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert path["path"] not in routes
                routes[path["path"]] = (backend["name"], backend["port"]["number"])
    return routes


def test_paths_route_to_the_seed_services(nginx_cloud: Rendered, nginx_base: Rendered) -> None:
    assert _routes(nginx_cloud) == SEED_ROUTES
    assert _routes(nginx_base) == SEED_ROUTES


def test_the_ingress_nginx_edge_renders_no_gateway_api_objects(nginx_cloud: Rendered) -> None:
    assert nginx_cloud.values["ingress"]["edge"] == "ingress-nginx"
    assert [
        d["kind"] for d in nginx_cloud.manifests if d["kind"] in ("HTTPRoute", "ReferenceGrant", "Certificate")
    ] == []


def test_hosts_class_and_tls_per_environment(nginx_cloud: Rendered) -> None:
    prefix = {"staging": "staging.todo.", "production": "todo."}[nginx_cloud.namespace]
    host = nginx_cloud.values["ingress"]["host"]
    assert host.startswith(prefix)
    for ingress in nginx_cloud.of_kind("Ingress"):
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert [rule["host"] for rule in ingress["spec"]["rules"]] == [host]
        assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "todo-app-tls"}]
    main = nginx_cloud.get("Ingress", "todo-app")
    assert main["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    # One Certificate per TLS secret: only the main Ingress asks cert-manager.
    sse = nginx_cloud.get("Ingress", "todo-app-sse")
    assert "cert-manager.io/cluster-issuer" not in sse["metadata"]["annotations"]


def test_local_defaults_have_no_tls(nginx_base: Rendered) -> None:
    for ingress in nginx_base.of_kind("Ingress"):
        assert "tls" not in ingress["spec"]
        assert "cert-manager.io/cluster-issuer" not in ingress["metadata"].get("annotations", {})


def test_sse_settings_apply_to_the_sse_path_only(nginx_cloud: Rendered) -> None:
    sse = nginx_cloud.get("Ingress", "todo-app-sse")
    assert [p["path"] for p in sse["spec"]["rules"][0]["http"]["paths"]] == ["/sse/"]
    assert sse["metadata"]["annotations"][SSE_BUFFERING] == "off"
    assert int(sse["metadata"]["annotations"][SSE_READ_TIMEOUT]) >= 3600
    main = nginx_cloud.get("Ingress", "todo-app")
    assert SSE_BUFFERING not in main["metadata"]["annotations"]
    assert SSE_READ_TIMEOUT not in main["metadata"]["annotations"]


def test_every_backend_names_a_rendered_service_and_port(nginx_cloud: Rendered) -> None:
    for name, port in _routes(nginx_cloud).values():
        service = nginx_cloud.get("Service", name)
        assert port in {p["port"] for p in service["spec"]["ports"]}
