"""Synthesize the app once per test session, in a subprocess, exactly as CI and operators do.

Two runs start together (2 cores): the embedded defaults, with every secret `TF_VAR_*` set to a canary,
and a variant with CI-style `TODO_*` overrides (local state, DNS on DigitalOcean, HA control plane, the ingress-nginx
edge, Promtail as the log shipper).

A synth of main.py is a function of the files it reads and the environment it gets: its output is kept between runs
in the machine's cache (`kept_runs.SUITE_CACHE`, `synth/<key>/`), the key a SHA-256 of every input (`synth_key`),
and a later synth of identical inputs is a copy of it (`synthesize`). A synth that is to be kept runs with an audit
hook listing the checkout files its Python opens: one outside the keyed inputs fails the run instead of being kept
(Node only copies the asset folders Python names). Each test gets its own copy, so no test can change what another
reads. Only synths of this checkout's own main.py are kept; tests that edit the app's files synthesize in a copy of
the repo (tests/sandbox.py) with `dev.py synth` and never read or fill the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight.synth import ROOT, Synthesized, load_synthesized, start_synth
from tests import kept_runs
from tests.sandbox import COPIED
from todo_infra.app_secrets import (
    APP_SECRET_KEYS,
    BACKUP_SPACES_VARIABLES,
    DAPR_APP_TOKEN_SEED_VARIABLE,
    variable_name,
)

CANARY = "canary-7d1e0f-must-never-be-written"
#: Every secret input the stacks take. The tests fail if a stack declares a sensitive variable not listed here.
SECRET_VARIABLES = (
    *(variable_name(key) for key in APP_SECRET_KEYS),
    "ghcr_username",
    "ghcr_token",
    *BACKUP_SPACES_VARIABLES.values(),
    DAPR_APP_TOKEN_SEED_VARIABLE,
    "grafana_admin_password",
    "kube_token",
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
    "TODO_BACKUP_BUCKET": "acme-todo-backups",
    "TODO_CONTEXT_JSON": json.dumps(
        {"control_plane_allowed_addresses": ["203.0.113.0/24", "198.51.100.7/32"], "log_shipper": "promtail"}
    ),
    # The retired edge, still selectable: the variant synthesizes, renders and checks it.
    "TODO_EDGE": "ingress-nginx",
}


def run_main(outdir: Path, overrides: Mapping[str, str]) -> subprocess.Popen[str]:
    return start_synth(outdir, overrides)


#: Where kept synths live, in the machine's cache; entries unused for `kept_runs.KEPT_FOR` are removed.
CACHE = kept_runs.SUITE_CACHE / "synth"
#: Everything main.py reads from the checkout: what a sandbox copy of the repo needs to synthesize (tests/sandbox.py),
#: the linked tool pins (Node, the providers and the cdktf CLI are what Pipfile.lock and package-lock.json pin) and
#: the committed provider locks main.py places. Every synth the cache keeps proves it (`AUDIT`).
SYNTH_INPUTS = (*COPIED, "toolchain", "locks")
#: Installed from the lock files above; what is in them follows those.
INSTALLED = (".venv", "node_modules")
#: Loaded into the Python of a synth the cache is to keep (as `sitecustomize`, through PYTHONPATH): an audit hook that
#: lists every file and folder of the checkout the process opens or lists, written out when it exits.
AUDIT = """
import atexit, os, sys
_root, _seen = os.environ["SYNTH_AUDIT_ROOT"], set()
def _hook(event, args):
    if event in ("open", "os.listdir", "os.scandir") and args and isinstance(args[0], (str, bytes, os.PathLike)):
        if event == "open" and args[1] is None and not os.path.isabs(args[0]):
            return  # os.open of a name in a folder descriptor (shutil.rmtree's), not of the current folder
        path = os.path.abspath(os.fsdecode(args[0]))
        if path.startswith(_root + os.sep):
            _seen.add(os.path.relpath(path, _root))
sys.addaudithook(_hook)
atexit.register(lambda: open(os.environ["SYNTH_AUDIT_OUT"], "w").write("\\n".join(sorted(_seen))))
"""


def _input_files(root: Path) -> Iterator[Path]:
    for name in SYNTH_INPUTS:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            )


def synth_key(overrides: Mapping[str, str], root: Path = ROOT, environ: Mapping[str, str] | None = None) -> str:
    """SHA-256 of what a synth of `root`/main.py reads: the path and bytes of every input file, the environment
    start_synth passes (its own filter, then `overrides`; pytest's variables aside), the Python and the Node it runs
    (Node by its bytes), and what is installed (`kept_runs.runtime_identity`: the lock files, the bootstrap stamp,
    toolchain/ and the pinned tools, the upstream data)."""
    digest = hashlib.sha256()
    for path in _input_files(root):
        data = path.read_bytes()
        digest.update(f"{path.relative_to(root)}\0{len(data)}\0".encode())
        digest.update(data)
    source = os.environ if environ is None else environ
    env = kept_runs.keyed_env(source, dropped=("TODO_", "TF_VAR_", "CDKTF_"))
    env.update(overrides)
    node = shutil.which("node", path=env.get("PATH"))
    runtime = {
        "python": sys.version,
        "executable": sys.executable,
        "node": node and kept_runs.program_identity(node, None),
        "installed": kept_runs.runtime_identity(),
    }
    # The checkout's own path as a placeholder: another clone of identical files makes the same synth.
    facts = json.dumps({"env": env, "runtime": runtime}, sort_keys=True).replace(str(ROOT), "<checkout>")
    digest.update(facts.encode())
    return digest.hexdigest()


def outside_inputs(opened: Iterable[str], inputs: Iterable[str] = SYNTH_INPUTS) -> list[str]:
    """The checkout paths (relative) a synth opened that no input covers: each one a file whose change the key
    would miss."""
    covered = (*inputs, *INSTALLED)
    return sorted(
        path
        for path in opened
        if "__pycache__" not in Path(path).parts and not any(path == c or path.startswith(f"{c}/") for c in covered)
    )


def audited_run(outdir: Path, overrides: Mapping[str, str], log: Path) -> subprocess.Popen[str]:
    """run_main, with `AUDIT` listing into `log` what the synth opens in the checkout."""
    hook = log.parent / f"{log.name}.hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(AUDIT)
    audit = {"PYTHONPATH": str(hook), "SYNTH_AUDIT_ROOT": str(ROOT), "SYNTH_AUDIT_OUT": str(log)}
    return run_main(outdir, {**overrides, **audit})


def _kept(key: str) -> Path | None:
    return kept_runs.lookup(CACHE, key, "printed.json")


def _keep(key: str, outdir: Path, synth: Synth) -> None:
    """Store a finished synth under its key (tests/kept_runs.py's `store`: a reader sees a whole entry or none).
    An output that names its own folder or the checkout is not kept: a copy elsewhere would name the wrong one."""
    markers = (os.fsencode(outdir.resolve()), os.fsencode(ROOT))
    printed = f"{synth.stdout}{synth.stderr}".encode()
    files = [path.read_bytes() for path in outdir.rglob("*") if path.is_file()]
    if any(marker in text for marker in markers for text in (printed, *files)):
        return

    def fill(staging: Path) -> None:
        shutil.copytree(outdir, staging / "out", symlinks=True)
        (staging / "printed.json").write_text(json.dumps([synth.stdout, synth.stderr]))

    kept_runs.store(CACHE, key, fill)


def synthesize(runs: Mapping[Path, Mapping[str, str]]) -> dict[Path, Synth]:
    """main.py's output for each `outdir: overrides`: a copy of the kept synth of identical inputs, otherwise made
    (the missing ones started together) and kept."""
    keys = {outdir: synth_key(overrides) for outdir, overrides in runs.items()}
    made: dict[Path, Synth] = {}
    started = {}
    scratch = Path(tempfile.mkdtemp(prefix="synth-audit-"))
    for outdir, key in keys.items():
        entry = _kept(key)
        if entry is None:
            started[outdir] = audited_run(outdir, runs[outdir], scratch / key)
            continue
        shutil.copytree(entry / "out", outdir, symlinks=True, dirs_exist_ok=True)
        stdout, stderr = json.loads((entry / "printed.json").read_text())
        made[outdir] = loaded(outdir, stdout, stderr)
    for outdir, process in started.items():
        made[outdir] = finish(process, outdir)
        unkeyed = outside_inputs((scratch / keys[outdir]).read_text().split())
        assert not unkeyed, f"main.py read {unkeyed}, which SYNTH_INPUTS (tests/synth.py) leaves out of the key"
        _keep(keys[outdir], outdir, made[outdir])
    shutil.rmtree(scratch, ignore_errors=True)
    return made


@dataclass(frozen=True)
class Synth(Synthesized):
    """A synthesized app plus what main.py printed while making it."""

    stdout: str = ""
    stderr: str = ""


def finish(process: subprocess.Popen[str], outdir: Path) -> Synth:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, f"synth failed ({process.returncode}):\n{stderr[-3000:]}"
    return loaded(outdir, stdout, stderr)


def loaded(outdir: Path, stdout: str, stderr: str) -> Synth:
    """A synthesized folder read back, with what main.py printed while making it."""
    found = load_synthesized(outdir)
    return Synth(outdir=found.outdir, manifest=found.manifest, stacks=found.stacks, stdout=stdout, stderr=stderr)


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
