"""Terraform itself loads every synthesized stack: `terraform init -backend=false` against an empty provider
mirror parses and checks the whole configuration before it looks for providers. The only acceptable errors are
"provider not found" for exactly the providers the stack requires; anything else fails with Terraform's message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import toolchain
from preflight.terraform import StackLoad, Terraform, load_stack
from tests.synth import Synth

#: The pattern main had before it was written without backslashes: Terraform reads `\.` in a template string
#: as an invalid escape and rejects the whole validation ("no app stack can be planned").
BACKSLASH_PATTERN = r"^(sha-[0-9a-f]{7}|v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*))$"


def stack_text(synth: Synth, stack_id: str) -> str:
    path: Path = synth.outdir / synth.manifest["stacks"][stack_id]["synthesizedStackPath"]
    return path.read_text()


def loaded(terraform: Terraform, synth: Synth, stack_id: str, tmp_path: Path, text: str | None = None) -> StackLoad:
    return load_stack(terraform, stack_id, text or stack_text(synth, stack_id), tmp_path)


@pytest.fixture(scope="module")
def loads(
    terraform: Terraform, synth: Synth, variant: Synth, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], StackLoad]:
    scratch = tmp_path_factory.mktemp("stack-loading")
    return {
        (name, stack_id): load_stack(terraform, stack_id, stack_text(app, stack_id), scratch / name)
        for name, app in (("default", synth), ("variant", variant))
        for stack_id in app.stacks
    }


def test_every_stack_of_both_configurations_is_loaded(loads: dict[tuple[str, str], StackLoad], synth: Synth) -> None:
    assert (
        {stack for _, stack in loads} == set(synth.stacks) == {"cluster", "platform", "app-staging", "app-production"}
    )


@pytest.mark.parametrize("configuration", ["default", "variant"])
@pytest.mark.parametrize("stack_id", ["cluster", "platform", "app-staging", "app-production"])
def test_terraform_accepts_the_stack_and_stops_only_at_provider_installation(
    loads: dict[tuple[str, str], StackLoad], configuration: str, stack_id: str
) -> None:
    result: StackLoad = loads[(configuration, stack_id)]
    assert not result.configuration_errors, "\n".join(map(str, result.configuration_errors))
    assert result.required_providers, "a stack that requires no provider was not really loaded"
    assert result.missing_providers == result.required_providers


def test_a_backslash_in_the_image_tag_pattern_is_rejected_by_terraform(
    terraform: Terraform, synth: Synth, tmp_path: Path
) -> None:
    """Seeded failure: main's old pattern, put back into the synthesized validation."""
    stack = json.loads(stack_text(synth, "app-staging"))
    (validation,) = stack["variable"]["image_tag"]["validation"]
    validation["condition"] = f'${{can(regex("{BACKSLASH_PATTERN}", var.image_tag))}}'
    result = loaded(terraform, synth, "app-staging", tmp_path, json.dumps(stack, indent=2))
    summaries = {error.summary for error in result.configuration_errors}
    assert "Invalid variable validation condition" in summaries
    assert any("must refer to var.image_tag" in error.detail for error in result.configuration_errors)
    assert not result.ok


def test_an_unknown_block_argument_is_a_configuration_error(terraform: Terraform, synth: Synth, tmp_path: Path) -> None:
    """Seeded failure: a misspelt argument in a variable block."""
    stack = json.loads(stack_text(synth, "platform"))
    stack["variable"]["grafana_admin_password"]["sensitve"] = True
    result = loaded(terraform, synth, "platform", tmp_path, json.dumps(stack, indent=2))
    assert [error.summary for error in result.configuration_errors] == ["Extraneous JSON object property"]
    assert "sensitve" in str(result.configuration_errors[0])


def test_every_stack_requires_the_pinned_terraform(synth: Synth) -> None:
    for stack_id, stack in synth.stacks.items():
        assert stack["terraform"]["required_version"] == toolchain.version("terraform"), stack_id


def test_terraform_refuses_a_stack_that_requires_another_version(
    terraform: Terraform, synth: Synth, tmp_path: Path
) -> None:
    """Seeded failure: the pin moved on but this Terraform did not."""
    stack = json.loads(stack_text(synth, "cluster"))
    stack["terraform"]["required_version"] = "1.12.0"
    result = loaded(terraform, synth, "cluster", tmp_path, json.dumps(stack, indent=2))
    assert [error.summary for error in result.configuration_errors] == ["Unsupported Terraform Core version"]
