"""Data protection: the resources whose loss no apply undoes carry `prevent_destroy`, and Terraform refuses a
destroying plan of them. The refusal is Terraform's own: each protected resource's lifecycle block, as synthesized,
is applied on a built-in `terraform_data` stand-in (no provider needed) and then planned for destruction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight.terraform import Outcome, Terraform, write_config
from tests.synth import Synth
from todo_infra.addons import ADDONS

#: What each stack must refuse to destroy: the data holders and the namespaces that hold them.
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
    assert {"helm_release cert-manager", "helm_release promtail", "helm_release cluster-bootstrap"} <= unprotected
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


@pytest.mark.parametrize("stack_id", ["app-staging", "app-production"])
def test_the_app_stack_forgets_its_old_namespace_without_destroying_it(
    terraform: Terraform, synth: Synth, tmp_path: Path, stack_id: str
) -> None:
    """The namespace moved to the platform stack. The app stack's `removed` block, as synthesized, pointed at a
    `terraform_data` stand-in at the old address: a deployed project's next plan forgets it and destroys nothing; a
    new project (nothing at that address) plans nothing."""
    (removed,) = synth.stacks[stack_id]["removed"]
    assert removed["lifecycle"] == {"destroy": False}
    kind, _, name = removed["from"].partition(".")
    assert (kind, name) == ("kubernetes_namespace_v1", f"namespace-{stack_id.removeprefix('app-')}")
    stand_in = {"resource": {"terraform_data": {name: {"input": "namespace", "lifecycle": {"prevent_destroy": True}}}}}
    write_config(tmp_path, stand_in)
    assert terraform.apply(tmp_path).returncode == 0
    write_config(tmp_path, {"removed": [{**removed, "from": f"terraform_data.{name}"}]})
    plan = terraform.run(tmp_path, "plan", "-input=false", "-no-color", "-json")
    assert plan.returncode == 0, plan.first_error()
    changes = [json.loads(line) for line in plan.stdout.splitlines() if '"type":"planned_change"' in line]
    assert [c["change"]["action"] for c in changes] == ["remove"], plan.stdout[-2000:]
    # Seeded: without the block the namespace would be destroyed — prevent_destroy lives in the configuration, so
    # a resource dropped from it is no longer protected.
    write_config(tmp_path, {})
    dropped = terraform.run(tmp_path, "plan", "-input=false", "-no-color", "-json")
    changes = [json.loads(line) for line in dropped.stdout.splitlines() if '"type":"planned_change"' in line]
    assert [c["change"]["action"] for c in changes] == ["delete"], dropped.stdout[-2000:]
