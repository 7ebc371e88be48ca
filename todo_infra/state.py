"""Remote state: one key per stack, and the outputs stacks share, written and read from the same settings.

The shared stacks (cluster, platform) keep their state in the configured state bucket; each app stack in its
environment's bucket (`StateSettings.bucket_for`), so a Spaces key limited to one environment's bucket can reach
nothing else (docs/architecture.md, "State"). A remote-state read names its producer's bucket the same way.

S3 backend on DigitalOcean Spaces (Terraform >= 1.6.3 settings), `use_lockfile` added as an override because
cdktf 0.21's S3Backend has no such property; a `local` mode for offline work (docs/architecture.md, "State").
Outputs other stacks read are declared with `publish` and read with `Upstream`, both from the contract names in
todo_infra/contracts.py.
"""

from __future__ import annotations

from typing import Any

from cdktf import (
    DataTerraformRemoteStateLocal,
    DataTerraformRemoteStateS3,
    LocalBackend,
    S3Backend,
    TerraformOutput,
    TerraformRemoteState,
    TerraformStack,
)
from constructs import Construct

import toolchain
from todo_infra.contracts import StackOutput
from todo_infra.settings import StateSettings

#: Terraform runs inside cdktf.out/stacks/<id>/; local state files land at the project root (the local target's under
#: a prefix of their own, StateSettings.local_prefix).
_LOCAL_STATE = "../../../{prefix}.{stack_id}.tfstate"


def _s3_settings(state: StateSettings, stack_id: str) -> dict[str, Any]:
    """Spaces speaks the S3 API but is not AWS: fixed region, custom endpoint, no AWS-only checks."""
    return {
        "bucket": state.bucket_for(stack_id),
        "key": state.key(stack_id),
        "region": "us-east-1",
        "endpoints": {"s3": state.endpoint},
        "skip_credentials_validation": True,
        "skip_region_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": True,
        "skip_s3_checksum": True,
    }


def state_backend(stack: TerraformStack, state: StateSettings) -> None:
    """Configure the stack's backend, and the one Terraform version that may write its state (the pin in
    toolchain/versions.json: a newer Terraform would upgrade the state format under everyone else's feet).
    The key is derived from the stack id, so keys never collide."""
    stack.add_override("terraform.required_version", toolchain.version("terraform"))
    stack_id = stack.node.id
    if state.backend == "local":
        LocalBackend(stack, path=_LOCAL_STATE.format(prefix=state.local_prefix, stack_id=stack_id))
        return
    S3Backend(stack, **_s3_settings(state, stack_id))
    stack.add_override("terraform.backend.s3.use_lockfile", True)


def remote_state(scope: Construct, state: StateSettings, *, stack_id: str) -> TerraformRemoteState:
    """Read another stack's named outputs from where `state_backend` wrote them."""
    if state.backend == "local":
        return DataTerraformRemoteStateLocal(
            scope, f"state-{stack_id}", path=_LOCAL_STATE.format(prefix=state.local_prefix, stack_id=stack_id)
        )
    return DataTerraformRemoteStateS3(scope, f"state-{stack_id}", **_s3_settings(state, stack_id))


def publish(stack: TerraformStack, output: StackOutput, value: str) -> TerraformOutput:
    """Declare one of the outputs other stacks read (todo_infra/contracts.py), under its contract name."""
    if stack.node.id != output.producer:
        raise ValueError(f"{output.name} is an output of {output.producer}, not of {stack.node.id}")
    return TerraformOutput(stack, output.name, value=value, static_id=True)


class Upstream:
    """The outputs of other stacks a stack reads, through one remote-state data source per producer."""

    def __init__(self, scope: Construct, state: StateSettings) -> None:
        self._scope, self._state = scope, state
        self._remotes: dict[str, TerraformRemoteState] = {}

    def string(self, output: StackOutput) -> str:
        if output.producer not in self._remotes:
            self._remotes[output.producer] = remote_state(self._scope, self._state, stack_id=output.producer)
        return self._remotes[output.producer].get_string(output.name)
