"""The stacks' Terraform provider locks: pinned by hash, committed, and the only ones a workflow's `terraform init` may
use (`-lockfile=readonly`).

Each stack's lock is `locks/<stack>.terraform.lock.hcl` (the name `.terraform.lock.hcl` inside cdktf.out/ is
generated, and git ignores it there). main.py copies each stack's lock into `cdktf.out/stacks/<stack>/` after every
synth, where the cdktf CLI and the workflows run `terraform init`; the workflows set
`TF_CLI_ARGS_init=-lockfile=readonly`, so a provider package whose checksum is not in the lock is refused and a lock
that does not cover the configuration stops the init instead of being rewritten. The locks are regenerated, for
every platform the team and the runners use, by `.github/workflows/provider-locks.yml` (`terraform providers lock`),
which opens a pull request when they change.

Standard library only: `.github/scripts` and the workflows read it before any bootstrap.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import toolchain

ROOT = Path(__file__).resolve().parent.parent
LOCKS_DIR = ROOT / "locks"
LOCK_NAME = ".terraform.lock.hcl"
#: The platforms every lock carries hashes for: the runners (linux_amd64), and the team's machines.
PLATFORMS = ("linux_amd64", "linux_arm64", "darwin_arm64", "darwin_amd64")
#: What the registry's address of a provider is when its source names no host.
DEFAULT_HOST = "registry.terraform.io"
#: Stacks whose lock is not committed yet -> why (no trustworthy hashes could be gathered offline for a provider they
#: pin). The provider-locks workflow generates their locks from the registry and empties this file in its pull request.
AWAITING_FILE = LOCKS_DIR / "awaiting.json"
#: Where each locked provider version's hashes come from: `"<address> <version>"` -> the public lock files (repository,
#: commit, path) that agree on its `zh:` hashes, at least two of different owners (`zh:` hashes are the registry's
#: SHA256SUMS of the release archives, so independent locks agree exactly), or REGISTRY when provider-locks.yml
#: generated it from the registry.
SOURCES_FILE = LOCKS_DIR / "sources.json"
REGISTRY = "registry: terraform providers lock (provider-locks.yml)"
#: How many public lock files of different owners must agree before hashes gathered offline are committed.
MIN_AGREEING_SOURCES = 2


def awaiting() -> dict[str, str]:
    found: dict[str, str] = json.loads(AWAITING_FILE.read_text()) if AWAITING_FILE.is_file() else {}
    return found


_BLOCK = re.compile(r'provider\s+"(?P<address>[^"]+)"\s*\{(?P<body>.*?)\n\}', re.DOTALL)
_VERSION = re.compile(r'^\s*version\s*=\s*"(?P<version>[^"]+)"', re.MULTILINE)
_HASHES = re.compile(r"hashes\s*=\s*\[(?P<list>[^\]]*)\]", re.DOTALL)
_HASH = re.compile(r'"((?:h1|zh):[^"]+)"')
_ZH = re.compile(r"^zh:[0-9a-f]{64}$")
_H1 = re.compile(r"^h1:[A-Za-z0-9+/]{43}=$")


@dataclass(frozen=True)
class Locked:
    version: str
    hashes: tuple[str, ...]


def lock_path(stack_id: str) -> Path:
    return LOCKS_DIR / f"{stack_id}{LOCK_NAME}"


def parse(text: str) -> dict[str, Locked]:
    """The provider blocks of a lock file: address -> version and hashes."""
    found = {}
    for block in _BLOCK.finditer(text):
        version = _VERSION.search(block["body"])
        hashes = _HASHES.search(block["body"])
        found[block["address"]] = Locked(
            version=version["version"] if version else "",
            hashes=tuple(_HASH.findall(hashes["list"])) if hashes else (),
        )
    return found


def address(source: str) -> str:
    """The registry address of a `required_providers` source (`hashicorp/helm`; a bare `helm` is hashicorp's)."""
    parts = source.split("/")
    if len(parts) == 1:
        parts = ["hashicorp", *parts]
    if len(parts) == 2:
        parts = [DEFAULT_HOST, *parts]
    return "/".join(parts).lower()


def required(stack: dict[str, Any]) -> dict[str, str]:
    """address -> exact version pinned by a synthesized stack (`terraform.required_providers`)."""
    providers: dict[str, dict[str, str]] = stack.get("terraform", {}).get("required_providers", {})
    return {address(spec.get("source", name)): spec.get("version", "") for name, spec in providers.items()}


def problems(stack_id: str, stack: dict[str, Any], text: str | None) -> list[str]:
    """What is wrong with the lock `text` of a stack (None: no lock committed); empty when it covers exactly the
    providers and versions the stack pins, each with well-formed hashes."""
    if text is None:
        return [f"{stack_id}: no provider lock {lock_path(stack_id).relative_to(ROOT)}"]
    pinned, locked = required(stack), parse(text)
    found = [f"{stack_id}: {name} is pinned but not locked" for name in sorted(set(pinned) - set(locked))]
    found += [f"{stack_id}: {name} is locked but not used" for name in sorted(set(locked) - set(pinned))]
    for name in sorted(set(pinned) & set(locked)):
        lock = locked[name]
        if lock.version != pinned[name]:
            found.append(f"{stack_id}: {name} is locked at {lock.version}, pinned at {pinned[name]}")
        if not any(_ZH.fullmatch(value) for value in lock.hashes):
            found.append(f"{stack_id}: {name} has no zh: (release archive) hash")
        malformed = [value for value in lock.hashes if not (_ZH.fullmatch(value) or _H1.fullmatch(value))]
        if malformed:
            found.append(f"{stack_id}: {name} has malformed hashes {malformed}")
    return found


def sources() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(SOURCES_FILE.read_text()) if SOURCES_FILE.is_file() else {}
    return found


def source_problems(locks: dict[str, str], recorded: dict[str, Any]) -> list[str]:
    """What is wrong with the record of where the locked hashes come from: `locks` is stack -> lock text. Every locked
    provider version needs its record: REGISTRY, or public lock files (repository, commit, path) of at least
    MIN_AGREEING_SOURCES owners (fewer only with a written reason under `_one_source`); a record nothing locks is
    stale."""
    entries = {key: value for key, value in recorded.items() if not key.startswith("_")}
    excused: dict[str, str] = recorded.get("_one_source", {})
    locked = {f"{name} {lock.version}" for text in locks.values() for name, lock in parse(text).items()}
    found = [
        f"{key}: locked, but locks/sources.json does not say where its hashes come from"
        for key in sorted(locked - set(entries))
    ]
    found += [
        f"{key}: in locks/sources.json, but no lock has it" for key in sorted((set(entries) | set(excused)) - locked)
    ]
    for key in sorted(locked & set(entries)):
        entry = entries[key]
        if entry == REGISTRY:
            continue
        complete = (
            isinstance(entry, list)
            and bool(entry)
            and all(
                isinstance(source, dict)
                and all(str(source.get(field, "")).strip() for field in ("repository", "commit", "path"))
                for source in entry
            )
        )
        if not complete:
            found.append(f"{key}: each source needs repository, commit and path")
            continue
        owners = {str(source["repository"]).split("/")[0].lower() for source in entry}
        if len(owners) < MIN_AGREEING_SOURCES and not str(excused.get(key, "")).strip():
            found.append(
                f"{key}: {len(owners)} owner(s) agree, {MIN_AGREEING_SOURCES} needed (or {REGISTRY!r},"
                " or a reason under _one_source)"
            )
    return found


def record_registry_sources() -> None:
    """After provider-locks.yml regenerated every lock from the registry: that is where all their hashes come from."""
    locks = {path.name: path.read_text() for path in sorted(LOCKS_DIR.glob(f"*{LOCK_NAME}"))}
    keys = sorted({f"{name} {lock.version}" for text in locks.values() for name, lock in parse(text).items()})
    SOURCES_FILE.write_text(json.dumps(dict.fromkeys(keys, REGISTRY), indent=1) + "\n")


def place(outdir: Path) -> list[str]:
    """Copy each committed lock into its synthesized stack's folder (where Terraform runs); the stacks placed."""
    placed = []
    stacks = outdir / "stacks"
    for folder in sorted(stacks.iterdir()) if stacks.is_dir() else []:
        lock = lock_path(folder.name)
        if lock.is_file():
            shutil.copyfile(lock, folder / LOCK_NAME)
            placed.append(folder.name)
        else:
            (folder / LOCK_NAME).unlink(missing_ok=True)
    return placed


# --- completing a lock for the runner's platform ---------------------------------------------------------------


def completion_problems(before: str, after: str) -> list[str]:
    """What a completion changed beyond adding `h1:` hashes: the providers, their versions and every committed hash
    must stay as they are."""
    old, new = parse(before), parse(after)
    found = [f"{name}: added by the init" for name in sorted(set(new) - set(old))]
    found += [f"{name}: dropped by the init" for name in sorted(set(old) - set(new))]
    for name in sorted(set(old) & set(new)):
        if new[name].version != old[name].version:
            found.append(f"{name}: version changed from {old[name].version} to {new[name].version}")
        lost = sorted(set(old[name].hashes) - set(new[name].hashes))
        if lost:
            found.append(f"{name}: committed hashes dropped {lost}")
        added = sorted(set(new[name].hashes) - set(old[name].hashes))
        if [value for value in added if not _H1.fullmatch(value)]:
            found.append(f"{name}: hashes other than h1: added {added}")
    return found


def complete(lock: Path, terraform: Path, env: dict[str, str] | None = None) -> list[str]:
    """Add to a committed lock the `h1:` hash of each provider package as this machine installs it.

    A lock gathered offline carries only the release archives' `zh:` hashes, and Terraform checks an installed
    (unpacked) provider against `h1:` hashes at every plan, apply and validate, so a `-lockfile=readonly` init
    with such a lock installs the provider and the plan then refuses it. This runs `terraform init` (not read-only)
    on a configuration that pins exactly the lock's providers and versions: Terraform downloads each package, refuses
    it unless it matches a hash the lock already holds (internal/providercache/installer.go, `InstallPackage` with the
    locked hashes), and records the `h1:` of what it installed. The result is written back only when it adds nothing
    but `h1:` hashes. Returns the problems (empty: the lock is complete for this machine)."""
    before = lock.read_text()
    locked = parse(before)
    providers = {
        name.rsplit("/", 1)[1]: {"source": name, "version": entry.version} for name, entry in sorted(locked.items())
    }
    with tempfile.TemporaryDirectory(prefix="lock-complete-") as scratch:
        work = Path(scratch)
        (work / "main.tf.json").write_text(json.dumps({"terraform": {"required_providers": providers}}))
        (work / LOCK_NAME).write_text(before)
        run_env = {key: value for key, value in (env if env is not None else os.environ).items()}
        run_env.pop("TF_CLI_ARGS_init", None)
        run_env.pop("TF_CLI_ARGS", None)
        result = subprocess.run(
            [str(terraform), "init", "-backend=false", "-input=false", "-no-color"],
            cwd=work,
            env=run_env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            error = " ".join(result.stderr.split()) or " ".join(result.stdout.split())
            return [f"{lock.name}: terraform init refused the lock: {error[:400]}"]
        after = (work / LOCK_NAME).read_text()
    found = [f"{lock.name}: {problem}" for problem in completion_problems(before, after)]
    if not found and after != before:
        lock.write_text(after)
    return found


USAGE = "usage: python3 -m todo_infra.provider_locks complete [LOCK_FILE ...]"


def main(argv: list[str]) -> int:
    """`python3 -m todo_infra.provider_locks complete [LOCK_FILE ...]`: complete the named locks (default: every
    committed one) for this machine. The plan and deploy jobs run it on the stack's placed lock, with no secret in
    their environment, before their read-only init (docs/runbooks/deploy.md, "Provider lock refused")."""
    if not argv or argv[0] != "complete":
        print(USAGE, file=sys.stderr)
        return 2
    locks = [Path(arg) for arg in argv[1:]] or sorted(LOCKS_DIR.glob(f"*{LOCK_NAME}"))
    missing = [str(lock) for lock in locks if not lock.is_file()]
    if missing:
        print(f"provider lock: no such lock file {', '.join(missing)}", file=sys.stderr)
        return 2
    terraform = toolchain.find("terraform")
    found: list[str] = []
    for lock in locks:
        problems_of_lock = complete(lock, terraform)
        found += problems_of_lock
        print(f"provider lock {lock}: {'refused' if problems_of_lock else 'complete for this machine'}")
    for problem in found:
        print(f"provider lock: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
