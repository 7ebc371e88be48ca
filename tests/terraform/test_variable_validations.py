"""Every variable validation of every stack, judged by Terraform: a provider-free configuration holding the
stack's `variable` blocks exactly as synthesized is planned with accepted and refused values."""

from __future__ import annotations

import dataclasses
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from main import context_from
from preflight.terraform import Outcome, Terraform, evaluate, write_config
from tests.synth import Synth
from todo_infra import services
from todo_infra.monitoring import RECEIVER_REQUIRED, WEBHOOK_VARIABLE
from todo_infra.settings import IMAGE_TAG_PATTERN, load_settings

#: Accepted and refused values of the write-only secrets' revisions (every `<secret>_revision` variable).
REVISION_CASES = (["1", "2375483147220029", "4503599627370495"], ["0", "-3", "1.5"])
SERVICES = services.names()
GOOD_DIGEST = "sha256:" + "0123456789abcdef" * 4


def digests(**changes: str | None) -> str:
    """An image_digests map as HCL (how -var and TF_VAR_ pass a map): a good digest for every service, with
    `changes` applied (None drops the service; `_` in a key stands for `-`)."""
    entries = dict.fromkeys(SERVICES, GOOD_DIGEST)
    for key, value in changes.items():
        service = key.replace("_", "-")
        if value is None:
            entries.pop(service)
        else:
            entries[service] = value
    return "{" + ", ".join(f'"{name}" = "{value}"' for name, value in entries.items()) + "}"


#: (variable, accepted values, refused values) for every validated variable of the stacks.
CASES: dict[str, tuple[list[str], list[str]]] = {
    "kube_endpoint": (
        ["https://0f3c2a.k8s.ondigitalocean.com", "https://127.0.0.1:6443", "https://api.example.com/"],
        ["http://0f3c2a.k8s.ondigitalocean.com", "0f3c2a.k8s.ondigitalocean.com", "https://", "https://a b", ""],
    ),
    "kube_ca_certificate": (
        ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"],
        ["", "MIIB", "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t", "-----BEGIN PRIVATE KEY-----"],
    ),
    "image_tag": (
        ["sha-abc1234", "main-latest", "staging-latest", "v1.2.3", "v1.2.3-rc.1", "v10.0.1-beta-2.x", "v0.1.0"],
        [
            "sha-ABC1234",
            "sha-abc123",
            "sha-abc12345",
            "v1.2",
            "v01.2.3",
            "1.2.3",
            "latest",
            "feature-latest",
            "",
            "v1.2.3+build",
        ],
    ),
    # Not a real webhook: the shape of one. Empty is what an unset GitHub secret passes.
    "alertmanager_slack_webhook_url": (
        ["https://hooks.slack.com/services/T0/B0/example"],
        ["", "http://hooks.slack.com/services/T0/B0/example", "hooks.slack.com/services/T0/B0/example"],
    ),
    "image_digests": (
        # HCL as an operator writes it, and the one-line JSON deploy.yml's gate passes (images.py verify).
        [digests(), digests(mcp="sha256:" + "f" * 64), json.dumps(dict.fromkeys(SERVICES, GOOD_DIGEST))],
        [
            "{}",
            digests(sse_gateway=None),
            digests(worker=GOOD_DIGEST),
            digests(backend=GOOD_DIGEST.upper().replace("SHA256", "sha256")),
            digests(backend=GOOD_DIGEST[:-1]),
            digests(backend=GOOD_DIGEST + "0"),
            digests(backend=GOOD_DIGEST.removeprefix("sha256:")),
            digests(backend="sha512:" + "0" * 128),
            digests(backend=""),
            digests(frontend="main-latest"),
        ],
    ),
    # The Redis ACL users' password: required and at least 16 characters; the second one empty or 16+.
    "redis_password": (["0123456789abcdef", "a" * 64, 'we"ird \\ pa$$ %s `x` ok'], ["", "short", "0123456789abcde"]),
    "redis_password_rotation": (["", "0123456789abcdef", "b" * 64], ["tiny", "0123456789abcde"]),
    # The seed of the Dapr app tokens: required and at least 16 characters (the plans' placeholder has 16).
    "dapr_app_token_seed": (["plan-placeholder", "c" * 64], ["", "0123456789abcde"]),
}


def cases(name: str) -> tuple[list[str], list[str]]:
    return REVISION_CASES if name.endswith("_revision") else CASES[name]


def valid_value(name: str, spec: dict[str, Any]) -> str:
    """A value the variable accepts, for plans that judge another variable."""
    if spec.get("validation"):
        return cases(name)[0][0]
    return "1" if spec.get("type") == "number" else "dummy"


def validated_variables(synth: Synth) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (stack_id, name): variable
        for stack_id, stack in synth.stacks.items()
        for name, variable in stack.get("variable", {}).items()
        if variable.get("validation")
    }


def plan(
    terraform: Terraform, folder: Path, variables: dict[str, Any], values: dict[str, str], *, unset: str = ""
) -> Outcome:
    """`terraform plan` of the variables alone; every other required variable but `unset` gets a dummy value."""
    write_config(folder, {"variable": variables})
    env = {
        f"TF_VAR_{name}": valid_value(name, spec)
        for name, spec in variables.items()
        if "default" not in spec and name not in values and name != unset
    }
    args = [f"-var={name}={value}" for name, value in values.items()]
    return terraform.run(folder, "plan", "-input=false", "-no-color", "-json", *args, env=env)


def test_every_validated_variable_has_cases(synth: Synth) -> None:
    names = {name for _, name in validated_variables(synth)}
    assert names, "no stack validates a variable: the cases below would test nothing"
    assert {name for name in names if not name.endswith("_revision")} == set(CASES), "add cases to CASES"
    assert any(name.endswith("_revision") for name in names)


def test_terraform_accepts_and_refuses_every_revision(terraform: Terraform, synth: Synth, tmp_path: Path) -> None:
    """All revisions of a stack get the same value in one plan: a refused value is refused once per revision."""
    accepted, refused = REVISION_CASES
    revisions: dict[str, list[str]] = {}
    for stack_id, name in validated_variables(synth):
        if name.endswith("_revision"):
            revisions.setdefault(stack_id, []).append(name)
    jobs = {
        (stack_id, value): (
            tmp_path / stack_id / str(index),
            synth.stacks[stack_id]["variable"],
            dict.fromkeys(names, value),
        )
        for stack_id, names in revisions.items()
        for index, value in enumerate(accepted + refused)
    }
    outcomes = in_parallel(terraform, jobs)
    for (stack_id, value), outcome in outcomes.items():
        if value in accepted:
            assert outcome.returncode == 0, f"{stack_id} revisions={value}: {outcome.first_error()}"
        else:
            messages = [e.detail for e in outcome.errors if e.summary == "Invalid value for variable"]
            assert len(messages) == len(revisions[stack_id]), f"{stack_id} revisions={value}: {outcome.first_error()}"
            assert all("is a positive integer that dev.py computes" in m for m in messages)


def in_parallel(
    terraform: Terraform, jobs: dict[tuple[str, str], tuple[Path, dict[str, Any], dict[str, str]]]
) -> dict[tuple[str, str], Outcome]:
    """Plans of provider-free configurations, four at a time (each is a separate Terraform process)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(plan, terraform, *job) for key, job in jobs.items()}
    return {key: future.result() for key, future in futures.items()}


@pytest.fixture(scope="module")
def tag_outcomes(
    terraform: Terraform, synth: Synth, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], Outcome]:
    """Terraform's verdict on every image_tag case, in both app stacks (planned once per module)."""
    scratch = tmp_path_factory.mktemp("image-tag-plans")
    accepted, refused = CASES["image_tag"]
    jobs = {
        (stack_id, value): (scratch / stack_id / str(index), synth.stacks[stack_id]["variable"], {"image_tag": value})
        for stack_id in ("app-staging", "app-production")
        for index, value in enumerate(accepted + refused)
    }
    return in_parallel(terraform, jobs)


@pytest.mark.parametrize("stack_id", ["app-staging", "app-production"])
def test_terraform_accepts_and_refuses_image_tags(
    synth: Synth, tag_outcomes: dict[tuple[str, str], Outcome], stack_id: str
) -> None:
    accepted, refused = CASES["image_tag"]
    message = synth.stacks[stack_id]["variable"]["image_tag"]["validation"][0]["error_message"]
    for value in accepted:
        outcome = tag_outcomes[(stack_id, value)]
        assert outcome.returncode == 0, f"{value!r} refused: {outcome.first_error()}"
    for value in refused:
        outcome = tag_outcomes[(stack_id, value)]
        assert outcome.returncode != 0, f"{value!r} accepted"
        assert [e.summary for e in outcome.errors] == ["Invalid value for variable"], outcome.first_error()
        assert message in outcome.errors[0].detail


def test_settings_and_terraform_agree_on_the_tag_grammar(tag_outcomes: dict[tuple[str, str], Outcome]) -> None:
    """settings.py checks default tags with Python's `re` before synth; Terraform (RE2) checks them at plan time.
    Both must draw the line in the same place."""
    for (stack_id, value), outcome in tag_outcomes.items():
        assert bool(re.fullmatch(IMAGE_TAG_PATTERN, value)) == (outcome.returncode == 0), (stack_id, value)


def test_production_without_a_tag_is_refused_and_staging_falls_back_to_main_latest(
    terraform: Terraform, synth: Synth, tmp_path: Path
) -> None:
    production = plan(
        terraform, tmp_path / "production", synth.stacks["app-production"]["variable"], {}, unset="image_tag"
    )
    assert production.returncode != 0
    assert [e.summary for e in production.errors] == ["No value for required variable"]
    assert 'input variable "image_tag" is not set' in production.errors[0].detail
    staging = plan(terraform, tmp_path / "staging", synth.stacks["app-staging"]["variable"], {}, unset="image_tag")
    assert staging.returncode == 0, staging.first_error()


def test_the_kubernetes_minor_conditions_as_terraform_evaluates_them(
    terraform: Terraform, synth: Synth, tmp_path: Path
) -> None:
    """The cluster stack's check (the cluster left the pinned minor) and the versions lookup's postcondition
    (DigitalOcean offers the minor no more), evaluated by Terraform with the resource and `self` standing in."""
    stack = synth.stacks["cluster"]
    (check,) = stack["check"]["kubernetes_minor"]["assert"]
    (lookup,) = stack["data"]["digitalocean_kubernetes_versions"].values()
    (postcondition,) = lookup["lifecycle"]["postcondition"]
    (cluster,) = stack["resource"]["digitalocean_kubernetes_cluster"]
    cases = {
        "still_pinned": (check["condition"], {"version": "1.35.4-do.1"}, True),
        "upgraded_away": (check["condition"], {"version": "1.36.1-do.0"}, False),
        "offered": (postcondition["condition"], {"valid_versions": ["1.35.4-do.1"]}, True),
        "no_longer_offered": (postcondition["condition"], {"valid_versions": []}, False),
    }
    expressions = {
        name: condition.replace(f"digitalocean_kubernetes_cluster.{cluster}", f"local.{name}").replace(
            "self.", f"local.{name}."
        )
        for name, (condition, _, _) in cases.items()
    }
    stand_ins = {"locals": {name: value for name, (_, value, _) in cases.items()}}
    values = evaluate(terraform, tmp_path, stack_dir=tmp_path, stack=stand_ins, expressions=expressions, variables={})
    assert values == {name: expected for name, (_, _, expected) in cases.items()}


@pytest.mark.parametrize("stack_id", ["app-staging", "app-production"])
def test_terraform_accepts_and_refuses_image_digest_maps(
    terraform: Terraform, synth: Synth, tmp_path: Path, stack_id: str
) -> None:
    """Exactly the chart's services, each with a sha256 digest: anything else stops the plan with its message."""
    accepted, refused = CASES["image_digests"]
    variables = synth.stacks[stack_id]["variable"]
    message = variables["image_digests"]["validation"][0]["error_message"]
    jobs = {
        (stack_id, value): (tmp_path / str(index), variables, {"image_digests": value})
        for index, value in enumerate(accepted + refused)
    }
    for (_, value), outcome in in_parallel(terraform, jobs).items():
        if value in accepted:
            assert outcome.returncode == 0, f"{value!r} refused: {outcome.first_error()}"
        else:
            assert outcome.returncode != 0, f"{value!r} accepted"
            assert [e.summary for e in outcome.errors] == ["Invalid value for variable"], outcome.first_error()
            assert message in outcome.errors[0].detail


def test_a_deploy_without_digests_is_refused(terraform: Terraform, synth: Synth, tmp_path: Path) -> None:
    for stack_id in ("app-staging", "app-production"):
        outcome = plan(terraform, tmp_path / stack_id, synth.stacks[stack_id]["variable"], {}, unset="image_digests")
        assert outcome.returncode != 0
        assert 'input variable "image_digests" is not set' in outcome.errors[0].detail


@pytest.mark.parametrize("name", ["redis_password", "redis_password_rotation", "dapr_app_token_seed"])
def test_terraform_holds_the_redis_passwords_to_their_minimum(
    terraform: Terraform, synth: Synth, tmp_path: Path, name: str
) -> None:
    """An empty or short REDIS_PASSWORD (or DAPR_APP_TOKEN_SEED) stops the plan in one message that names the
    variable, never the value."""
    accepted, refused = CASES[name]
    variables = synth.stacks["app-production"]["variable"]
    message = variables[name]["validation"][0]["error_message"]
    jobs = {
        ("app-production", value): (tmp_path / str(index), variables, {name: value})
        for index, value in enumerate(accepted + refused)
    }
    for (_, value), outcome in in_parallel(terraform, jobs).items():
        if value in accepted:
            assert outcome.returncode == 0, f"{name}={value!r} refused: {outcome.first_error()}"
        else:
            assert [e.summary for e in outcome.errors] == ["Invalid value for variable"], outcome.first_error()
            assert message in outcome.errors[0].detail and (not value or value not in outcome.errors[0].detail)


@pytest.mark.parametrize("name", ["redis_password", "dapr_app_token_seed"])
def test_a_deploy_without_the_redis_password_is_refused(
    terraform: Terraform, synth: Synth, tmp_path: Path, name: str
) -> None:
    outcome = plan(terraform, tmp_path, synth.stacks["app-production"]["variable"], {}, unset=name)
    assert outcome.returncode != 0
    assert f'input variable "{name}" is not set' in outcome.errors[0].detail


def test_a_production_deploy_refuses_an_empty_alert_receiver(
    terraform: Terraform, synth: Synth, variant: Synth, tmp_path: Path
) -> None:
    """The platform stack deploying production requires the Slack webhook (one line naming the variable and the
    setting that says "no alerting"); every refused case is refused with that message, every accepted one passes."""
    accepted, refused = CASES[WEBHOOK_VARIABLE]
    variables = synth.stacks["platform"]["variable"]
    assert "default" not in variables[WEBHOOK_VARIABLE]
    jobs = {
        ("platform", value): (tmp_path / str(index), variables, {WEBHOOK_VARIABLE: value})
        for index, value in enumerate(accepted + refused)
    }
    outcomes = in_parallel(terraform, jobs)
    for value in accepted:
        assert outcomes[("platform", value)].returncode == 0, outcomes[("platform", value)].first_error()
    for value in refused:
        outcome = outcomes[("platform", value)]
        assert [e.summary for e in outcome.errors] == ["Invalid value for variable"], value
        assert RECEIVER_REQUIRED in outcome.errors[0].detail.replace("\n", " ")
        assert "\n" not in RECEIVER_REQUIRED
    # The variant deploys production too: the same requirement.
    assert variant.stacks["platform"]["variable"][WEBHOOK_VARIABLE].get("validation")


def test_an_empty_receiver_is_allowed_only_when_alerting_is_none_or_production_is_absent() -> None:
    settings = load_settings(context_from({}), {})
    assert settings.requires_alert_receiver
    assert not dataclasses.replace(settings, alerting="none").requires_alert_receiver
    staging_only = load_settings(context_from({}), {"TODO_ENVIRONMENTS": "staging"})
    assert not staging_only.requires_alert_receiver
