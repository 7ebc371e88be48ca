"""The static proof that no secret input is stored: preflight follows every sensitive or ephemeral variable through
each synthesized stack; it passes on the repo and names resource and argument of each seeded leak."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from preflight.secrets import check_secret_flow, secret_leaks
from tests.synth import Synth


def test_no_secret_input_flows_anywhere_but_write_only_arguments(synth: Synth, variant: Synth) -> None:
    for result in (synth, variant):
        check = check_secret_flow(result)
        assert check.ok, check.problems
        assert {row[0]: int(row[1]) for row in check.rows} == {
            "cluster": 0,
            "platform": 2,
            # the ten app-secrets keys, the pull secret's two, the backup key's two, the API token, the app-token seed
            "app-staging": 16,
            "app-production": 16,
        }


def _secret(stack: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in stack["resource"]["kubernetes_secret_v1"].values() if s["metadata"]["name"] == name)


def _address(stack: dict[str, Any], name: str) -> str:
    secrets: dict[str, dict[str, Any]] = stack["resource"]["kubernetes_secret_v1"]
    return next(address for address, s in secrets.items() if s["metadata"]["name"] == name)


def seed_data(stack: dict[str, Any]) -> str:
    _secret(stack, "app-secrets")["data"] = {"DATABASE_URL": "${var.database_url}"}
    return (
        f"var.database_url flows into kubernetes_secret_v1.{_address(stack, 'app-secrets')} argument data.DATABASE_URL"
    )


def seed_output(stack: dict[str, Any]) -> str:
    stack["output"]["debug"] = {"value": "${var.ghcr_token}", "sensitive": True}
    return "var.ghcr_token flows into output.debug.value"


def seed_helm_value_through_a_local(stack: dict[str, Any]) -> str:
    stack["locals"] = {"auth": "${base64encode(var.better_auth_secret)}"}
    release = next(iter(stack["resource"]["helm_release"].values()))
    release["set"].append({"name": "auth", "value": "${local.auth}"})
    name = next(iter(stack["resource"]["helm_release"]))
    index = len(release["set"]) - 1
    return f"local.auth (computed from a secret) flows into helm_release.{name} argument set.{index}.value"


def seed_data_source(stack: dict[str, Any]) -> str:
    facts = stack["data"]["kubernetes_config_map_v1"]
    name = next(iter(facts))
    facts[name]["metadata"]["name"] = "${var.openai_api_key}"
    return f"var.openai_api_key flows into data source kubernetes_config_map_v1.{name} argument metadata.name"


def seed_app_token_as_a_label(stack: dict[str, Any]) -> str:
    """The derived app token (sha256 of the seed) put where Terraform stores it: a label of its own Secret."""
    secret = _secret(stack, "dapr-app-token-backend")
    secret["metadata"]["labels"] = {"token": secret["data_wo"]["token"]}
    return (
        f"var.dapr_app_token_seed flows into kubernetes_secret_v1.{_address(stack, 'dapr-app-token-backend')} "
        "argument metadata.labels.token"
    )


@pytest.mark.parametrize(
    "seed", [seed_data, seed_output, seed_helm_value_through_a_local, seed_data_source, seed_app_token_as_a_label]
)
def test_each_seeded_leak_is_named(synth: Synth, seed: Any) -> None:
    stack = copy.deepcopy(synth.stacks["app-staging"])
    expected = seed(stack)
    assert secret_leaks(stack) == [expected]
    stacks = {**synth.stacks, "app-staging": stack}
    check = check_secret_flow(dataclasses.replace(synth, stacks=stacks))
    assert check.problems == [f"app-staging: {expected}"]
