"""Run the CDKTF app in a subprocess (as operators and CI do) and load what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from todo_infra.contracts import PLATFORM_STACK

ROOT = Path(__file__).resolve().parent.parent


def start_synth(outdir: Path, overrides: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `main.py` writing to `outdir`, with `TODO_*`/`TF_VAR_*`/`CDKTF_*` taken only from `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TODO_", "TF_VAR_", "CDKTF_"))}
    env.update(overrides or {}, CDKTF_OUTDIR=str(outdir))
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass(frozen=True)
class Synthesized:
    """The synthesized app: manifest.json and each stack's cdk.tf.json."""

    outdir: Path
    manifest: dict[str, Any]
    stacks: dict[str, dict[str, Any]]

    def workdir(self, stack: str) -> Path:
        """The stack's directory: where Terraform runs and relative paths (assets) start from."""
        return (self.outdir / str(self.manifest["stacks"][stack]["synthesizedStackPath"])).parent

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

    def namespace(self, name: str) -> dict[str, Any]:
        """The Namespace `name` as the platform stack creates it (every app namespace is the platform's)."""
        matches = [
            ns
            for ns in self.resources(PLATFORM_STACK, "kubernetes_namespace_v1").values()
            if ns["metadata"]["name"] == name
        ]
        assert len(matches) == 1, f"{PLATFORM_STACK}: expected one kubernetes_namespace_v1 {name}, found {len(matches)}"
        return matches[0]

    def namespace_objects(self, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The named app namespaces as the API server holds them (their metadata), for the admission policies."""
        return {name: {"metadata": self.namespace(name)["metadata"]} for name in names}

    def release(self, stack: str, name: str) -> dict[str, Any]:
        matches = [r for r in self.resources(stack, "helm_release").values() if r["name"] == name]
        assert len(matches) == 1, f"{stack}: expected one helm_release {name}"
        return matches[0]

    def secret(self, stack: str, name: str) -> dict[str, Any]:
        matches = [s for s in self.resources(stack, "kubernetes_secret_v1").values() if s["metadata"]["name"] == name]
        assert len(matches) == 1, f"{stack}: expected one kubernetes_secret_v1 {name}"
        return matches[0]


def load_synthesized(outdir: Path) -> Synthesized:
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = {
        stack_id: json.loads((outdir / stack["synthesizedStackPath"]).read_text())
        for stack_id, stack in manifest["stacks"].items()
    }
    return Synthesized(outdir=outdir, manifest=manifest, stacks=stacks)


def synthesize(outdir: Path, overrides: Mapping[str, str] | None = None) -> Synthesized:
    process = start_synth(outdir, overrides)
    _, stderr = process.communicate(timeout=300)
    if process.returncode != 0:
        raise RuntimeError(f"synth failed ({process.returncode}): {stderr.strip()[-2000:]}")
    return load_synthesized(outdir)
