"""The one-time upgrade of a stack deployed when Secrets were written through `data`: drop their values from state.

Once a Secret is written through `data_wo`, the kubernetes provider neither reads its data back nor touches the
`data` attribute, so values stored by the old layout would stay in state for good. `dev.py scrub-state <stack>`
pulls the stack's state, empties `data`/`binary_data` of every `kubernetes_secret_v1` that already has a write-only
revision, and pushes it back with Terraform (`state pull` / `state push`, which check lineage and serial). Nothing
in the cluster changes: no Secret is replaced, so no pod ever sees a missing or empty one. It refuses a state
whose Secrets have no revision yet (deploy the write-only layout first, or the next refresh would read the values
back). Standard library only (dev.py runs it before any virtual environment exists).
"""

from __future__ import annotations

import copy
import json
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SECRET_TYPE = "kubernetes_secret_v1"
_VALUE_ATTRIBUTES = ("data", "binary_data")


class ScrubError(ValueError):
    """The state cannot be scrubbed safely; the message says why and what to do."""


def scrub(state: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy of a state document (format version 4) without stored Secret values, and the Secrets it changed."""
    if state.get("version") != 4:
        raise ScrubError(f"state format version {state.get('version')!r} is not 4 (Terraform >= 0.12)")
    scrubbed = copy.deepcopy(state)
    changed = []
    for resource in scrubbed.get("resources", []):
        if resource.get("mode") != "managed" or resource.get("type") != SECRET_TYPE:
            continue
        for instance in resource.get("instances", []):
            attributes = instance.get("attributes", {})
            name = f"{resource['type']}.{resource['name']} ({attributes.get('metadata', [{}])[0].get('name', '?')})"
            if not attributes.get("data_wo_revision") and not attributes.get("binary_data_wo_revision"):
                raise ScrubError(f"{name} has no write-only revision yet: deploy the stack with this version first")
            if any(attributes.get(key) for key in _VALUE_ATTRIBUTES):
                for key in _VALUE_ATTRIBUTES:
                    attributes[key] = None
                changed.append(name)
    if changed:
        scrubbed["serial"] = int(scrubbed.get("serial", 0)) + 1
    return scrubbed, changed


def scrub_stack(terraform: Path, folder: Path, env: Mapping[str, str]) -> list[str]:
    """Pull the state of the initialized stack folder, scrub it and push it back; the Secrets changed."""
    pulled = subprocess.run(
        [str(terraform), "state", "pull"], cwd=folder, env=dict(env), capture_output=True, text=True, check=False
    )
    if pulled.returncode != 0:
        raise ScrubError(f"terraform state pull failed: {pulled.stderr.strip().splitlines()[-1:]}")
    scrubbed, changed = scrub(json.loads(pulled.stdout))
    if not changed:
        return []
    with tempfile.NamedTemporaryFile("w", suffix=".tfstate", dir=folder, delete=False) as handle:
        json.dump(scrubbed, handle)
    try:
        pushed = subprocess.run(
            [str(terraform), "state", "push", handle.name],
            cwd=folder,
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        Path(handle.name).unlink()
    if pushed.returncode != 0:
        raise ScrubError(f"terraform state push failed: {pushed.stderr.strip().splitlines()[-1:]}")
    return changed
