"""The upgrade to per-environment buckets moves each app stack's state with Terraform itself
(`terraform init -migrate-state`, todo_infra/state_move.py, `python3 dev.py move-state`), against an S3 server on
127.0.0.1: a state written under the old layout (the app stack's key in the shared state bucket) is found in the app
stack's own bucket afterwards, survives the old object's deletion, and is never overwritten by another; without the
move, Terraform finds no state in the new bucket.

The backend block is app-staging's as synthesized (bucket, key, `use_lockfile`, ...); only the endpoint and path-style
addressing point at the local server, as in test_state_backend.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preflight.terraform import Terraform, write_config
from tests.local_s3 import S3_CREDENTIALS, LocalS3
from tests.synth import Synth
from todo_infra.state_move import MoveError, move_state

STACK = "app-staging"


@pytest.fixture
def backends(synth: Synth, local_s3: LocalS3) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(old, new): app-staging's S3 backend settings in the shared bucket (the old layout) and as synthesized now.
    Both objects are removed before and after (the session's server is shared with the other state tests)."""
    new = copy.deepcopy(synth.stacks[STACK]["terraform"]["backend"]["s3"]) | local_s3.overrides()
    shared = synth.stacks["cluster"]["terraform"]["backend"]["s3"]["bucket"]
    old = new | {"bucket": shared}
    assert (old["bucket"], new["bucket"]) == ("hackathon-todo-tfstate", "hackathon-todo-tfstate-staging")

    def clean() -> None:
        for settings in (old, new):
            for key in (settings["key"], f"{settings['key']}.tflock"):
                local_s3.client.delete_object(Bucket=settings["bucket"], Key=key)

    clean()
    yield old, new
    clean()


def write_state(terraform: Terraform, folder: Path, backend: dict[str, Any], marker: str) -> None:
    """A deploy under that backend: a state with one resource (built-in `terraform_data`, no provider to download) and
    an output carrying `marker`."""
    write_config(
        folder,
        {
            "terraform": {"backend": {"s3": backend}},
            "resource": {"terraform_data": {"namespace": {"input": marker}}},
            "output": {"marker": {"value": marker}},
        },
    )
    applied = terraform.apply(folder, env=S3_CREDENTIALS)
    assert applied.returncode == 0, applied.first_error()


def state_at(terraform: Terraform, folder: Path, backend: dict[str, Any]) -> dict[str, Any] | None:
    """What Terraform finds with this backend block in a fresh folder (as a fresh checkout's deploy would); None for
    nothing (the S3 backend then shows an empty state without lineage)."""
    write_config(folder, {"terraform": {"backend": {"s3": backend}}})
    init = terraform.run(folder, "init", "-input=false", "-no-color", env=S3_CREDENTIALS)
    assert init.returncode == 0, init.output
    pulled = terraform.run(folder, "state", "pull", env=S3_CREDENTIALS)
    assert pulled.returncode == 0, pulled.output
    state: dict[str, Any] = json.loads(pulled.stdout)
    if not state["lineage"]:
        assert (state["serial"], state["outputs"], state["resources"]) == (0, {}, [])
        return None
    return state


def move(terraform: Terraform, old: dict[str, Any], new: dict[str, Any], scratch: Path) -> Any:
    return move_state(terraform.binary, new, old["bucket"], scratch, terraform.env(S3_CREDENTIALS))


def test_the_old_layouts_state_is_found_in_the_new_bucket_after_the_move(
    terraform: Terraform, local_s3: LocalS3, backends: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    old, new = backends
    write_state(terraform, tmp_path / "deployed-before", old, "written under the old layout")
    before = state_at(terraform, tmp_path / "old", old)
    assert before is not None and [r["type"] for r in before["resources"]] == ["terraform_data"]

    moved = move(terraform, old, new, tmp_path / "move")
    assert (moved.source, moved.destination, moved.already) == (
        "s3://hackathon-todo-tfstate/hackathon-todo/app-staging.tfstate",
        "s3://hackathon-todo-tfstate-staging/hackathon-todo/app-staging.tfstate",
        False,
    )
    after = state_at(terraform, tmp_path / "new", new)
    assert after is not None
    assert (after["serial"], after["resources"], after["outputs"]) == (
        before["serial"],
        before["resources"],
        before["outputs"],
    )
    assert after["outputs"]["marker"]["value"] == "written under the old layout"
    # Terraform 1.11.4 gives the copy a lineage of its own (what todo_infra/state_move.py verifies by content)
    assert (after["lineage"], after["serial"]) == (moved.lineage, moved.serial) != (before["lineage"], moved.serial)

    # the old object can go; the new bucket keeps the state, and a second run knows it is done
    local_s3.client.delete_object(Bucket=old["bucket"], Key=old["key"])
    assert state_at(terraform, tmp_path / "old-again", old) is None
    assert state_at(terraform, tmp_path / "new-again", new) == after
    assert move(terraform, old, new, tmp_path / "move-again").already is True


def test_seeded_without_the_move_terraform_finds_no_state_in_the_new_bucket(
    terraform: Terraform, backends: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    """What a deploy of the new layout would meet if the move were skipped: an empty state (it would try to create
    every resource again)."""
    old, new = backends
    write_state(terraform, tmp_path / "deployed-before", old, "written under the old layout")
    assert state_at(terraform, tmp_path / "new", new) is None
    assert state_at(terraform, tmp_path / "old", old) is not None


def test_the_move_never_overwrites_another_state_and_refuses_an_empty_source(
    terraform: Terraform, backends: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    old, new = backends
    with pytest.raises(MoveError, match=r"no state at s3://hackathon-todo-tfstate/hackathon-todo/app-staging\.tfstate"):
        move(terraform, old, new, tmp_path / "nothing")
    write_state(terraform, tmp_path / "old-deploy", old, "the real state")
    write_state(terraform, tmp_path / "new-deploy", new, "a deploy that ran before the move")
    with pytest.raises(MoveError, match=r"already holds a state .* not overwriting it"):
        move(terraform, old, new, tmp_path / "refused")
    kept = state_at(terraform, tmp_path / "new", new)
    assert kept is not None and kept["outputs"]["marker"]["value"] == "a deploy that ran before the move"
