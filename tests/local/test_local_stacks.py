"""The local target's stacks as synthesized, loaded by Terraform, and the charts they install as rendered."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from preflight.capacity import Consumer
from preflight.local import (
    _builtin,
    check_local_capacity,
    check_manifests,
    kind_kubernetes_version,
    kind_system_consumers,
    run_local_checks,
)
from preflight.render import RenderedRelease, inline_values
from preflight.terraform import check_terraform
from tests.chart.crd_schemas import can_validate, crd_errors
from tests.synth import Synth, strings
from todo_infra import yamlload
from todo_infra.addons import ADDONS, ENVOY_GATEWAY, INGRESS_NGINX
from todo_infra.app_secrets import dapr_app_token_secret
from todo_infra.chart_values import base_values
from todo_infra.contracts import APP_RELEASE, PLATFORM_STACK, app_stack_id
from todo_infra.deploy_inputs import missing_inputs
from todo_infra.local_cluster import (
    KIND_CONFIG,
    KIND_NODE_IMAGE,
    deploy_inputs,
    load_inputs,
    local_inputs_file,
    local_state_files,
    save_inputs,
    stand_in_digest,
)
from todo_infra.local_stacks import LOCAL_ADDON_VALUES_DIR, local_overlay_file
from todo_infra.local_target import DEFAULT_KUBE_CONTEXT, DEFAULT_KUBECONFIG, LOCAL_CLUSTER_ISSUER, LOCAL_VALUES
from todo_infra.release import dapr_app_ids
from todo_infra.secret_revisions import DIGEST_KEY_ENV, revisions

ROOT = Path(__file__).resolve().parents[2]
LOCAL_STACKS = [PLATFORM_STACK, app_stack_id("staging")]


def test_the_local_target_synthesizes_the_platform_and_one_app_stack_only(local_synth: Synth) -> None:
    assert sorted(local_synth.stacks) == sorted(LOCAL_STACKS)
    assert local_synth.manifest["stacks"][app_stack_id("staging")]["dependencies"] == [PLATFORM_STACK]


def test_no_digitalocean_provider_load_balancer_dns_or_spaces(local_synth: Synth) -> None:
    for stack_id, stack in local_synth.stacks.items():
        assert set(stack["provider"]) == {"kubernetes", "helm"}, stack_id
        assert set(stack["terraform"]["required_providers"]) == {"kubernetes", "helm"}, stack_id
        text = " ".join(strings(stack))
        for cloud_only in ("digitalocean_", "do-loadbalancer", "do-block-storage", "kube_token", "ghcr_token"):
            assert cloud_only not in text, f"{stack_id}: {cloud_only}"
        assert not stack.get("data", {}).get("terraform_remote_state"), stack_id


def test_the_providers_name_a_kubeconfig_and_context_and_hold_no_credential(local_synth: Synth) -> None:
    expected = {"config_path": DEFAULT_KUBECONFIG, "config_context": DEFAULT_KUBE_CONTEXT}
    for stack in local_synth.stacks.values():
        assert stack["provider"]["kubernetes"] == [expected]
        assert stack["provider"]["helm"] == [{"kubernetes": expected}]


def test_state_is_local_and_apart_from_the_cloud_targets(local_synth: Synth) -> None:
    for stack_id, stack in local_synth.stacks.items():
        assert stack["terraform"]["backend"] == {"local": {"path": f"../../../terraform.local.{stack_id}.tfstate"}}


def test_terraform_loads_every_local_stack(local_synth: Synth, tmp_path: Path) -> None:
    result = check_terraform(local_synth, tmp_path)
    assert result.ok, result.problems
    assert sorted(row[0] for row in result.rows) == sorted(LOCAL_STACKS)


def test_every_overlay_names_an_addon_and_is_its_release_s_last_values_document(local_synth: Synth) -> None:
    releases = {r["name"]: r for r in local_synth.resources(PLATFORM_STACK, "helm_release").values()}
    overlays = sorted(path.stem for path in LOCAL_ADDON_VALUES_DIR.glob("*.yaml"))
    assert overlays, "no overlay: the add-ons are not slimmed"
    assert set(overlays) <= {addon.release for addon in ADDONS}, "an overlay for an add-on the platform no longer has"
    # The edge not selected (the retired ingress-nginx by default) keeps its overlay but is not installed.
    installed = [release for release in overlays if release in releases]
    assert set(overlays) - set(installed) <= {INGRESS_NGINX.release}
    for release in installed:
        assert releases[release]["values"][-1] == local_overlay_file(release).read_text(), release


def _kind_host_ports() -> set[int]:
    kind = yamlload.load(KIND_CONFIG.read_text())
    (node,) = kind["nodes"]
    mapped = {m["containerPort"]: m for m in node["extraPortMappings"]}
    assert {m["listenAddress"] for m in mapped.values()} == {"127.0.0.1"}
    return set(mapped)


def test_the_edge_is_a_node_port_on_the_ports_kind_maps_to_the_host(local_synth: Synth) -> None:
    """The default edge: Envoy Gateway's proxy Service, a NodePort whose listener ports 80/443 are patched to the
    node ports kind maps to the host, with no DigitalOcean load balancer annotation."""
    values = inline_values(local_synth.release(PLATFORM_STACK, ENVOY_GATEWAY.release))
    service = values["config"]["envoyGateway"]["envoyProxy"]["provider"]["kubernetes"]["envoyService"]
    assert service["type"] == "NodePort"
    assert "annotations" not in service  # no DigitalOcean load balancer
    ports = {p["port"]: p["nodePort"] for p in service["patch"]["value"]["spec"]["ports"]}
    assert set(ports) == {80, 443}  # the Gateway's listeners (k8s/cluster-bootstrap)
    assert set(ports.values()) == _kind_host_ports()


def test_the_retired_edge_s_overlay_is_a_node_port_on_the_same_ports() -> None:
    edge = yamlload.load(local_overlay_file(INGRESS_NGINX.release).read_text())["controller"]["service"]
    assert edge["type"] == "NodePort"
    assert set(edge["nodePorts"].values()) == _kind_host_ports()


def test_the_app_release_layers_values_local_last(local_synth: Synth) -> None:
    release = local_synth.release(app_stack_id("staging"), APP_RELEASE)
    assert release["values"][-1].endswith(f'/{LOCAL_VALUES}")}}')
    sets = {item["name"]: item["value"] for item in release["set"]}
    assert sets["ingress.clusterIssuer"] == LOCAL_CLUSTER_ISSUER
    assert sets["ingress.host"] == "staging.todo.localhost"
    assert sets["redis.backup.offsite.bucket"] == ""
    assert {s["metadata"]["name"] for s in local_synth.resources(app_stack_id("staging"), "kubernetes_secret_v1")
            .values()} == {"app-secrets", *(dapr_app_token_secret(a) for a in dapr_app_ids())}  # fmt: skip


def test_the_cluster_issuer_is_a_ca_whose_root_cert_manager_keeps(local_bootstrap: RenderedRelease) -> None:
    issuers = {doc["metadata"]["name"]: doc["spec"] for doc in local_bootstrap.of_kind("ClusterIssuer")}
    assert issuers == {f"{LOCAL_CLUSTER_ISSUER}-root": {"selfSigned": {}},
                       LOCAL_CLUSTER_ISSUER: {"ca": {"secretName": f"{LOCAL_CLUSTER_ISSUER}-root"}}}  # fmt: skip
    (root,) = local_bootstrap.of_kind("Certificate")
    assert root["metadata"]["namespace"] == "cert-manager" and root["spec"]["isCA"] is True
    assert root["spec"]["secretName"] == issuers[LOCAL_CLUSTER_ISSUER]["ca"]["secretName"]


def test_every_service_runs_the_stand_in_on_its_own_port_with_probes_it_answers(local_app: RenderedRelease) -> None:
    local = yamlload.load((ROOT / "chart" / LOCAL_VALUES).read_text())
    stand_in = local["global"]["standInImage"]
    assert "@sha256:" in stand_in
    for service, spec in base_values()["services"].items():
        deployment = local_app.get("Deployment", f"{APP_RELEASE}-{service}")
        (app,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == service]
        assert app["image"] == stand_in
        env = {e["name"]: e.get("value") for e in app.get("env", [])}
        assert env["PODINFO_PORT"] == str(spec["port"]), service  # podinfo listens where the Service points
        # podinfo's probes: /readyz and /healthz (github.com/stefanprodan/podinfo, pkg/api/http/server.go).
        assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_volumes_use_the_cluster_default_storage_class(local_app: RenderedRelease) -> None:
    claims = local_app.of_kind("PersistentVolumeClaim")
    assert claims
    assert all("storageClassName" not in claim["spec"] for claim in claims)


def test_the_backup_job_copies_nothing_off_the_cluster(local_app: RenderedRelease) -> None:
    cron = local_app.get("CronJob", f"{APP_RELEASE}-redis-backup")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    names = [c["name"] for c in (*pod.get("initContainers", []), *pod["containers"])]
    assert names and "redis-offsite" not in names
    assert "redis-backup-spaces" not in str(pod)  # no Spaces key is referenced


def test_the_rendered_objects_are_valid_for_kind_s_kubernetes(
    local_app: RenderedRelease, local_bootstrap: RenderedRelease
) -> None:
    version = kind_kubernetes_version()
    assert version in kubernetes_validate.utils.all_versions()
    assert KIND_NODE_IMAGE.startswith(f"kindest/node:v{version}@sha256:")
    result = check_manifests([local_app, local_bootstrap], version)
    assert result.ok, result.problems
    custom = [d for d in (*local_app.manifests, *local_bootstrap.manifests) if "." in d["apiVersion"].split("/")[0]
              and not d["apiVersion"].split("/")[0].endswith(".k8s.io")]  # fmt: skip
    for doc in custom:
        if can_validate(doc["apiVersion"], doc["kind"]):
            assert crd_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


def test_the_manifest_check_catches_an_invalid_object(local_app: RenderedRelease) -> None:
    """Seeded failure: a Deployment with an unknown field is reported for kind's Kubernetes version."""
    broken: dict[str, Any] = {**local_app.get("Deployment", f"{APP_RELEASE}-backend"), "spek": {}}
    bad = RenderedRelease(local_app.stack, local_app.release, local_app.namespace, {}, (("x.yaml", broken),))
    result = check_manifests([bad], kind_kubernetes_version())
    assert not result.ok and "Deployment/todo-app-backend" in result.problems[0]


def test_kind_runs_the_kubernetes_minor_doks_is_pinned_to() -> None:
    minor = json.loads((ROOT / "cdktf.json").read_text())["context"]["kubernetes_minor_prefix"]
    assert kind_kubernetes_version().startswith(minor)


def test_preflight_passes_for_the_local_target(local_synth: Synth) -> None:
    results = {result.name: result for result in run_local_checks(local_synth, lambda _: None)}
    assert [name for name, result in results.items() if not result.ok] == []
    capacity = results["local-capacity"].figures
    assert capacity["memory_pct"] <= 85.0 and capacity["cpu_pct"] <= 85.0


@pytest.mark.parametrize("what", ["memory", "CPU"])
def test_local_capacity_refuses_pods_that_do_not_fit_the_laptop_node(what: str) -> None:
    """Seeded failure: one more pod of 5 GiB (or 3.5 CPUs) than the node holds."""
    big = Consumer("platform/x", "big", 3500.0 if what == "CPU" else 10.0, 10.0 if what == "CPU" else 5120.0, 1, 1)
    result = check_local_capacity([*kind_system_consumers(), big], [])
    assert not result.ok and f"of the laptop node's {what}" in result.problems[0]


def test_the_architecture_notes_state_the_capacity_preflight_computes(local_synth: Synth) -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("## Local target") :].split("\n## ", 1)[0]
    (capacity,) = [r for r in run_local_checks(local_synth, lambda _: None) if r.name == "local-capacity"]
    figures = capacity.figures
    assert f"request {figures['addons_memory_mib']:,.0f} MiB" in section
    assert f"{figures['requested_memory_mib']:,.0f} MiB and {figures['requested_cpu_m']:,.0f}m in all" in section
    assert f"{figures['memory_pct']} % of the node's memory and {figures['cpu_pct']} % of its CPU" in section


def test_helm_lint_reports_nothing_for_the_local_values_on_kind_s_kubernetes(local_app: RenderedRelease) -> None:
    """The chart with the values the local app release installs (values.yaml, values-staging.yaml, values-local.yaml,
    the stack's set keys), linted strictly for the Kubernetes version of kind's node image."""
    report = helm.lint(
        ROOT / "chart", local_app.values, strict=True, namespace=local_app.namespace,
        kube_version=f"v{kind_kubernetes_version()}",
    )  # fmt: skip
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_local_up_gives_the_deploy_every_input_it_needs(local_synth: Synth) -> None:
    """What `local up` adds to its environment leaves no credential or variable missing (the deploy would otherwise
    stop at dev.py's "needs values for"), and the write-only secrets' revisions can be derived from it."""
    stacks = local_synth.stacks
    found = deploy_inputs(stacks, {}, tuple(base_values()["services"]), stand_in_digest())
    assert missing_inputs(stacks, {}), "nothing to give: the check below could not fail"
    assert missing_inputs(stacks, found) == {}
    assert not any(name.startswith(("AWS_", "DIGITALOCEAN_")) for name in found)
    for stack_id, stack in stacks.items():
        derived = set(revisions(stack, found, local_synth.workdir(stack_id)))
        assert derived and derived == {name for name in stack["variable"] if name.endswith("_revision")}, stack_id


def test_a_second_local_up_reuses_the_throwaway_secrets_so_no_pod_rolls(local_synth: Synth, tmp_path: Path) -> None:
    """The e2e upgrade runs `local up` twice: the second must give the same secrets and digest key, hence the same
    revisions on the pod templates (checksum/<secret>), or Redis restarts with a new password in one step. Seeded:
    without the saved inputs every secret, and so every revision, differs."""
    stacks, services, digest = local_synth.stacks, tuple(base_values()["services"]), stand_in_digest()
    first = deploy_inputs(stacks, {}, services, digest)
    saved = tmp_path / "inputs.json"
    save_inputs(saved, first)
    assert saved.stat().st_mode & 0o777 == 0o600
    second = deploy_inputs(stacks, {}, services, digest, saved=load_inputs(saved))
    assert second == first
    fresh = deploy_inputs(stacks, {}, services, digest)
    assert fresh[DIGEST_KEY_ENV] != first[DIGEST_KEY_ENV]
    assert fresh["TF_VAR_redis_password"] != first["TF_VAR_redis_password"]
    for stack_id, stack in stacks.items():
        workdir = local_synth.workdir(stack_id)
        assert revisions(stack, second, workdir) == revisions(stack, first, workdir), stack_id
        if app_stack_id("staging") == stack_id:
            assert revisions(stack, fresh, workdir) != revisions(stack, first, workdir)


def test_the_saved_inputs_are_state_local_down_removes_and_git_ignores(tmp_path: Path) -> None:
    path = local_inputs_file(tmp_path)
    path.write_text("{}")
    assert local_state_files(tmp_path) == [path]
    ignored = subprocess.run(["git", "check-ignore", "-q", path.name], cwd=ROOT, check=False)
    assert ignored.returncode == 0


@pytest.mark.parametrize(
    ("api_version", "builtin"),
    [
        ("v1", True),
        ("apps/v1", True),
        ("networking.k8s.io/v1", True),
        ("rbac.authorization.k8s.io/v1", True),
        # Seeded: CRD groups, one of them under k8s.io (the Gateway API), have no schema in kubernetes-validate.
        ("gateway.networking.k8s.io/v1", False),
        ("gateway.networking.k8s.io/v1beta1", False),
        ("cert-manager.io/v1", False),
        ("monitoring.coreos.com/v1", False),
    ],
)
def test_only_built_in_api_groups_are_validated_as_built_in(api_version: str, builtin: bool) -> None:
    assert _builtin(api_version) is builtin
