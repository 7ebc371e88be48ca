"""No credential or secret value anywhere in what synth writes."""

from __future__ import annotations

import re

import pytest

from tests.synth import CANARY, SECRET_VARIABLES, Synth, strings
from todo_infra.release import dapr_app_ids

CREDENTIAL = re.compile(r"kube_config|\.token\b|raw_config|cluster_ca_certificate|client_key|client_certificate")


def test_the_canary_set_as_every_secret_input_appears_nowhere_in_cdktf_out(synth: Synth, variant: Synth) -> None:
    for result in (synth, variant):
        files = [path for path in result.outdir.rglob("*") if path.is_file()]
        assert len(files) > 10
        leaked = [str(path) for path in files if CANARY.encode() in path.read_bytes()]
        assert leaked == []
        assert CANARY not in result.stdout + result.stderr


def test_every_sensitive_variable_is_covered_by_the_canary(synth: Synth) -> None:
    sensitive = {
        name
        for stack in synth.stacks.values()
        for name, variable in stack.get("variable", {}).items()
        if variable.get("sensitive")
    }
    assert sensitive == set(SECRET_VARIABLES)


def test_every_secret_variable_is_sensitive_and_has_no_real_default(synth: Synth) -> None:
    for stack in synth.stacks.values():
        for name, variable in stack.get("variable", {}).items():
            if name in SECRET_VARIABLES:
                assert variable["sensitive"] is True, name
                assert variable.get("default", "") == "", f"{name} must not carry a default value"


@pytest.mark.parametrize("stack", ["cluster", "platform", "app-staging", "app-production"])
def test_no_output_carries_a_credential(synth: Synth, stack: str) -> None:
    for name, output in synth.stacks[stack].get("output", {}).items():
        assert not CREDENTIAL.search(str(output["value"])), name
        assert not any(word in name for word in ("token", "kube", "cert", "password", "secret"))


@pytest.mark.parametrize("stack", ["cluster", "platform", "app-staging", "app-production"])
def test_no_resource_attribute_carries_a_credential(synth: Synth, stack: str) -> None:
    for kind, items in synth.stacks[stack].get("resource", {}).items():
        for name, resource in items.items():
            found = [text for text in strings(resource) if CREDENTIAL.search(text)]
            assert found == [], f"{kind}.{name}"


def test_no_kubernetes_manifest_anywhere(synth: Synth, variant: Synth) -> None:
    for result in (synth, variant):
        for stack in result.stacks.values():
            assert "kubernetes_manifest" not in stack.get("resource", {})


# --- write-only secrets and short-lived cluster tokens ----------------------------------------------------------

#: Terraform addresses of the Secrets when they were written through `data`. The write-only layout keeps them, so
#: the upgrade (docs/runbooks/deploy.md) changes every Secret in place instead of deleting and recreating it.
#: The Dapr app-token Secrets came later, one per app-id: dapr-app-tokens_<app-id>_<hash>.
DAPR_APP_TOKENS = re.compile(r"^dapr-app-tokens_([a-z0-9-]+)_[0-9A-F]{8}$")
ADDRESSES = {
    "app-staging": {"app-secrets_secret_CE86DAB4", "ghcr-pull-secret_7D21386B", "redis-backup-spaces_secret_426807BC"},
    "app-production": {
        "app-secrets_secret_CE86DAB4",
        "ghcr-pull-secret_7D21386B",
        "redis-backup-spaces_secret_426807BC",
    },
    "platform": {"monitoring-secrets_grafana-admin_E7222E77", "monitoring-secrets_alertmanager-config_CC004108"},
}


def test_every_secret_variable_is_ephemeral(synth: Synth) -> None:
    """Ephemeral: Terraform keeps the value out of state and plan files, and lets it reach write-only arguments only."""
    for stack in synth.stacks.values():
        for name, variable in stack.get("variable", {}).items():
            if variable.get("sensitive"):
                assert variable.get("ephemeral") is True, name


@pytest.mark.parametrize("stack", ["platform", "app-staging", "app-production"])
def test_every_secret_is_written_only_through_data_wo_with_its_revision(synth: Synth, stack: str) -> None:
    secrets = synth.resources(stack, "kubernetes_secret_v1")
    tokens = {m.group(1) for m in map(DAPR_APP_TOKENS.match, secrets) if m}
    assert set(secrets) - {a for a in secrets if DAPR_APP_TOKENS.match(a)} == ADDRESSES[stack]
    assert tokens == (set(dapr_app_ids()) if stack.startswith("app-") else set())
    for secret in secrets.values():
        assert "data" not in secret and "binary_data" not in secret
        assert secret["data_wo"]
        revision = f"{secret['metadata']['name'].replace('-', '_')}_revision"
        assert secret["data_wo_revision"] == f"${{var.{revision}}}"
        assert synth.stacks[stack]["variable"][revision]["type"] == "number"


def test_each_dapr_app_token_is_derived_from_the_seed_and_its_own_app_id(synth: Synth) -> None:
    """The token reaches only data_wo, derived from the ephemeral seed with the app-id in it, so each app's token is
    its own; the seed is ephemeral and sensitive, at least 16 characters."""
    for stack in ("app-staging", "app-production"):
        seed = synth.stacks[stack]["variable"]["dapr_app_token_seed"]
        assert (seed["ephemeral"], seed["sensitive"]) == (True, True)
        assert seed["validation"][0]["condition"] == "${length(var.dapr_app_token_seed) >= 16}"
        secrets = synth.resources(stack, "kubernetes_secret_v1").values()
        tokens = {s["metadata"]["name"]: s["data_wo"] for s in secrets if s["metadata"]["name"].startswith("dapr-app-")}
        assert tokens == {
            f"dapr-app-token-{app}": {"token": f'${{sha256("dapr-app-token/{app}/${{var.dapr_app_token_seed}}")}}'}
            for app in dapr_app_ids()
        }


def test_cluster_tokens_in_state_expire_within_the_hour(synth: Synth) -> None:
    assert synth.one("cluster", "digitalocean_kubernetes_cluster")["kubeconfig_expire_seconds"] == 3600
    lookup = synth.one("platform", "digitalocean_kubernetes_cluster", data=True)
    assert lookup["kubeconfig_expire_seconds"] == 3600


def test_no_app_stack_can_obtain_or_read_a_cluster_admin_token(synth: Synth) -> None:
    """DigitalOcean issues cluster tokens by the token owner's role, and the cluster's and the platform's state hold
    the last run's: an app stack has neither a DigitalOcean provider nor a read of another stack's state."""
    for stack in ("app-staging", "app-production"):
        assert "digitalocean" not in synth.stacks[stack]["provider"], stack
        assert "digitalocean_kubernetes_cluster" not in synth.stacks[stack].get("data", {}), stack
        assert "terraform_remote_state" not in synth.stacks[stack].get("data", {}), stack
