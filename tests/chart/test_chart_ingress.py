"""Ingress (docs/architecture.md, "Ingress"): host per environment, path routing, TLS via cert-manager, SSE
settings on /sse/."""

from __future__ import annotations

from tests.chart.chart_support import DOMAIN, Rendered

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


def test_paths_route_to_the_seed_services(rendered: Rendered) -> None:
    assert _routes(rendered) == SEED_ROUTES


def test_hosts_class_and_tls_per_environment(staging: Rendered, production: Rendered) -> None:
    for env, host in (
        (staging, f"staging.todo.{DOMAIN}"),
        (production, f"todo.{DOMAIN}"),
    ):
        for ingress in env.of_kind("Ingress"):
            assert ingress["spec"]["ingressClassName"] == "nginx"
            assert [rule["host"] for rule in ingress["spec"]["rules"]] == [host]
            assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "todo-app-tls"}]
        main = env.get("Ingress", "todo-app")
        assert main["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
        # One Certificate per TLS secret: only the main Ingress asks cert-manager.
        sse = env.get("Ingress", "todo-app-sse")
        assert "cert-manager.io/cluster-issuer" not in sse["metadata"]["annotations"]


def test_local_defaults_have_no_tls(base: Rendered) -> None:
    for ingress in base.of_kind("Ingress"):
        assert "tls" not in ingress["spec"]
        assert "cert-manager.io/cluster-issuer" not in ingress["metadata"].get("annotations", {})


def test_sse_settings_apply_to_the_sse_path_only(rendered: Rendered) -> None:
    sse = rendered.get("Ingress", "todo-app-sse")
    assert [p["path"] for p in sse["spec"]["rules"][0]["http"]["paths"]] == ["/sse/"]
    assert sse["metadata"]["annotations"][SSE_BUFFERING] == "off"
    assert int(sse["metadata"]["annotations"][SSE_READ_TIMEOUT]) >= 3600
    main = rendered.get("Ingress", "todo-app")
    assert SSE_BUFFERING not in main["metadata"]["annotations"]
    assert SSE_READ_TIMEOUT not in main["metadata"]["annotations"]


def test_every_backend_names_a_rendered_service_and_port(rendered: Rendered) -> None:
    for name, port in _routes(rendered).values():
        service = rendered.get("Service", name)
        assert port in {p["port"] for p in service["spec"]["ports"]}
