"""Each check fails, naming the cause, on a fault built here; and passes on the unmodified inputs."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from preflight.capacity import check_capacity, check_node_loss, gather_consumers, node_pool, pool_node_size
from preflight.consistency import check_consistency
from preflight.cost import check_cost
from preflight.policy import ROOT, check_policy, unexplained_skips
from preflight.render import RenderedRelease, render_app_release
from preflight.report import load_config
from preflight.synth import Synthesized
from preflight.terraform import check_terraform
from tests.synth import Synth
from todo_infra import yamlload
from todo_infra.app_secrets import dapr_app_token_secret
from todo_infra.release import dapr_app_ids

WORKFLOWS = ROOT / ".github" / "workflows"


def edited(synth: Synthesized) -> Synthesized:
    """A copy of the synthesized stacks that a test may change."""
    return dataclasses.replace(synth, stacks=copy.deepcopy(synth.stacks))


def app(apps: list[RenderedRelease], stack: str) -> RenderedRelease:
    return next(release for release in apps if release.stack == stack)


# --- terraform ------------------------------------------------------------------------------------------------


def test_terraform_check_fails_on_a_configuration_terraform_rejects_and_quotes_terraform(
    synth: Synth, tmp_path: Path
) -> None:
    """Seeded failure: the image-tag validation main once had (a `\\.` in the regex), in a copy of the stacks."""
    outdir = tmp_path / "cdktf.out"
    shutil.copytree(synth.outdir, outdir, ignore=shutil.ignore_patterns("assets"))
    path = outdir / synth.manifest["stacks"]["app-staging"]["synthesizedStackPath"]
    stack = json.loads(path.read_text())
    (validation,) = stack["variable"]["image_tag"]["validation"]
    validation["condition"] = validation["condition"].replace("[.]", "\\.")
    path.write_text(json.dumps(stack, indent=2))
    result = check_terraform(dataclasses.replace(synth, outdir=outdir), tmp_path / "scratch")
    assert not result.ok
    assert {row[0]: row[2] for row in result.rows}["app-staging"] == "FAILED"
    assert {row[2] for row in result.rows if row[0] != "app-staging"} == {"ok"}
    assert any(
        p.startswith("app-staging: cdk.tf.json:") and "Invalid variable validation condition" in p
        for p in result.problems
    ), result.problems


def test_terraform_check_passes_on_the_repo(synth: Synth, tmp_path: Path) -> None:
    result = check_terraform(synth, tmp_path)
    assert result.ok, result.problems
    assert len(result.rows) == len(synth.manifest["stacks"])


# --- policy ---------------------------------------------------------------------------------------------------


def test_policy_fails_on_a_privileged_container_and_names_it(
    synth: Synth, apps: list[RenderedRelease], config: dict[str, Any]
) -> None:
    staging = app(apps, "app-staging")
    documents = copy.deepcopy(staging.documents)
    deployment = next(doc for _, doc in documents if doc["metadata"]["name"] == "todo-app-backend")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    bad = dataclasses.replace(staging, documents=documents)
    result = check_policy(synth, [bad], config["policy"], workflows=WORKFLOWS)
    assert not result.ok
    assert any(p.startswith("CKV_K8S_16 ") and "todo-app-backend" in p for p in result.problems), result.problems


def test_an_operators_own_checkov_settings_cannot_skip_a_check(
    synth: Synth,
    apps: list[RenderedRelease],
    config: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seeded: checkov reads `$HOME/.checkov.yaml` and would skip what it names; preflight gives it a home of its own,
    so the privileged container above still fails."""
    (tmp_path / ".checkov.yaml").write_text("skip-check:\n  - CKV_K8S_16\nskip-path:\n  - manifests\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CKV_SKIP_CHECK", "CKV_K8S_16")
    staging = app(apps, "app-staging")
    documents = copy.deepcopy(staging.documents)
    deployment = next(doc for _, doc in documents if doc["metadata"]["name"] == "todo-app-backend")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    result = check_policy(
        synth, [dataclasses.replace(staging, documents=documents)], config["policy"], workflows=WORKFLOWS
    )
    assert any(p.startswith("CKV_K8S_16 ") and "todo-app-backend" in p for p in result.problems), result.problems


def test_policy_fails_on_an_image_without_a_digest_and_names_it(
    synth: Synth, apps: list[RenderedRelease], config: dict[str, Any]
) -> None:
    """Deploy-by-digest is enforced by checkov itself (CKV_K8S_43 is no longer skipped): the release rendered without
    the digests the stack sets fails, naming the workload; Redis loses its pinned digest in the same render."""
    staging = app(apps, "app-staging")
    assert "CKV_K8S_43" not in config["policy"]["skip"]
    documents = copy.deepcopy(staging.documents)
    for _, doc in documents:
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                container["image"] = container["image"].split("@", 1)[0]
    bad = dataclasses.replace(staging, documents=documents)
    result = check_policy(synth, [bad], config["policy"], workflows=WORKFLOWS)
    assert not result.ok
    named = {p.split()[0]: p for p in result.problems if p.startswith("CKV_K8S_43 ")}
    assert named, result.problems
    assert any("todo-app-backend" in p for p in result.problems if p.startswith("CKV_K8S_43 ")), result.problems
    assert any("todo-app-redis" in p for p in result.problems if p.startswith("CKV_K8S_43 ")), result.problems


def test_every_policy_skip_needs_a_written_reason(config: dict[str, Any]) -> None:
    assert unexplained_skips(config["policy"]["skip"]) == []
    assert unexplained_skips({"CKV_K8S_16": "", "CKV_K8S_43": "tags by design"}) == ["CKV_K8S_16"]


# --- consistency ------------------------------------------------------------------------------------------------


def test_consistency_passes_on_the_repo(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    result = check_consistency(synth, apps, bootstrap, config["consistency"])
    assert result.ok, result.problems


def test_a_secret_key_removed_from_the_stack_is_named(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    changed = edited(synth)
    del changed.secret("app-production", "app-secrets")["data_wo"]["OPENAI_API_KEY"]
    result = check_consistency(changed, apps, bootstrap, config["consistency"])
    assert result.problems == [
        "app-production: manifests read app-secrets key OPENAI_API_KEY that the stack does not create"
    ]


def test_a_secret_key_no_manifest_reads_is_named(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    changed = edited(synth)
    changed.secret("app-staging", "app-secrets")["data_wo"]["STRIPE_KEY"] = "${var.stripe_key}"
    result = check_consistency(changed, apps, bootstrap, {"unused_secret_keys": {}})
    assert "app-staging: the stack creates app-secrets key STRIPE_KEY that no manifest reads" in result.problems
    assert "app-staging: the stack creates app-secrets key REDPANDA_SASL_MECHANISM that no manifest reads" in (
        result.problems
    ), "without its written exception, the required key the chart cannot use is reported too"


def test_an_ingress_class_the_controller_does_not_create_is_named(
    variant: Synth, nginx_apps: list[RenderedRelease], nginx_bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    changed = edited(variant)
    release = changed.release("platform", "ingress-nginx")
    values = yamlload.load(release["values"][1])
    values["controller"]["ingressClassResource"]["name"] = "nginx-internal"
    release["values"][1] = yaml.safe_dump(values)
    problems = check_consistency(changed, nginx_apps, nginx_bootstrap, config["consistency"]).problems
    assert "ingress-nginx creates IngressClass 'nginx-internal', the platform outputs 'nginx'" in problems


def test_an_ingress_class_or_issuer_other_than_the_platforms_is_named(
    variant: Synth, nginx_apps: list[RenderedRelease], nginx_bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    assert check_consistency(variant, nginx_apps, nginx_bootstrap, config["consistency"]).ok
    changed = edited(variant)
    changed.stacks["platform"]["output"]["ingress_class"]["value"] = "traefik"
    changed.stacks["platform"]["output"]["cluster_issuer"]["value"] = "letsencrypt-staging"
    problems = check_consistency(changed, nginx_apps, nginx_bootstrap, config["consistency"]).problems
    assert "app-staging: Ingress todo-app uses class 'nginx', the platform creates 'traefik'" in problems
    assert (
        "app-production: Ingress todo-app names cluster issuer 'letsencrypt-prod', the platform creates "
        "'letsencrypt-staging'" in problems
    )
    assert "platform outputs cluster issuer 'letsencrypt-staging' but the bootstrap chart renders " in " ".join(
        problems
    )


# --- the Gateway API edge ------------------------------------------------------------------------------------------


def _with(release: RenderedRelease, edit: Any) -> RenderedRelease:
    """A copy of a rendered release whose documents `edit` may change in place, or remove from the list it gets."""
    documents = copy.deepcopy(release.documents)
    kept = [doc for _, doc in documents]
    edit(kept)
    return dataclasses.replace(
        release, documents=tuple((name, doc) for name, doc in documents if any(doc is k for k in kept))
    )


def _one(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name)


def test_the_default_edge_passes_its_consistency_checks(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    result = check_consistency(synth, apps, bootstrap, config["consistency"])
    assert result.ok, result.problems
    rows = {(row[0], row[1]): row[2] for row in result.rows}
    assert rows[("app-production", "edge / class / issuer")] == "envoy-gateway / envoy / letsencrypt-prod"


def test_an_sse_route_envoy_would_cut_is_named(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    """Seeded failure: /sse/ left at Envoy's default (no timeout set: cut at 15 s), and /api/ at 5 s."""

    def edit(documents: list[dict[str, Any]]) -> None:
        rules = _one(documents, "HTTPRoute", "todo-app")["spec"]["rules"]
        for rule in rules:
            path = rule["matches"][0]["path"]["value"]
            if path == "/sse/":
                del rule["timeouts"]
            if path == "/api/":
                rule["timeouts"]["request"] = "5s"

    staging = _with(app(apps, "app-staging"), edit)
    problems = check_consistency(synth, [staging], bootstrap, config["consistency"]).problems
    assert (
        "app-staging: HTTPRoute todo-app path ['/sse/'] is streaming (SSE) but is cut after Envoy default 15s: "
        "needs 0s (none) or at least 3600s" in problems
    )
    assert "app-staging: HTTPRoute todo-app path ['/api/'] has request timeout 5s, below 15s" in problems


def test_a_route_on_another_environments_listener_is_named(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    """Seeded failure: staging's route attached to production's HTTPS listener, and a listener missing."""

    def edit(documents: list[dict[str, Any]]) -> None:
        route = _one(documents, "HTTPRoute", "todo-app")
        route["spec"]["parentRefs"][0]["sectionName"] = "https-production"
        _one(documents, "HTTPRoute", "todo-app-https-redirect")["spec"]["parentRefs"][0]["sectionName"] = "http-qa"

    staging = _with(app(apps, "app-staging"), edit)
    problems = check_consistency(synth, [staging], bootstrap, config["consistency"]).problems
    assert (
        "app-staging: listener https-production serves 'todo.example.com' to "
        "{'kubernetes.io/metadata.name': 'production'}, not 'staging.todo.example.com' to namespace staging"
    ) in problems
    assert any(
        "HTTPRoute todo-app-https-redirect attaches to envoy-gateway-system/todo listener 'http-qa'" in p
        for p in problems
    )
    assert any(
        "terminates TLS with production/todo-app-tls, the release keeps staging/todo-app-tls" in p for p in problems
    )


def test_a_gateway_that_admits_every_namespace_is_named(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    """Seeded failure: production's listeners admit routes from all namespaces (staging could take its host)."""

    def edit(documents: list[dict[str, Any]]) -> None:
        for listener in _one(documents, "Gateway", "todo")["spec"]["listeners"]:
            if listener["name"].endswith("-production"):
                listener["allowedRoutes"]["namespaces"] = {"from": "All"}

    problems = check_consistency(synth, apps, _with(bootstrap, edit), config["consistency"]).problems
    assert (
        "app-production: listener https-production serves 'todo.example.com' to {}, not 'todo.example.com' to "
        "namespace production" in problems
    )


def test_a_certificate_grant_or_solver_that_does_not_fit_is_named(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    """Seeded failure: no ReferenceGrant, a Certificate for another host, and the HTTP-01 solver through an
    ingress class the cluster does not serve."""

    def edit_app(documents: list[dict[str, Any]]) -> None:
        documents.remove(_one(documents, "ReferenceGrant", "todo-app-tls-to-gateway"))
        _one(documents, "Certificate", "todo-app-tls")["spec"]["dnsNames"] = ["www.example.com"]

    def edit_bootstrap(documents: list[dict[str, Any]]) -> None:
        issuer = next(d for d in documents if d["kind"] == "ClusterIssuer")
        issuer["spec"]["acme"]["solvers"] = [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]

    production = _with(app(apps, "app-production"), edit_app)
    problems = check_consistency(synth, [production], _with(bootstrap, edit_bootstrap), config["consistency"]).problems
    assert "app-production: no ReferenceGrant lets the platform's Gateway read Secret 'todo-app-tls'" in problems
    assert (
        "app-production: expected one Certificate of 'todo.example.com' into 'todo-app-tls' from 'letsencrypt-prod'"
        in problems
    )
    assert (
        "ClusterIssuer letsencrypt-prod answers HTTP-01 through [], not the platform's Gateway "
        "['envoy-gateway-system/todo']" in problems
    )


def test_an_app_release_on_the_other_edge_is_named(
    synth: Synth, nginx_apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    """Seeded failure: app releases rendered for ingress-nginx against a platform that runs Envoy Gateway."""
    problems = check_consistency(synth, nginx_apps, bootstrap, config["consistency"]).problems
    assert "app-staging: the app release routes through edge 'ingress-nginx', the platform runs 'envoy-gateway'" in (
        problems
    )
    assert "app-staging: the app release renders no HTTPRoute" in problems
    assert (
        "app-staging: NetworkPolicy todo-app-from-edge admits ['ingress-nginx'], the edge's proxies run in "
        "'envoy-gateway-system'" in problems
    )


def test_a_missing_values_file_and_a_foreign_namespace_are_named(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    changed = edited(synth)
    release = changed.release("app-staging", "todo-app")
    release["values"][1] = release["values"][1].replace("values-staging.yaml", "values-qa.yaml")
    changed.namespace("staging")["metadata"]["name"] = "stage"
    problems = check_consistency(changed, apps, bootstrap, config["consistency"]).problems
    assert "app-staging: values file values-qa.yaml is missing from the release's chart" in problems
    assert any(p.startswith("app-staging: release installs into 'staging', the platform creates [") for p in problems)


def test_each_app_environment_keeps_state_and_backups_in_buckets_of_its_own(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    rows = check_consistency(synth, apps, bootstrap, config["consistency"]).rows
    (row,) = [row for row in rows if row[1] == "own buckets"]
    assert row == [
        "app-*",
        "own buckets",
        "app-production: hackathon-todo-tfstate-production, hackathon-todo-backups-production; "
        "app-staging: hackathon-todo-tfstate-staging, hackathon-todo-backups-staging",
        "ok",
    ]


def test_seeded_an_app_stack_sharing_a_bucket_is_named(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    """Seeded: staging's state back in the shared bucket, and production's backups in staging's backup bucket."""
    changed = edited(synth)
    changed.stacks["app-staging"]["terraform"]["backend"]["s3"]["bucket"] = "hackathon-todo-tfstate"
    production = app(apps, "app-production")
    values = copy.deepcopy(production.values)
    values["redis"]["backup"]["offsite"]["bucket"] = "hackathon-todo-backups-staging"
    moved = [app(apps, "app-staging"), dataclasses.replace(production, values=values)]
    problems = check_consistency(changed, moved, bootstrap, config["consistency"]).problems
    assert problems == [
        "bucket hackathon-todo-tfstate holds app-staging's state and cluster's state and platform's state: an app "
        "environment's bucket must be its own",
        "bucket hackathon-todo-backups-staging holds app-production's Redis backups and app-staging's Redis backups: "
        "an app environment's bucket must be its own",
    ]


def test_a_dapr_component_name_no_component_has_is_named(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    staging = app(apps, "app-staging")
    documents = copy.deepcopy(staging.documents)
    deployment = next(doc for _, doc in documents if doc["metadata"]["name"] == "todo-app-backend")
    for env in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
        if env["name"] == "DAPR_PUBSUB_NAME":
            env["value"] = "kafka-pubsub"
    changed = [dataclasses.replace(staging, documents=documents), app(apps, "app-production")]
    problems = check_consistency(synth, changed, bootstrap, config["consistency"]).problems
    assert problems == ["app-staging: todo-app-backend sets DAPR_PUBSUB_NAME='kafka-pubsub', not a rendered Component"]


def test_the_dapr_boundaries_hold_on_the_repo(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    rows = check_consistency(synth, apps, bootstrap, config["consistency"]).rows
    dapr_apps = dapr_app_ids()
    for stack in ("app-staging", "app-production"):
        assert [
            stack,
            "Dapr boundaries",
            f"{len(dapr_apps)} app-ids with their own token Secret and Configuration, 0 invocation policies",
            "ok",
        ] in rows


def test_seeded_a_token_secret_the_stack_does_not_write_is_named(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    app_id = dapr_app_ids()[0]
    changed = edited(synth)
    stack = changed.stacks["app-production"]["resource"]["kubernetes_secret_v1"]
    name = next(k for k, v in stack.items() if v["metadata"]["name"] == dapr_app_token_secret(app_id))
    del stack[name]
    problems = check_consistency(changed, apps, bootstrap, config["consistency"]).problems
    assert problems == [
        f"app-production: Dapr app-id {app_id} reads token Secret {dapr_app_token_secret(app_id)!r}, which the stack "
        "does not write with the key 'token' in production"
    ]


def test_seeded_a_policy_naming_an_app_id_of_no_pod_is_named(
    synth: Synth, apps: list[RenderedRelease], bootstrap: RenderedRelease, config: dict[str, Any]
) -> None:
    callee, caller = dapr_app_ids()[0], dapr_app_ids()[1]

    def edit(documents: list[dict[str, Any]]) -> None:
        configuration = _one(documents, "Configuration", f"appconfig-{callee}")
        configuration["spec"]["accessControl"]["policies"] = [
            {"appId": f"{caller}-v2", "namespace": "staging", "trustDomain": "public", "defaultAction": "allow"}
        ]
        deployment = _one(documents, "Deployment", f"todo-app-{caller}")
        del deployment["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-token-secret"]

    changed = [_with(app(apps, "app-staging"), edit), app(apps, "app-production")]
    problems = check_consistency(synth, changed, bootstrap, config["consistency"]).problems
    assert problems == [
        f"app-staging: Configuration appconfig-{callee} admits app-id staging/{caller}-v2, not a Dapr app-id of this "
        "release",
        f"app-staging: Dapr app-id {caller} names no dapr.io/app-token-secret",
    ]


# --- capacity -------------------------------------------------------------------------------------------------


def capacity(synth: Synthesized, apps: list[RenderedRelease]) -> tuple[list[str], dict[str, Any]]:
    consumers, model_problems = gather_consumers(synth, apps)
    low, high = node_pool(synth)
    result = check_capacity(consumers, model_problems, min_nodes=low, max_nodes=high, node=pool_node_size(synth))
    return result.problems, result.figures


def test_capacity_fails_when_a_values_override_requests_too_much_memory_and_names_it(
    synth: Synth, apps: list[RenderedRelease]
) -> None:
    assert capacity(synth, apps)[0] == []
    greedy = render_app_release(
        synth, "app-production", overrides={"services": {"backend": {"resources": {"requests": {"memory": "1536Mi"}}}}}
    )
    problems, figures = capacity(synth, [app(apps, "app-staging"), greedy])
    memory = [p for p in problems if p.startswith("memory requests at min scale")]
    assert len(memory) == 1, problems
    assert "largest consumers: production/todo-app-backend" in memory[0]
    assert figures["min_memory_used_pct"] > 85


def test_losing_a_node_leaves_only_staging_pods_and_one_scheduler_member_waiting(
    synth: Synth, apps: list[RenderedRelease]
) -> None:
    """In every order of arrival and whichever node is lost: the Dapr scheduler's third member waits (one per node,
    two of three keep quorum), the operator, sentry and injector run both replicas, and otherwise only staging's
    pods wait."""
    consumers, _ = gather_consumers(synth, apps)
    result = check_node_loss(consumers, min_nodes=node_pool(synth)[0], node=pool_node_size(synth))
    assert result.problems == []
    assert result.figures["nodes"] == 2
    assert result.figures["waiting_groups"] == ["platform/dapr", "staging"]
    waiting = {row[1]: (row[4], row[5]) for row in result.rows[:-1]}
    assert waiting.pop("platform/dapr/scheduler") == ("1", "one per node: every node runs one")
    assert waiting and all(name.startswith("staging/") for name in waiting)


def test_seeded_without_priority_classes_production_waits_too(synth: Synth, apps: list[RenderedRelease]) -> None:
    """The same pods with no PriorityClass on the apps: staging's are as likely to run as production's."""
    consumers, _ = gather_consumers(synth, apps)
    unranked = [
        dataclasses.replace(c, priority_class="") if c.group in ("staging", "production") else c for c in consumers
    ]
    # Production's pods are listed after staging's here, so the scheduler's order alone decides.
    unranked.sort(key=lambda c: c.group != "staging")
    problems = check_node_loss(unranked, min_nodes=node_pool(synth)[0], node=pool_node_size(synth)).problems
    assert problems and all("production/" in problem for problem in problems)


def test_capacity_fails_when_one_pod_cannot_fit_on_any_node(synth: Synth, apps: list[RenderedRelease]) -> None:
    huge = render_app_release(
        synth, "app-staging", overrides={"services": {"mcp": {"resources": {"requests": {"cpu": "2500m"}}}}}
    )
    problems, _ = capacity(synth, [huge, app(apps, "app-production")])
    assert "staging/todo-app-mcp requests more than one node can offer (2520m, 144Mi)" in problems


def test_capacity_names_an_addon_whose_values_lost_their_requests(
    variant: Synth, nginx_apps: list[RenderedRelease]
) -> None:
    changed = edited(variant)
    release = changed.release("platform", "ingress-nginx")
    values = yamlload.load(release["values"][0])
    del values["controller"]["resources"]
    release["values"][0] = yaml.safe_dump(values)
    problems, _ = capacity(changed, nginx_apps)
    assert "ingress-nginx/controller: values set no controller.resources.requests" in problems


def test_capacity_counts_the_envoy_proxies_and_their_sidecar(synth: Synth, apps: list[RenderedRelease]) -> None:
    """The default edge's pods as the chart values size them: one controller, two proxies of Envoy + the
    shutdown-manager sidecar (whose resources only the deployment patch sets: a seeded loss of it is named)."""
    consumers, problems = gather_consumers(synth, apps)
    assert problems == []
    edge = {c.name: c for c in consumers if c.group == "platform/envoy-gateway"}
    assert {name: (c.cpu_m, c.memory_mib, c.replicas_min, c.priority_class) for name, c in edge.items()} == {
        "controller": (50.0, 128.0, 1, "todo-platform"),
        "proxy": (60.0, 80.0, 2, "todo-platform"),
    }
    changed = edited(synth)
    release = changed.release("platform", "envoy-gateway")
    values = yamlload.load(release["values"][0])
    kubernetes = values["config"]["envoyGateway"]["envoyProxy"]["provider"]["kubernetes"]
    del kubernetes["envoyDeployment"]["patch"]["value"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    release["values"][0] = yaml.safe_dump(values)
    problems, _ = capacity(changed, apps)
    assert (
        "envoy-gateway/proxy: values set no config.envoyGateway.envoyProxy.provider.kubernetes.envoyDeployment.patch"
        ".value.spec.template.spec.containers.0.resources.requests" in problems
    )


def test_a_platform_release_without_a_pod_model_fails_capacity(synth: Synth, apps: list[RenderedRelease]) -> None:
    """Seeded failure: an add-on released by the platform that todo_infra/addons.py gives no pods."""
    changed = edited(synth)
    releases = changed.stacks["platform"]["resource"]["helm_release"]
    releases["external-dns_release"] = {**changed.release("platform", "metrics-server"), "name": "external-dns"}
    problems, _ = capacity(changed, apps)
    assert (
        "platform release external-dns has no pod model in todo_infra/addons.py: capacity and cost cannot count it"
        in problems
    )


def test_a_later_values_document_with_requests_changes_the_answer(synth: Synth, apps: list[RenderedRelease]) -> None:
    """Capacity reads every values document of a release, not only the first: a second document that raises
    Prometheus' memory request shows in the figures and, large enough, fails the check."""
    before = capacity(synth, apps)[1]["min_memory_used_pct"]
    changed = edited(synth)
    release = changed.release("platform", "kube-prometheus-stack")
    override = {"prometheus": {"prometheusSpec": {"resources": {"requests": {"cpu": "200m", "memory": "1536Mi"}}}}}
    release["values"].append(yaml.safe_dump(override))
    problems, figures = capacity(changed, apps)
    node = pool_node_size(synth)
    assert figures["min_memory_used_pct"] == pytest.approx(
        before + 100 * 1024 / (3 * node.allocatable_memory_mib), abs=0.1
    )
    assert any(p.startswith("memory requests at min scale") for p in problems)


# --- cost -----------------------------------------------------------------------------------------------------


def test_cost_names_the_edges_load_balancer(synth: Synth, apps: list[RenderedRelease]) -> None:
    consumers, _ = gather_consumers(synth, apps)
    for edge in ("envoy-gateway", "ingress-nginx"):
        node = pool_node_size(synth)
        rows = check_cost(consumers, min_nodes=3, max_nodes=5, node=node, ha=False, budget=1000.0, edge=edge).rows
        assert [f"load balancer ({edge})", "$12.00", "$12.00"] in rows


def test_cost_is_within_budget_and_fails_above_it(synth: Synth, apps: list[RenderedRelease]) -> None:
    consumers, _ = gather_consumers(synth, apps)
    budget = float(load_config()["cost"]["budget_usd_per_month"])
    node = pool_node_size(synth)
    ok = check_cost(consumers, min_nodes=3, max_nodes=5, node=node, ha=False, budget=budget, edge="envoy-gateway")
    assert ok.ok and ok.figures["usd_per_month_max"] <= budget
    assert ok.figures["usd_per_month_max"] - ok.figures["usd_per_month_min"] == pytest.approx(2 * node.usd_per_month)
    over = check_cost(
        consumers,
        min_nodes=3,
        max_nodes=5,
        node=node,
        ha=True,
        budget=ok.figures["usd_per_month_max"],
        edge="envoy-gateway",
    )
    assert over.figures["usd_per_month_max"] == pytest.approx(ok.figures["usd_per_month_max"] + 40.0)
    assert over.problems == [
        f"maximum-scale estimate ${over.figures['usd_per_month_max']:.2f}/month exceeds the budget "
        f"${ok.figures['usd_per_month_max']:.2f} (preflight/config.yaml)"
    ]


def test_volumes_are_every_pvc_of_platform_and_apps(synth: Synth, apps: list[RenderedRelease]) -> None:
    consumers, _ = gather_consumers(synth, apps)
    # Prometheus 10 + Loki 10 + Grafana 2 + Alertmanager 1 + Dapr scheduler 3 × 1; per environment Redis 1 and its
    # backups 1 (mounted by the backup and the restore CronJobs, counted once).
    assert sum(sum(c.volumes_gib) for c in consumers) == 10 + 10 + 2 + 1 + 3 + 2 * (1 + 1)


def test_config_file_is_the_one_place_for_exceptions() -> None:
    config = yamlload.load(Path(ROOT / "preflight" / "config.yaml").read_text())
    assert set(config) == {"policy", "consistency", "cost"}
    for reason in [*config["policy"]["skip"].values(), *config["consistency"]["unused_secret_keys"].values()]:
        assert len(reason.split()) >= 8, "each exception carries a written reason"


def test_a_checkov_that_cannot_run_is_a_failed_check_not_a_crash(
    synth: Synth, apps: list[RenderedRelease], config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> list[dict[str, Any]]:
        raise RuntimeError("checkov failed (2): unrecognized arguments: --framework terraform_json")

    monkeypatch.setattr("preflight.policy.run_checkov", broken)
    result = check_policy(synth, apps, config["policy"], workflows=WORKFLOWS)
    assert result.problems == [
        "checkov did not run to the end: checkov failed (2): unrecognized arguments: --framework terraform_json",
        "checkov scanned nothing for terraform_json",
        "checkov scanned nothing for kubernetes",
        "checkov scanned nothing for github_actions",
    ]
