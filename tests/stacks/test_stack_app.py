"""app-staging / app-production: namespace, the two secrets, and the todo-app release of ./chart."""

from __future__ import annotations

from typing import Any

import pytest

from tests.synth import Synth
from todo_infra import services
from todo_infra.app_secrets import APP_SECRET_KEYS, variable_name
from todo_infra.release import IMAGE_DIGESTS, chart_services, dapr_app_ids
from todo_infra.settings import IMAGE_TAG_PATTERN

ENVIRONMENTS = {
    "app-staging": ("staging", "staging.todo.example.com"),
    "app-production": ("production", "todo.example.com"),
}


def secret(synth: Synth, stack: str, name: str) -> dict[str, Any]:
    return next(s for s in synth.resources(stack, "kubernetes_secret_v1").values() if s["metadata"]["name"] == name)


def chart_values(release: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in release["set"]}


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_the_release_goes_into_the_environment_namespace_the_platform_creates(synth: Synth, stack: str) -> None:
    namespace, _ = ENVIRONMENTS[stack]
    assert synth.release(stack, "todo-app")["namespace"] == namespace
    assert synth.namespace(namespace)["metadata"]["name"] == namespace
    assert "kubernetes_namespace_v1" not in synth.stacks[stack].get("resource", {}), "cluster-scoped: the platform's"


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_providers_act_as_the_environment_identity_from_three_variables(synth: Synth, stack: str) -> None:
    providers = synth.stacks[stack]["provider"]
    assert set(providers) == {"kubernetes", "helm"}
    expected = {
        "host": "${var.kube_endpoint}",
        "cluster_ca_certificate": "${var.kube_ca_certificate}",
        "token": "${var.kube_token}",
    }
    assert providers["kubernetes"] == [expected]
    assert providers["helm"] == [{"kubernetes": expected}]
    variables = synth.stacks[stack]["variable"]
    assert variables["kube_token"]["ephemeral"] is True and variables["kube_token"]["sensitive"] is True
    for name in ("kube_endpoint", "kube_ca_certificate"):
        assert "default" not in variables[name] and "sensitive" not in variables[name], name


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_app_secrets_has_exactly_the_ten_keys_each_from_its_secret_variable(synth: Synth, stack: str) -> None:
    data = secret(synth, stack, "app-secrets")["data_wo"]
    assert sorted(data) == sorted(APP_SECRET_KEYS)
    assert len(data) == 10
    variables = synth.stacks[stack]["variable"]
    for key, value in data.items():
        assert value == f"${{var.{variable_name(key)}}}"
        assert variables[variable_name(key)]["sensitive"] is True
        assert variables[variable_name(key)]["ephemeral"] is True


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_ghcr_pull_secret_is_a_dockerconfigjson_built_from_variables(synth: Synth, stack: str) -> None:
    pull = secret(synth, stack, "ghcr-pull-secret")
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    config = pull["data_wo"][".dockerconfigjson"]
    assert config.startswith("${jsonencode(") and '"ghcr.io"' in config
    assert "var.ghcr_username" in config and "var.ghcr_token" in config


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_release_settings(synth: Synth, stack: str) -> None:
    release = synth.release(stack, "todo-app")
    assert release["max_history"] == 10
    assert release["atomic"] is True and release["cleanup_on_fail"] is True and release["wait"] is True
    assert 300 <= release["timeout"] <= 1200
    assert any("app-secrets" in dep for dep in release["depends_on"])
    assert any("ghcr-pull-secret" in dep for dep in release["depends_on"])


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_release_uses_base_values_then_the_environment_file_from_the_chart_asset(synth: Synth, stack: str) -> None:
    namespace, _ = ENVIRONMENTS[stack]
    release = synth.release(stack, "todo-app")
    chart = release["chart"]
    assert chart.startswith("assets/")
    assert release["values"] == [
        f'${{file("{chart}/values.yaml")}}',
        f'${{file("{chart}/values-{namespace}.yaml")}}',
    ]
    for name in ("Chart.yaml", "values.yaml", f"values-{namespace}.yaml"):
        assert (synth.outdir / "stacks" / stack / chart / name).is_file()


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_release_sets_image_tag_owner_host_and_platform_names(synth: Synth, variant: Synth, stack: str) -> None:
    namespace, host = ENVIRONMENTS[stack]
    assert chart_values(synth.release(stack, "todo-app")) == {
        "global.priorityClassName": f"todo-{namespace}",
        "global.imageTag": "${var.image_tag}",
        **{f"global.imageDigests.{s}": f'${{var.image_digests["{s}"]}}' for s in chart_services()},
        "global.imageOwner": "example-org",
        "ingress.host": host,
        "ingress.edge": "envoy-gateway",
        "ingress.className": "envoy",
        "ingress.gateway.name": "todo",
        "ingress.gateway.namespace": "envoy-gateway-system",
        "networkPolicy.ingressNamespace": "envoy-gateway-system",
        "ingress.clusterIssuer": "letsencrypt-prod",
        "redis.backup.offsite.bucket": f"hackathon-todo-backups-{namespace}",
        "redis.backup.offsite.endpoint": "https://ams3.digitaloceanspaces.com",
        # each Secret's revision, for the pod templates that read it (a keyed digest, never a value)
        "global.secretRevisions.app-secrets": "${var.app_secrets_revision}",
        "global.secretRevisions.ghcr-pull-secret": "${var.ghcr_pull_secret_revision}",
        "global.secretRevisions.redis-backup-spaces": "${var.redis_backup_spaces_revision}",
        **{
            f"global.secretRevisions.dapr-app-token-{app}": f"${{var.dapr_app_token_{app.replace('-', '_')}_revision}}"
            for app in dapr_app_ids()
        },
    }
    overridden = chart_values(variant.release(stack, "todo-app"))
    assert overridden["ingress.host"] == host.replace("example.com", "todo-demo.dev")
    assert overridden["global.imageOwner"] == "acme-apps"
    assert overridden["redis.backup.offsite.bucket"] == f"acme-todo-backups-{namespace}"
    # the variant selects the retired edge: Ingresses of class nginx, reached from ingress-nginx's namespace
    assert (overridden["ingress.edge"], overridden["ingress.className"]) == ("ingress-nginx", "nginx")
    assert overridden["networkPolicy.ingressNamespace"] == "ingress-nginx"


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_release_refuses_a_platform_with_other_ingress_class_or_issuer(
    synth: Synth, variant: Synth, stack: str
) -> None:
    """The edge's class is in the comparison, so an app release for one edge refuses a platform running the other."""
    namespace, _ = ENVIRONMENTS[stack]
    for synthesized, edge_class in ((synth, "envoy"), (variant, "nginx")):
        ((name, facts),) = synthesized.data(stack, "kubernetes_config_map_v1").items()
        assert facts["metadata"] == {"name": "todo-platform", "namespace": namespace}
        (precondition,) = synthesized.release(stack, "todo-app")["lifecycle"]["precondition"]
        condition = precondition["condition"]
        assert f'data.kubernetes_config_map_v1.{name}.data.ingressClass == "{edge_class}"' in condition
        assert f'data.kubernetes_config_map_v1.{name}.data.clusterIssuer == "letsencrypt-prod"' in condition


def test_image_tag_variable_is_validated_with_the_settings_pattern(synth: Synth) -> None:
    """Which tags Terraform accepts is decided by Terraform itself: tests/terraform/test_variable_validations.py."""
    for stack in ("app-staging", "app-production"):
        (validation,) = synth.stacks[stack]["variable"]["image_tag"]["validation"]
        assert validation["condition"] == f'${{can(regex("{IMAGE_TAG_PATTERN}", var.image_tag))}}'


def test_staging_defaults_to_main_latest_and_production_must_be_told_its_tag(synth: Synth) -> None:
    staging = synth.stacks["app-staging"]["variable"]["image_tag"]
    production = synth.stacks["app-production"]["variable"]["image_tag"]
    assert staging["default"] == "main-latest"
    assert "default" not in production, "a production deploy never falls back to a moving tag"
    assert "sensitive" not in staging and "sensitive" not in production


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_both_environments_must_be_given_the_verified_digest_of_every_service(synth: Synth, stack: str) -> None:
    """No default anywhere: a plan without the digests the deploy workflow verified is refused. Which maps Terraform
    accepts is decided by Terraform itself (tests/terraform/test_variable_validations.py)."""
    variable = synth.stacks[stack]["variable"][IMAGE_DIGESTS]
    assert "default" not in variable
    assert variable["type"] == "map(string)"
    assert variable["nullable"] is False
    assert "sensitive" not in variable
    assert chart_services() == services.names()
