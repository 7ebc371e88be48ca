"""platform: pinned add-ons in their namespaces, cluster looked up by name, bootstrap chart after CRDs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from preflight.render import inline_values
from tests.synth import Synth
from todo_infra import yamlload
from todo_infra.access import ACCESS_RELEASE
from todo_infra.addons import ADDONS, LOG_SHIPPERS, Addon

SEED_NAMESPACES = {
    "envoy-gateway": "envoy-gateway-system",
    "cert-manager": "cert-manager",
    "dapr": "dapr-system",
    "kube-prometheus-stack": "monitoring",
    "loki": "monitoring",
    "alloy": "monitoring",
    "metrics-server": "kube-system",
}
#: Per add-on, where its values give every container explicit requests (keys checked against upstream values).


def static_values(release: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = yamlload.load(release["values"][0])
    return parsed


def dig(values: Any, path: str) -> Any:
    for key in path.split("."):
        values = values[int(key)] if isinstance(values, list) else values[key]
    return values


@pytest.fixture(scope="module")
def releases(synth: Synth) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in synth.resources("platform", "helm_release").values()}


@pytest.fixture(scope="module")
def nginx_releases(variant: Synth) -> dict[str, dict[str, Any]]:
    """The variant's platform releases: the retired ingress-nginx edge (TODO_EDGE=ingress-nginx)."""
    return {r["name"]: r for r in variant.resources("platform", "helm_release").values()}


@pytest.fixture(scope="module")
def every_release(releases: dict[str, dict[str, Any]], variant: Synth) -> dict[str, dict[str, Any]]:
    """The default's releases and those only the variant deploys (Promtail, the log shipper it selects)."""
    return {**{r["name"]: r for r in variant.resources("platform", "helm_release").values()}, **releases}


def test_cluster_is_looked_up_by_name_from_cluster_stack_outputs(synth: Synth) -> None:
    lookup = synth.one("platform", "digitalocean_kubernetes_cluster", data=True)
    assert lookup["name"] == "${data.terraform_remote_state.state-cluster.outputs.cluster_name}"


def test_kubernetes_and_helm_providers_are_configured_from_the_lookup(synth: Synth) -> None:
    providers = synth.stacks["platform"]["provider"]
    for config in (providers["kubernetes"][0], providers["helm"][0]["kubernetes"]):
        assert set(config) == {"host", "token", "cluster_ca_certificate"}
        for value in config.values():
            assert "data.digitalocean_kubernetes_cluster." in value, "credentials must come from the per-run lookup"
        assert "config_path" not in config


def test_every_addon_is_pinned_into_its_seed_namespace(
    releases: dict[str, dict[str, Any]], nginx_releases: dict[str, dict[str, Any]]
) -> None:
    """The default edge's add-ons, and the variant's: the retired edge in place of Envoy Gateway, Promtail in place
    of Alloy (tests/synth.py)."""
    nginx = {**SEED_NAMESPACES, "ingress-nginx": "ingress-nginx", "promtail": SEED_NAMESPACES["alloy"]}
    del nginx["envoy-gateway"], nginx["alloy"]
    for found, expected in ((releases, SEED_NAMESPACES), (nginx_releases, nginx)):
        addons = {name: r for name, r in found.items() if name not in ("cluster-bootstrap", ACCESS_RELEASE)}
        assert {name: r["namespace"] for name, r in addons.items()} == expected
        for name, release in addons.items():
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", release["version"]), f"{name} is not pinned to an exact version"
            assert release["repository"].startswith(("https://", "oci://"))
            assert release["atomic"] is True and release["wait"] is True


def test_addon_namespaces_are_created_before_their_releases(synth: Synth) -> None:
    namespaces = {ns["metadata"]["name"] for ns in synth.resources("platform", "kubernetes_namespace_v1").values()}
    app_namespaces = {"staging", "production"}  # the app environments', with their identities (todo_infra/access.py)
    assert namespaces == set(SEED_NAMESPACES.values()) - {"kube-system"} | app_namespaces, "kube-system exists"


@pytest.mark.parametrize("addon", ADDONS, ids=lambda addon: addon.release)
def test_every_addon_container_gets_explicit_requests(every_release: dict[str, dict[str, Any]], addon: Addon) -> None:
    """Every container of the add-on's pod model (todo_infra/addons.py), transient ones included."""
    assert addon.pods, f"{addon.release} has no pod model"
    values = inline_values(every_release[addon.release])
    for pod in addon.pods:
        for path in pod.containers:
            requests = dig(values, path)["requests"]
            assert set(requests) == {"cpu", "memory"}, f"{addon.release}: {path}.requests"


def test_ingress_load_balancer_has_hostname_for_http01_self_checks(nginx_releases: dict[str, dict[str, Any]]) -> None:
    controller = yamlload.load(nginx_releases["ingress-nginx"]["values"][1])["controller"]
    assert controller["service"]["annotations"] == {
        "service.beta.kubernetes.io/do-loadbalancer-name": "hackathon-todo-ingress",
        "service.beta.kubernetes.io/do-loadbalancer-hostname": "todo.todo-demo.dev",
    }
    assert controller["ingressClassResource"] == {"name": "nginx"}


def test_gateway_load_balancer_has_its_own_name_and_the_hairpin_hostname(
    releases: dict[str, dict[str, Any]],
) -> None:
    """Envoy Gateway's proxies get the annotations through the default EnvoyProxy spec; the name differs from
    ingress-nginx's so that, while both run during a cut-over, the platform reads the Gateway's address."""
    values = yamlload.load(releases["envoy-gateway"]["values"][1])
    service = values["config"]["envoyGateway"]["envoyProxy"]["provider"]["kubernetes"]["envoyService"]
    assert service["annotations"] == {
        "service.beta.kubernetes.io/do-loadbalancer-name": "hackathon-todo-gateway",
        "service.beta.kubernetes.io/do-loadbalancer-hostname": "todo.example.com",
    }


def test_the_edge_namespace_is_pod_security_restricted(synth: Synth) -> None:
    namespace = synth.resources("platform", "kubernetes_namespace_v1")["namespace-envoy-gateway-system"]
    labels = namespace["metadata"]["labels"]
    assert {labels[f"pod-security.kubernetes.io/{mode}"] for mode in ("enforce", "audit", "warn")} == {"restricted"}
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.35"


def test_the_edge_not_selected_is_forgotten_never_destroyed(synth: Synth, variant: Synth) -> None:
    """`removed` blocks for the other edge's release and namespace, at the very addresses that edge synthesizes:
    a stale address would let a switch destroy the load balancer DNS points at (seeded: the addresses are
    compared with the other synth's)."""
    for selected, other in ((synth, variant), (variant, synth)):
        forgotten = {block["from"] for block in selected.stacks["platform"].get("removed", [])}
        edge_addresses = {
            f"{kind}.{name}"
            for kind in ("helm_release", "kubernetes_namespace_v1")
            for name in other.stacks["platform"]["resource"][kind]
            if "ingress-nginx" in name or "envoy-gateway" in name
        }
        assert edge_addresses and edge_addresses <= forgotten
        assert all(block["lifecycle"] == {"destroy": False} for block in selected.stacks["platform"].get("removed", []))
        own = {f"{kind}.{name}" for kind, items in selected.stacks["platform"]["resource"].items() for name in items}
        assert not own & forgotten


def test_cert_manager_installs_its_crds(releases: dict[str, dict[str, Any]]) -> None:
    assert static_values(releases["cert-manager"])["crds"]["enabled"] is True


def test_prometheus_selects_monitors_and_rules_from_every_namespace(releases: dict[str, dict[str, Any]]) -> None:
    spec = static_values(releases["kube-prometheus-stack"])["prometheus"]["prometheusSpec"]
    for selector in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{selector}SelectorNilUsesHelmValues"] is False


def test_loki_is_monolithic_on_filesystem_with_small_caches(releases: dict[str, dict[str, Any]]) -> None:
    values = static_values(releases["loki"])
    assert values["deploymentMode"] == "Monolithic"
    assert values["loki"]["storage"]["type"] == "filesystem"
    assert values["singleBinary"]["persistence"]["enabled"] is True
    assert values["chunksCache"]["enabled"] is False, "default chunks cache requests ~9.8 GiB"
    assert values["resultsCache"]["enabled"] is False
    assert all(values[target]["replicas"] == 0 for target in ("read", "write", "backend"))


def test_grafana_recreates_its_pod_because_its_volume_is_read_write_once(
    releases: dict[str, dict[str, Any]],
) -> None:
    """A rolling update would start the new pod while the old one holds the volume: it never attaches."""
    grafana = static_values(releases["kube-prometheus-stack"])["grafana"]
    assert grafana["persistence"]["accessModes"] == ["ReadWriteOnce"]
    assert grafana["deploymentStrategy"] == {"type": "Recreate"}


def test_promtail_ships_to_loki(every_release: dict[str, dict[str, Any]]) -> None:
    clients = static_values(every_release["promtail"])["config"]["clients"]
    assert [c["url"] for c in clients] == ["http://loki.monitoring.svc.cluster.local:3100/loki/api/v1/push"]
    assert any("loki" in dep for dep in every_release["promtail"]["depends_on"])


def test_grafana_and_alertmanager_read_the_secrets_the_stack_writes(
    synth: Synth, releases: dict[str, dict[str, Any]]
) -> None:
    kps = releases["kube-prometheus-stack"]
    values = inline_values(kps)
    assert "adminPassword" not in values["grafana"], "never a chart-default password"
    assert "config" not in values["alertmanager"], "no Alertmanager configuration in values: the webhook is secret"
    written = {s["metadata"]["name"]: s for s in synth.resources("platform", "kubernetes_secret_v1").values()}
    admin = values["grafana"]["admin"]
    grafana = written[admin["existingSecret"]]
    assert set(grafana["data_wo"]) == {admin["userKey"], admin["passwordKey"]}
    assert grafana["data_wo"][admin["passwordKey"]] == "${var.grafana_admin_password}"
    spec = values["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True
    alertmanager = written[spec["configSecret"]]
    assert list(alertmanager["data_wo"]) == ["alertmanager.yaml"]
    assert "templatefile(" in alertmanager["data_wo"]["alertmanager.yaml"]
    assert "var.alertmanager_slack_webhook_url" in alertmanager["data_wo"]["alertmanager.yaml"]
    assert {"monitoring-secrets_grafana-admin", "monitoring-secrets_alertmanager-config"} <= {
        dep.split(".")[1].rsplit("_", 1)[0] for dep in kps["depends_on"]
    }


def test_bootstrap_chart_installs_after_cert_manager_and_dapr(
    synth: Synth, releases: dict[str, dict[str, Any]]
) -> None:
    bootstrap = releases["cluster-bootstrap"]
    assert bootstrap["chart"].startswith("assets/")
    needs = " ".join(bootstrap["depends_on"])
    assert "cert-manager" in needs and "dapr" in needs
    values = yamlload.load(bootstrap["values"][0])
    assert values["clusterIssuer"] == {"name": "letsencrypt-prod", "email": "ops@example.com", "ingressClass": "envoy"}
    assert "envoy-gateway" in needs, "the Gateway API CRDs arrive with Envoy Gateway's chart"
    assert values["gateway"] == {
        "className": "envoy",
        "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
        "name": "todo",
        "namespace": "envoy-gateway-system",
        "listeners": [
            {
                "namespace": namespace,
                "host": host,
                "http": f"http-{namespace}",
                "https": f"https-{namespace}",
                "tlsSecretName": "todo-app-tls",
            }
            for namespace, host in (("staging", "staging.todo.example.com"), ("production", "todo.example.com"))
        ],
    }
    assert (
        synth.outdir / "stacks" / "platform" / bootstrap["chart"] / "templates" / "cert-manager-issuer.yaml"
    ).is_file()


def test_dns_records_only_when_the_domain_is_on_digitalocean(synth: Synth, variant: Synth) -> None:
    assert synth.resources("platform", "digitalocean_record") == {}
    records = {r["name"]: r for r in variant.resources("platform", "digitalocean_record").values()}
    assert set(records) == {"todo", "staging.todo"}
    for record in records.values():
        assert (record["type"], record["domain"]) == ("A", "todo-demo.dev")
        assert record["value"] == "${data.digitalocean_loadbalancer.ingress-load-balancer.ip}"


def test_outputs_name_what_the_app_stacks_need(synth: Synth, variant: Synth) -> None:
    assert variant.stacks["platform"]["output"]["ingress_class"]["value"] == "nginx"
    outputs = synth.stacks["platform"]["output"]
    assert outputs["ingress_class"]["value"] == "envoy"
    assert outputs["cluster_issuer"]["value"] == "letsencrypt-prod"
    assert "load_balancer_ip" in outputs


# --- who waits when nodes are short, and what a drain may take ------------------------------------------------


def test_priority_classes_rank_platform_over_production_over_staging(synth: Synth) -> None:
    classes = {c["metadata"]["name"]: c for c in synth.resources("platform", "kubernetes_priority_class_v1").values()}
    assert list(classes) == ["todo-platform", "todo-production", "todo-staging"]
    values = [classes[name]["value"] for name in classes]
    assert values == sorted(values, reverse=True) and len(set(values)) == 3
    assert not any(c["global_default"] for c in classes.values())


def test_every_addon_pod_gets_its_priority_class_before_it_is_created(
    every_release: dict[str, dict[str, Any]],
) -> None:
    """Each pod's priorityClassName key (read from the chart's templates at the pinned tag) carries the class, and
    every release whose pods name a class of the platform's depends on the classes (each edge as it is selected)."""
    for addon in ADDONS:
        values = inline_values(every_release[addon.release])
        for pod in addon.pods:
            assert dig(values, pod.priority) == addon.priority_class, f"{addon.release}/{pod.name}"
    own = {addon.release for addon in ADDONS if addon.priority_class == "todo-platform"}
    shippers = {addon.release for addon in LOG_SHIPPERS.values()}
    for name in own - shippers:  # the log shipper waits for loki, which waits for the classes
        assert any("kubernetes_priority_class_v1" in d for d in every_release[name]["depends_on"]), name
    assert {a.release: a.priority_class for a in ADDONS}["metrics-server"] == "system-cluster-critical"


def test_dapr_control_plane_survives_a_concurrent_drain(synth: Synth, releases: dict[str, dict[str, Any]]) -> None:
    """Two replicas of the operator, sentry and injector, each with a budget of one unavailable pod; the
    scheduler's three members have the chart's own budget."""
    values = inline_values(releases["dapr"])
    assert values["global"]["ha"]["enabled"] is False
    for component in ("dapr_operator", "dapr_sentry", "dapr_sidecar_injector"):
        assert values[component]["replicaCount"] == 2, component
    budgets = synth.resources("platform", "kubernetes_pod_disruption_budget_v1").values()
    assert {
        b["metadata"]["name"]: (b["metadata"]["namespace"], b["spec"]["max_unavailable"], b["spec"]["selector"])
        for b in budgets
    } == {
        app: ("${kubernetes_namespace_v1.namespace-dapr-system.metadata[0].name}", "1", {"match_labels": {"app": app}})
        for app in ("dapr-operator", "dapr-sentry", "dapr-sidecar-injector")
    }


def test_kube_state_metrics_exports_the_dapr_annotation(releases: dict[str, dict[str, Any]]) -> None:
    values = static_values(releases["kube-prometheus-stack"])
    assert values["kube-state-metrics"]["metricAnnotationsAllowList"] == ["pods=[dapr.io/enabled]"]


def test_the_platform_owns_the_app_namespaces_with_restricted_pod_security(synth: Synth) -> None:
    for namespace in ("staging", "production"):
        created = synth.namespace(namespace)
        assert created["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        assert created["lifecycle"]["prevent_destroy"] is True


def test_the_environment_identities_are_released_after_their_namespaces(synth: Synth) -> None:
    access = synth.release("platform", ACCESS_RELEASE)
    assert access["namespace"] == "kube-system", "its record is out of every app identity's reach"
    assert {"kubernetes_namespace_v1.namespace-staging", "kubernetes_namespace_v1.namespace-production"} <= set(
        access["depends_on"]
    )
    values = yamlload.load(access["values"][0])
    assert values["environments"] == [
        {"namespace": "staging", "tokenGeneration": 1},
        {"namespace": "production", "tokenGeneration": 1},
    ]
