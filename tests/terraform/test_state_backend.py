"""State through Terraform's own backends: every stack's backend block is accepted by the real S3 backend, and each
consumer's `terraform_remote_state` reads, through the S3 protocol, every producer output it refers to.

The S3 server is moto on 127.0.0.1. Only the endpoint and path-style addressing are changed for it, in the backend
block and in the remote-state config; every other setting is as synthesized, `use_lockfile` included. (Not with
`-backend-config`: Terraform 1.11 does not check the block's argument names when that option is given.) What this
proves and what it cannot say about DigitalOcean Spaces: docs/secrets-and-state.md, "State".
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from preflight.terraform import Terraform, write_config
from tests.local_s3 import S3_CREDENTIALS, LocalS3
from tests.synth import Synth

_REMOTE_OUTPUT = re.compile(r"data\.terraform_remote_state\.(?P<source>[\w-]+)\.outputs\.(?P<output>\w+)")


def backend(synth: Synth, stack_id: str) -> dict[str, Any]:
    backend: dict[str, Any] = synth.stacks[stack_id]["terraform"]["backend"]
    return backend


def outputs_read(stack: dict[str, Any]) -> dict[str, set[str]]:
    """remote-state data source name -> the producer outputs this stack reads through it."""
    found: dict[str, set[str]] = {}
    for match in _REMOTE_OUTPUT.finditer(json.dumps(stack)):
        found.setdefault(match["source"], set()).add(match["output"])
    return found


def producer_of(synth: Synth, remote_state: dict[str, Any]) -> str:
    """The stack whose backend the remote-state configuration points at (by S3 key or local path)."""
    config = remote_state["config"]
    for stack_id in synth.stacks:
        settings = next(iter(backend(synth, stack_id).values()))
        if config.get("key", config.get("path")) == settings.get("key", settings.get("path")):
            return stack_id
    raise AssertionError(f"no stack writes the state {config}")


def apply_producer(terraform: Terraform, folder: Path, synth: Synth, stack_id: str, s3: LocalS3 | None) -> Any:
    """The producer's backend block as synthesized, and outputs with the producer's names (sample values)."""
    outputs = {name: {"value": f"sample-{stack_id}-{name}"} for name in synth.stacks[stack_id].get("output", {})}
    block = copy.deepcopy(backend(synth, stack_id))
    if s3:
        block["s3"].update(s3.overrides())
    write_config(folder, {"terraform": {"backend": block}, "output": outputs})
    return terraform.apply(folder, env=S3_CREDENTIALS)


def apply_consumer(terraform: Terraform, folder: Path, synth: Synth, stack_id: str, s3: LocalS3 | None) -> Any:
    """The consumer's remote-state data sources as synthesized (S3: endpoint and path style for the local
    server), and one output per producer output the consumer's stack refers to."""
    data = copy.deepcopy(synth.stacks[stack_id]["data"]["terraform_remote_state"])
    if s3:
        for source in data.values():
            source["config"].update(s3.overrides())
    outputs = {
        f"{source}__{output}": {"value": f"${{data.terraform_remote_state.{source}.outputs.{output}}}"}
        for source, names in outputs_read(synth.stacks[stack_id]).items()
        for output in names
    }
    write_config(folder, {"data": {"terraform_remote_state": data}, "output": outputs})
    return terraform.apply(folder, env=S3_CREDENTIALS)


def consumers(synth: Synth) -> list[str]:
    return [s for s, stack in synth.stacks.items() if stack.get("data", {}).get("terraform_remote_state")]


def test_the_stacks_use_the_s3_backend_with_its_lockfile_by_default(synth: Synth) -> None:
    for stack_id in synth.stacks:
        assert backend(synth, stack_id)["s3"]["use_lockfile"] is True, stack_id
    # The app stacks read no other stack's state: the cluster's and the platform's hold a one-hour cluster-admin
    # token (docs/architecture.md, "Environment isolation").
    assert set(consumers(synth)) == {"platform"}


@pytest.mark.parametrize("stack_id", ["cluster", "platform", "app-staging", "app-production"])
def test_terraform_s3_backend_accepts_every_stack_backend_block(
    terraform: Terraform, synth: Synth, local_s3: LocalS3, tmp_path: Path, stack_id: str
) -> None:
    result = apply_producer(terraform, tmp_path, synth, stack_id, local_s3)
    assert result.returncode == 0, result.first_error()
    key = backend(synth, stack_id)["s3"]["key"]
    bucket = backend(synth, stack_id)["s3"]["bucket"]
    state = json.loads(local_s3.client.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert set(state["outputs"]) == set(synth.stacks[stack_id].get("output", {}))


def test_every_consumer_reads_the_outputs_it_needs_through_s3(
    terraform: Terraform, synth: Synth, local_s3: LocalS3, tmp_path: Path
) -> None:
    producers = {
        producer_of(synth, source)
        for stack_id in consumers(synth)
        for source in synth.stacks[stack_id]["data"]["terraform_remote_state"].values()
    }
    assert producers == {"cluster"}
    for producer in sorted(producers):
        applied = apply_producer(terraform, tmp_path / "producer" / producer, synth, producer, local_s3)
        assert applied.returncode == 0, applied.first_error()
    for stack_id in consumers(synth):
        result = apply_consumer(terraform, tmp_path / "consumer" / stack_id, synth, stack_id, local_s3)
        assert result.returncode == 0, f"{stack_id}: {result.first_error()}"
        assert result.values, f"{stack_id} reads no producer output"
        for name, value in result.values.items():
            source, output = name.split("__")
            producer = producer_of(synth, synth.stacks[stack_id]["data"]["terraform_remote_state"][source])
            assert value == f"sample-{producer}-{output}"


def test_a_consumer_reading_an_output_nobody_produces_fails_in_terraform(
    terraform: Terraform, synth: Synth, local_s3: LocalS3, tmp_path: Path
) -> None:
    """Seeded failure: the platform asks the cluster for an output the cluster does not declare."""
    applied = apply_producer(terraform, tmp_path / "producer", synth, "cluster", local_s3)
    assert applied.returncode == 0, applied.first_error()
    broken = copy.deepcopy(synth)
    stack = broken.stacks["platform"]
    stack["output"]["typo"] = {"value": "${data.terraform_remote_state.state-cluster.outputs.cluster_nam}"}
    result = apply_consumer(terraform, tmp_path / "consumer", broken, "platform", local_s3)
    assert result.returncode != 0
    assert any("cluster_nam" in str(error) for error in result.errors), result.first_error()


def test_a_misspelt_backend_argument_is_refused_by_the_s3_backend(
    terraform: Terraform, synth: Synth, local_s3: LocalS3, tmp_path: Path
) -> None:
    """Seeded failure: `use_lockfiles` is not an argument of the S3 backend."""
    broken = copy.deepcopy(synth)
    settings = broken.stacks["cluster"]["terraform"]["backend"]["s3"]
    settings["use_lockfiles"] = settings.pop("use_lockfile")
    result = apply_producer(terraform, tmp_path, broken, "cluster", local_s3)
    assert result.returncode != 0
    assert "use_lockfiles" in result.first_error(), result.first_error()


def test_the_lockfile_keeps_a_second_writer_out(
    terraform: Terraform, synth: Synth, local_s3: LocalS3, tmp_path: Path
) -> None:
    """With `use_lockfile`, Terraform takes `<key>.tflock` by a conditional write; a held lock refuses the apply."""
    settings = backend(synth, "cluster")["s3"]
    lock = {"ID": "held-by-test", "Operation": "OperationTypeApply", "Who": "someone@elsewhere", "Version": "1.11.4"}
    local_s3.client.put_object(Bucket=settings["bucket"], Key=f"{settings['key']}.tflock", Body=json.dumps(lock))
    try:
        result = apply_producer(terraform, tmp_path, synth, "cluster", local_s3)
    finally:
        local_s3.client.delete_object(Bucket=settings["bucket"], Key=f"{settings['key']}.tflock")
    assert result.returncode != 0
    assert result.errors[0].summary == "Error acquiring the state lock", result.first_error()
    assert "PreconditionFailed" in result.errors[0].detail


def test_local_backend_mode_writes_and_reads_state_files(terraform: Terraform, variant: Synth, tmp_path: Path) -> None:
    """The `local` mode (variant configuration): state files at the paths the stacks name, read by consumers."""
    # Both folders are three levels below tmp_path, as cdktf.out/stacks/<stack> is below the repo root.
    writers, readers = tmp_path / "cdktf.out" / "stacks", tmp_path / "readers" / "stacks"
    for producer in ("cluster", "platform"):
        assert apply_producer(terraform, writers / producer, variant, producer, None).returncode == 0
    for stack_id in consumers(variant):
        result = apply_consumer(terraform, readers / stack_id, variant, stack_id, None)
        assert result.returncode == 0, f"{stack_id}: {result.first_error()}"
        assert result.values
    assert sorted(path.name for path in tmp_path.glob("terraform.*.tfstate")) == [
        "terraform.cluster.tfstate",
        "terraform.platform.tfstate",
    ]
