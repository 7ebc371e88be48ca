"""The one-time move of an app stack's state from the shared state bucket to its environment's own bucket.

Before per-environment buckets, every stack's state was `<project>/<stack>.tfstate` in the one state bucket; now
`app-<env>` keeps it in `<state_bucket>-<env>` under the same key (todo_infra/settings.py). Terraform moves state
between backends itself: in a folder initialised with the old backend, `terraform init -migrate-state` with the new
backend block copies the state across (Terraform 1.11 refuses a changed backend without `-migrate-state` or
`-reconfigure`, and asks before copying unless `-force-copy`). A freshly synthesized stack folder knows no old
backend, so `dev.py move-state <stack>` runs exactly that in a scratch folder holding only the stack's backend block
(no provider is needed to move state): first with the old bucket, then with the new one.

What Terraform 1.11.4 does here, as the suite observes it against an S3 server (tests/terraform/test_state_move.py):
the copy keeps the serial, the resources and the outputs, and gets a new lineage. So the move is verified by content,
not by lineage; it refuses to overwrite a state already in the new bucket unless that state has the same content (a
second run), and then says so. It moves nothing else and deletes nothing: the old object stays until the operator
deletes it (docs/runbooks/deploy.md, "Upgrade to per-environment buckets"). Standard library only (dev.py runs it).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class MoveError(ValueError):
    """The state cannot be moved safely; the message says why and what to do."""


@dataclass(frozen=True)
class Moved:
    source: str
    destination: str
    lineage: str
    serial: int
    #: True when the destination already held this state (a second run), so nothing was copied.
    already: bool = False


def s3_url(backend: Mapping[str, Any]) -> str:
    return f"s3://{backend['bucket']}/{backend['key']}"


def _terraform(terraform: Path, folder: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(terraform), *args], cwd=folder, env=dict(env), capture_output=True, text=True, timeout=300, check=False
    )


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    return " ".join(lines[-3:]) if lines else f"exit code {result.returncode}"


def _configure(folder: Path, backend: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.tf.json").write_text(json.dumps({"terraform": {"backend": {"s3": dict(backend)}}}, indent=2))


def _init(terraform: Path, folder: Path, backend: Mapping[str, Any], env: Mapping[str, str], *flags: str) -> None:
    _configure(folder, backend)
    result = _terraform(terraform, folder, env, "init", "-input=false", "-no-color", *flags)
    if result.returncode != 0:
        raise MoveError(f"terraform init with {s3_url(backend)} failed: {_last_line(result)}")


def _pull(terraform: Path, folder: Path, env: Mapping[str, str], backend: Mapping[str, Any]) -> dict[str, Any] | None:
    """The state the folder's backend holds, or None when it holds none (Terraform 1.11's S3 backend then prints an
    empty state without a lineage; no object is written)."""
    result = _terraform(terraform, folder, env, "state", "pull")
    if result.returncode != 0:
        raise MoveError(f"terraform state pull from {s3_url(backend)} failed: {_last_line(result)}")
    state: dict[str, Any] = json.loads(result.stdout) if result.stdout.strip() else {}
    return state if state.get("lineage") else None


def _describe(state: Mapping[str, Any]) -> str:
    return f"lineage {state.get('lineage')}, serial {state.get('serial')}, {len(state.get('resources', []))} resources"


def _content(state: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a move must carry across (the lineage is not: Terraform gives the copy a new one)."""
    return (state.get("serial"), state.get("resources"), state.get("outputs"))


def move_state(
    terraform: Path, backend: Mapping[str, Any], old_bucket: str, workdir: Path, env: Mapping[str, str]
) -> Moved:
    """Move the state of the stack whose S3 backend block is `backend` from `old_bucket` (same key) to the bucket the
    block names, with Terraform's `init -migrate-state`. `workdir` is a scratch folder."""
    new = dict(backend)
    old = {**new, "bucket": old_bucket}
    if old_bucket == new["bucket"]:
        raise MoveError(f"{s3_url(new)} is already where the state was: nothing to move")
    source_dir, destination_dir = workdir / "source", workdir / "destination"
    _init(terraform, destination_dir, new, env)
    there = _pull(terraform, destination_dir, env, new)
    _init(terraform, source_dir, old, env)
    state = _pull(terraform, source_dir, env, old)
    if state is None:
        if there is not None:
            return Moved(s3_url(old), s3_url(new), str(there.get("lineage")), int(there.get("serial", 0)), True)
        raise MoveError(
            f"no state at {s3_url(old)} and none at {s3_url(new)}: nothing to move (check the TODO_STATE_*)"
        )
    if there is not None:
        if _content(there) == _content(state):
            return Moved(s3_url(old), s3_url(new), str(there.get("lineage")), int(there.get("serial", 0)), True)
        raise MoveError(
            f"{s3_url(new)} already holds a state ({_describe(there)}) other than {s3_url(old)}'s "
            f"({_describe(state)}); not overwriting it: compare the two, and delete the wrong one first"
        )
    _init(terraform, source_dir, new, env, "-migrate-state", "-force-copy")
    moved = _pull(terraform, destination_dir, env, new)
    if moved is None or _content(moved) != _content(state):
        found = _describe(moved) if moved else "nothing"
        raise MoveError(f"after the move {s3_url(new)} holds {found}, not {_describe(state)}: check it by hand")
    return Moved(s3_url(old), s3_url(new), str(moved.get("lineage")), int(moved.get("serial", 0)))
