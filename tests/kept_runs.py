"""Commands the suite runs in a folder a test made (a sandbox copy of the repo, a tool's scratch folder), kept between
suite runs under a SHA-256 of everything they can read, so a later run with identical inputs replays the result.

Such a command reads its folder, its arguments, its environment, and the installed runtime: the packages the lock
files pin, the tools toolchain/ pins, the upstream data. The key covers all of those:
- the path and bytes of every file in the folder (a symlink by its target);
- the program's own bytes; the arguments, working folder, environment and standard input, with the folder's and
  the checkout's own path written as placeholders, so that another clone can use the same entry;
- the runtime (`runtime_identity`): Python, both lock files, the bootstrap stamp, every file under toolchain/, each
  pinned tool as `toolchain.find` finds it, the upstream data folder's files;
- the UTC date: a command whose answer depends on the day runs again each day.
A command that talks to a server or reads a file outside its folder by another way must not be run through here.

The entry holds the exit code, what the command printed, and every file and folder it created, changed (in bytes,
mode or only its modification time) or removed in its folder. A replay does the same to the folder, writing each file
anew, so a later step in the same folder sees what the command left there. Only whole runs are kept: a timeout or a
signal is not an answer, and an output file that names its own folder or the checkout would be wrong anywhere else,
so neither is stored.

`python3 dev.py test --fresh` runs every command (and every synth, tests/synth.py) again; CI's clean clone has no
entries, so it always does. Entries unused for `KEPT_FOR` are removed.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import toolchain
from tests.upstream import upstream_dir

ROOT = Path(__file__).resolve().parent.parent
#: The suite's kept results, synths (tests/synth.py) and command runs (here), in the machine's cache beside the pinned
#: tools: every clone on the machine shares them, as the keys hold no path of the checkout.
SUITE_CACHE = toolchain.MACHINE_CACHE / "suite"
RUNS = SUITE_CACHE / "runs"
KEPT_FOR = 3 * 24 * 3600
#: Folders that are caches of what is already keyed, not inputs: neither hashed nor recorded.
DERIVED = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")
#: Environment variables that cannot change a command's answer: pytest's and pytest-xdist's own, and the lock a
#: holder of cdktf.out/ passes to its children.
VOLATILE_ENV = ("PYTEST_", "DEVPY_OUTDIR_LOCK")
#: What a shell records about itself (its folders, its depth, the last command): the working folder that counts is
#: the command's own, keyed as `cwd`.
SHELL_ENV = frozenset({"PWD", "OLDPWD", "SHLVL", "_"})


def keyed_env(env: Mapping[str, str], *, dropped: tuple[str, ...] = ()) -> dict[str, str]:
    """The part of an environment a key holds: without the volatile and shell variables, nor the `dropped` prefixes."""
    return {k: v for k, v in env.items() if not k.startswith((*VOLATILE_ENV, *dropped)) and k not in SHELL_ENV}


FOLDER, CHECKOUT, UPSTREAM = "<folder>", "<checkout>", "<upstream-data>"
#: False under `--fresh` (tests/conftest.py): every command and synth runs.
ENABLED = True


def _files(folder: Path) -> Iterator[tuple[str, Path]]:
    """Every folder, file and symlink in `folder` (relative path, path), sorted; links are not followed."""
    for current, dirs, names in os.walk(folder):
        here = Path(current)
        links = [d for d in dirs if (here / d).is_symlink()]
        dirs[:] = sorted(d for d in dirs if d not in DERIVED and d not in links)
        for name in sorted([*names, *dirs, *(link for link in links if link not in DERIVED)]):
            path = here / name
            yield path.relative_to(folder).as_posix(), path


def _file_digest(path: Path, folder: Path) -> str:
    if path.is_symlink():
        return "link:" + _placeholders(os.readlink(path), folder)
    if path.is_dir():
        return "dir"
    return f"{hashlib.sha256(path.read_bytes()).hexdigest()}:{path.stat().st_mode & 0o7777:o}"


def tree(folder: Path) -> dict[str, str]:
    """relative path -> SHA-256 and mode of each file, `link:<target>` (paths as placeholders) of each symlink, `dir`
    of each folder: everything in `folder`."""
    return snapshot(folder)[0]


def snapshot(folder: Path) -> tuple[dict[str, str], dict[str, int]]:
    """`tree(folder)`, and the modification time of each file and symlink, in one walk."""
    digests, mtimes = {}, {}
    for relative, path in _files(folder):
        digests[relative] = _file_digest(path, folder)
        if digests[relative] != "dir":
            mtimes[relative] = path.lstat().st_mtime_ns
    return digests, mtimes


@functools.cache
def runtime_identity() -> str:
    """What every kept command may read besides its folder: Python, the installed packages (the lock files and the
    stamp the bootstrap writes when .venv matches them), the pinned tools (toolchain/ and the binaries found) and the
    upstream data."""
    digest = hashlib.sha256(f"{sys.version}\0{sys.platform}\0".encode())
    for name in ("Pipfile.lock", "package-lock.json", ".venv/.bootstrap-stamp"):
        path = ROOT / name
        digest.update(f"{name}\0{_file_digest(path, ROOT) if path.exists() else '-'}\0".encode())
    for folder in (ROOT / "toolchain", upstream_dir()):
        if folder is not None:
            digest.update(json.dumps(tree(folder), sort_keys=True).encode())
    digest.update(json.dumps(tools_found(), sort_keys=True).encode())
    return digest.hexdigest()


def tools_found() -> dict[str, str]:
    """Each pinned tool as `toolchain.find` finds it now (its SHA-256 checked there): path, size and modification
    time, or why it is not there, so a run kept before a tool was provisioned, removed or replaced runs again."""
    found = {}
    for name in toolchain.tools():
        try:
            binary = toolchain.find(name)
        except toolchain.ToolError as error:
            found[name] = f"absent: {error}"
            continue
        stat = binary.stat()
        found[name] = f"{_placeholders(str(binary), ROOT)} {stat.st_size} {stat.st_mtime_ns}"
    return found


def program_identity(program: str, path: str | None) -> str:
    """SHA-256 of the program a command runs (found on the command's PATH when it is a bare name), so a different
    binary at the same path is another key."""
    found = shutil.which(program, path=path) or program
    stat = os.stat(found)
    return _binary_digest(os.path.realpath(found), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _binary_digest(path: str, size: int, mtime_ns: int) -> str:
    """Memoized by size and modification time: a tool binary is read once per process."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _placeholders(text: str, folder: Path) -> str:
    """`text` with the folder's, the checkout's and the upstream data's paths as placeholders (the upstream data is
    keyed by its files, `runtime_identity`)."""
    upstream = upstream_dir()
    text = text.replace(str(folder), FOLDER).replace(str(ROOT), CHECKOUT)
    return text.replace(str(upstream), UPSTREAM) if upstream else text


def _restore(text: str, folder: Path) -> str:
    upstream = upstream_dir()
    text = text.replace(FOLDER, str(folder)).replace(CHECKOUT, str(ROOT))
    return text.replace(UPSTREAM, str(upstream)) if upstream else text


def today() -> str:
    """The UTC date, part of every key."""
    return datetime.datetime.now(datetime.UTC).date().isoformat()


def run_key(
    argv: Sequence[str | Path],
    folder: Path,
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: str | None,
    files: Mapping[str, str],
) -> str:
    """SHA-256 of everything a command run in `folder` can read (the module's docstring lists it)."""
    kept_env = {k: _placeholders(v, folder) for k, v in keyed_env(env).items()}
    facts = {
        "argv": [_placeholders(str(word), folder) for word in argv],
        "program": program_identity(str(argv[0]), env.get("PATH")),
        "cwd": cwd.relative_to(folder).as_posix(),
        "env": kept_env,
        "stdin": stdin,
        "files": files,
        "runtime": runtime_identity(),
        "day": today(),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def lookup(area: Path, key: str, complete: str) -> Path | None:
    """The entry of `key` in `area` when keeping is on and the entry is whole (its `complete` file written last);
    its time is renewed, so entries in use are pruned last. Shared by the synth cache (tests/synth.py)."""
    entry = area / key
    if not ENABLED or not (entry / complete).is_file():
        return None
    os.utime(entry)
    return entry


def _discard(entry: Path) -> None:
    """Move `entry` out of the way in one step, then delete it: a reader sees the whole entry or none."""
    trash = entry.with_name(f".trash-{os.getpid()}-{time.time_ns()}")
    try:
        entry.rename(trash)
    except OSError:
        return  # gone already, or another process moved it first
    shutil.rmtree(trash, ignore_errors=True)


def store(area: Path, key: str, fill: Callable[[Path], None]) -> None:
    """Write an entry aside with `fill(folder)`, then rename it into place in one step, so a reader sees a whole
    entry or none (when two runs keep the same key at once, the first rename wins). A run made again although an
    entry was there (`--fresh`) replaces it. Prunes entries unused for `KEPT_FOR`; another process pruning at the same
    time is expected. Shared by the synth cache (tests/synth.py)."""
    toolchain.private_folder(area)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=area))
    fill(staging)
    if (area / key).exists():
        _discard(area / key)
    try:
        staging.rename(area / key)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    cutoff = time.time() - KEPT_FOR
    for entry in area.iterdir():
        try:
            unused = entry.stat().st_mtime < cutoff
        except FileNotFoundError:
            continue  # pruned by another process meanwhile
        if unused:
            _discard(entry)


def _replay(entry: Path, argv: Sequence[str | Path], folder: Path) -> subprocess.CompletedProcess[str]:
    """The kept run's answer, and its changes made again in `folder`: what it removed, the folders and symlinks it
    made (from their digests), and each file it wrote (with the mode it had, written now, so it is as new as the run's
    was)."""
    result = json.loads((entry / "result.json").read_text())
    for relative in sorted(result["removed"], reverse=True):
        path = folder / relative
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for relative, digest in result["written"].items():
        path, kept = folder / relative, entry / "files" / relative
        if digest == "dir":
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists():
            path.unlink()
        if digest.startswith("link:"):
            path.symlink_to(_restore(digest.removeprefix("link:"), folder))
        else:
            shutil.copyfile(kept, path)
            path.chmod(int(digest.rsplit(":", 1)[1], 8))
    return subprocess.CompletedProcess(
        list(argv), result["returncode"], _restore(result["stdout"], folder), _restore(result["stderr"], folder)
    )


def _changes(folder: Path, before: Mapping[str, str], mtimes: Mapping[str, int]) -> tuple[dict[str, str], list[str]]:
    """What a run did to `folder`: each path it made or changed (in bytes, mode or only its modification time) with
    its new digest, and each path it removed."""
    after, touched = snapshot(folder)
    written = {
        relative: digest
        for relative, digest in after.items()
        if before.get(relative) != digest or (digest != "dir" and mtimes.get(relative) != touched.get(relative))
    }
    return written, sorted(set(before) - set(after))


def run(
    argv: Sequence[str | Path],
    folder: Path,
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    stdin: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(argv, cwd=cwd or folder, env=env, input=stdin, capture_output=True, text=True)`, replayed
    from the entry of identical inputs when there is one, otherwise run and kept."""
    cwd = cwd or folder
    before, mtimes = snapshot(folder)
    key = run_key(argv, folder, cwd=cwd, env=env, stdin=stdin, files=before)
    entry = lookup(RUNS, key, "result.json")
    if entry is not None:
        return _replay(entry, argv, folder)
    result = subprocess.run(
        [str(word) for word in argv],
        cwd=cwd,
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    written, removed = _changes(folder, before, mtimes)
    markers = (os.fsencode(folder), os.fsencode(ROOT))
    names_a_path = any(
        marker in (folder / path).read_bytes()
        for path, digest in written.items()
        if digest != "dir" and not digest.startswith("link:")
        for marker in markers
    )
    if result.returncode >= 0 and not names_a_path:

        def fill(staging: Path) -> None:
            for relative, digest in written.items():
                if digest == "dir" or digest.startswith("link:"):
                    continue  # made again from the digest itself
                target = staging / "files" / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / relative, target)
            printed = {"stdout": _placeholders(result.stdout, folder), "stderr": _placeholders(result.stderr, folder)}
            (staging / "result.json").write_text(
                json.dumps({"returncode": result.returncode, **printed, "written": written, "removed": removed})
            )

        store(RUNS, key, fill)
    return result
