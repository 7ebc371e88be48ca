"""Data protection: the resources whose loss no apply undoes carry `prevent_destroy`, and Terraform refuses a
destroying plan of them. The refusal is Terraform's own: each protected resource's lifecycle block, as synthesized,
is applied on a built-in `terraform_data` stand-in (no provider needed) and then planned for destruction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight.terraform import Outcome, Terraform, write_config
from tests.synth import Synth, synthesize
from todo_infra.addons import platform_addons
from todo_infra.settings import EDGE_ENVOY_GATEWAY

#: What each stack must refuse to destroy: the data holders and the namespaces that hold them (the add-ons of the
#: default edge; the other edge is forgotten, never destroyed: tests/stacks/test_stack_platform.py).
ADDONS = platform_addons(EDGE_ENVOY_GATEWAY)
EXPECTED = {
    "cluster": {"digitalocean_vpc", "digitalocean_kubernetes_cluster"},
    "platform": {
        *(f"helm_release {addon.release}" for addon in ADDONS if addon.holds),
        *(f"kubernetes_namespace_v1 {addon.namespace}" for addon in ADDONS if addon.holds),
        "kubernetes_namespace_v1 staging",
        "kubernetes_namespace_v1 production",
    },
    "app-staging": {"helm_release todo-app"},
    "app-production": {"helm_release todo-app"},
}


def describe(kind: str, body: dict[str, Any]) -> str:
    """A resource as a reader knows it: type plus its Kubernetes name where it has one."""
    name = body.get("name") or body.get("metadata", {}).get("name")
    return f"{kind} {name}" if kind.startswith(("helm_", "kubernetes_")) else kind


def protected(synth: Synth) -> dict[str, dict[str, dict[str, Any]]]:
    """Per stack: description → lifecycle block of every resource with prevent_destroy."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for stack_id, stack in synth.stacks.items():
        for kind, resources in stack.get("resource", {}).items():
            for body in resources.values():
                lifecycle = body.get("lifecycle", {})
                if lifecycle.get("prevent_destroy"):
                    found.setdefault(stack_id, {})[describe(kind, body)] = lifecycle
    return found


def test_exactly_the_data_holders_are_protected(synth: Synth) -> None:
    assert {stack: set(items) for stack, items in protected(synth).items()} == EXPECTED


def test_what_can_be_rebuilt_stays_destroyable(synth: Synth) -> None:
    """Secrets, the bootstrap chart and add-ons without volumes are replaced freely (a rotation must never be
    blocked by a protection meant for data)."""
    unprotected = {
        describe(kind, body)
        for stack in synth.stacks.values()
        for kind, resources in stack.get("resource", {}).items()
        for body in resources.values()
        if not body.get("lifecycle", {}).get("prevent_destroy")
    }
    assert {"helm_release cert-manager", "helm_release alloy", "helm_release cluster-bootstrap"} <= unprotected
    assert any(item.startswith("kubernetes_secret_v1") for item in unprotected)


def destroy_plan(terraform: Terraform, folder: Path, lifecycles: dict[str, dict[str, Any]]) -> Outcome:
    """Apply one `terraform_data` per lifecycle block (its prevent_destroy as synthesized), then plan -destroy."""
    stand_ins = {
        f"r{index}": {"input": name, "lifecycle": {"prevent_destroy": lifecycle["prevent_destroy"]}}
        for index, (name, lifecycle) in enumerate(sorted(lifecycles.items()))
    }
    write_config(folder, {"resource": {"terraform_data": stand_ins}})
    applied = terraform.apply(folder)
    assert applied.returncode == 0, applied.first_error()
    return terraform.run(folder, "plan", "-destroy", "-input=false", "-no-color", "-json")


@pytest.mark.parametrize("stack_id", sorted(EXPECTED))
def test_terraform_refuses_to_destroy_them(terraform: Terraform, synth: Synth, tmp_path: Path, stack_id: str) -> None:
    lifecycles = protected(synth)[stack_id]
    outcome = destroy_plan(terraform, tmp_path, lifecycles)
    assert outcome.returncode != 0
    refusals = [e for e in outcome.errors if e.summary == "Instance cannot be destroyed"]
    assert len(refusals) == len(lifecycles), outcome.first_error()


def test_seeded_an_unprotected_resource_is_destroyed(terraform: Terraform, tmp_path: Path) -> None:
    outcome = destroy_plan(terraform, tmp_path, {"control": {"prevent_destroy": False}})
    assert outcome.returncode == 0, outcome.first_error()


def forgets_without_destroying(terraform: Terraform, folder: Path, removed: dict[str, Any]) -> None:
    """A synthesized `removed` block pointed at a `terraform_data` stand-in at its address: a deployed project's next
    plan forgets it and destroys nothing. Seeded: without the block the stand-in is destroyed — prevent_destroy lives in
    the configuration, so a resource dropped from it is no longer protected."""
    assert removed["lifecycle"] == {"destroy": False}
    name = removed["from"].partition(".")[2]
    stand_in = {"resource": {"terraform_data": {name: {"input": "namespace", "lifecycle": {"prevent_destroy": True}}}}}
    write_config(folder, stand_in)
    assert terraform.apply(folder).returncode == 0
    for config, action in (({"removed": [{**removed, "from": f"terraform_data.{name}"}]}, "remove"), ({}, "delete")):
        write_config(folder, config)
        plan = terraform.run(folder, "plan", "-input=false", "-no-color", "-json")
        assert plan.returncode == 0, plan.first_error()
        changes = [json.loads(line) for line in plan.stdout.splitlines() if '"type":"planned_change"' in line]
        assert [c["change"]["action"] for c in changes] == [action], plan.stdout[-2000:]


@pytest.mark.parametrize("stack_id", ["app-staging", "app-production"])
def test_the_app_stack_forgets_its_old_namespace_without_destroying_it(
    terraform: Terraform, synth: Synth, tmp_path: Path, stack_id: str
) -> None:
    """The namespace moved to the platform stack; on a new project (nothing at that address) the block plans nothing."""
    (removed,) = synth.stacks[stack_id]["removed"]
    assert removed["from"] == f"kubernetes_namespace_v1.namespace-{stack_id.removeprefix('app-')}"
    forgets_without_destroying(terraform, tmp_path, removed)


def test_an_environment_left_out_of_the_configuration_keeps_its_namespace(
    terraform: Terraform, synth: Synth, tmp_path: Path
) -> None:
    """`TODO_ENVIRONMENTS=staging` (or production dropped from cdktf.json) must not destroy production's namespace, its
    Secrets and its Redis claim: the platform forgets it instead."""
    forgotten = {block["from"] for block in synth.stacks["platform"].get("removed", [])}
    app_namespaces = {f"kubernetes_namespace_v1.namespace-{env}" for env in ("staging", "production")}
    assert not forgotten & app_namespaces, "every environment configured: no app namespace to forget"
    outdir = tmp_path / "synth"
    platform = synthesize({outdir: {"TODO_ENVIRONMENTS": "staging"}})[outdir].stacks["platform"]
    assert "namespace-production" not in platform["resource"]["kubernetes_namespace_v1"]
    (removed,) = [b for b in platform["removed"] if b["from"] == "kubernetes_namespace_v1.namespace-production"]
    forgets_without_destroying(terraform, tmp_path / "plan", removed)
