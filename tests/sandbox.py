"""A copy of the repo in a temporary folder (its own cdktf.out/, the installed tools linked in), for tests that run
dev.py or main.py as an operator does without touching the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tests import kept_runs

ROOT = Path(__file__).resolve().parent.parent
COPIED = (
    "main.py",
    "dev.py",
    "cdktf.json",
    "Pipfile.lock",
    "package-lock.json",
    "stacks",
    "todo_infra",
    "preflight",
    "chart",
    "k8s",
)
LINKED = (".venv", "node_modules", "toolchain")
#: Variables an operator's shell may hold that change what a command does; a sandboxed run gets only its own.
#: PYTEST_ too: a pytest a test starts must not believe it is the outer run's xdist worker (PYTEST_XDIST_WORKER).
CONFIGURING = ("TODO_", "TF_VAR_", "CDKTF_", "AWS_", "DIGITALOCEAN_", "SECRETS_", "DEVPY_", "PYTEST_")


def copy_repo(base: Path) -> Path:
    root = Path(tempfile.mkdtemp(prefix="case-", dir=base))
    for name in COPIED:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / name)
    for name in LINKED:
        (root / name).symlink_to(ROOT / name)
    return root


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any configuring variable, plus `extra`."""
    return {k: v for k, v in os.environ.items() if not k.startswith(CONFIGURING)} | dict(extra or {})


def preflight(base: Path, outdir: Path, *args: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`python -m preflight --synth-dir cdktf.out *args` as the repo runs it, in a sandbox copy holding a copy of
    `outdir` and the workflows checkov scans, with a clean environment; kept between runs (tests/kept_runs.py). A
    file the arguments name is relative to the copy, which is returned with the result."""
    root = copy_repo(base)
    shutil.copytree(ROOT / ".github", root / ".github")
    shutil.copytree(outdir, root / "cdktf.out", symlinks=True)
    command = [sys.executable, "-m", "preflight", "--synth-dir", "cdktf.out", *args]
    # A hang guard, not a timing: checkov alone has taken over 100 s on a machine busy with both workers and more.
    return root, kept_runs.run(command, root, env=clean_env(), timeout=600)
