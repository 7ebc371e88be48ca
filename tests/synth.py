"""Synthesize the app once per test session, in a subprocess, exactly as CI and operators do.

Two runs start together (2 cores): the embedded defaults, with every secret `TF_VAR_*` set to a canary,
and a variant with CI-style `TODO_*` overrides (local state, DNS on DigitalOcean, HA control plane).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from todo_infra.app_secrets import APP_SECRET_KEYS, variable_name

ROOT = Path(__file__).resolve().parent.parent
CANARY = "canary-7d1e0f-must-never-be-written"
#: Every secret input the stacks take. The tests fail if a stack declares a sensitive variable not listed here.
SECRET_VARIABLES = (
    *(variable_name(key) for key in APP_SECRET_KEYS),
    "ghcr_username",
    "ghcr_token",
    "grafana_admin_password",
    "alertmanager_slack_webhook_url",
)
CREDENTIAL_ENV = ("DIGITALOCEAN_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
VARIANT_OVERRIDES = {
    "TODO_STATE_BACKEND": "local",
    "TODO_DNS_ON_DIGITALOCEAN": "true",
    "TODO_HA_CONTROL_PLANE": "true",
    "TODO_DOMAIN": "todo-demo.dev",
    "TODO_REGION": "nyc3",
    "TODO_GHCR_OWNER": "acme-apps",
}


def run_main(outdir: Path, overrides: Mapping[str, str], *, cwd: Path = ROOT) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TODO_", "TF_VAR_", "CDKTF_"))}
    env.update(overrides, CDKTF_OUTDIR=str(outdir))
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py")],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass(frozen=True)
class Synth:
    outdir: Path
    manifest: dict[str, Any]
    stacks: dict[str, dict[str, Any]]
    stdout: str
    stderr: str

    def resources(self, stack: str, kind: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self.stacks[stack].get("resource", {}).get(kind, {})
        return found

    def data(self, stack: str, kind: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self.stacks[stack].get("data", {}).get(kind, {})
        return found

    def one(self, stack: str, kind: str, *, data: bool = False) -> dict[str, Any]:
        items = list((self.data if data else self.resources)(stack, kind).values())
        assert len(items) == 1, f"{stack}: expected one {kind}, found {len(items)}"
        return items[0]

    def release(self, stack: str, name: str) -> dict[str, Any]:
        matches = [r for r in self.resources(stack, "helm_release").values() if r["name"] == name]
        assert len(matches) == 1, f"{stack}: expected one helm_release {name}"
        return matches[0]


def finish(process: subprocess.Popen[str], outdir: Path) -> Synth:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, f"synth failed ({process.returncode}):\n{stderr[-3000:]}"
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = {
        stack_id: json.loads((outdir / stack["synthesizedStackPath"]).read_text())
        for stack_id, stack in manifest["stacks"].items()
    }
    return Synth(outdir=outdir, manifest=manifest, stacks=stacks, stdout=stdout, stderr=stderr)


def strings(value: Any) -> Iterator[str]:
    """Every string (keys included) inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
