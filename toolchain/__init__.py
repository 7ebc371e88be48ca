"""The pinned command-line tools this repo runs besides Python and Node: Terraform, promtool, amtool, and
redis-server / redis-cli (the Redis backup and restore procedure, and the Redis restart benchmark).

Standard library only: `dev.py` provisions them before any virtual environment exists. The pins (versions and
SHA-256 sums) live in `toolchain/versions.json`, the one place that `dev.py`, the workflows (through `dev.py`), the
stacks' `required_version` and the tests read them from.

The cache is per user and machine, shared by every clone (`MACHINE_CACHE`, after the XDG base-directory
specification: `$XDG_CACHE_HOME/hackathon-todo`, else `~/.cache/hackathon-todo`; the tools in its `tools/`), so the
Redis build and the downloads happen once per machine, not once per clone. Every entry is written in a private
folder beside it and moved into place by one rename, under a lock per tool (flock), so a second clone provisioning
at the same time waits and then uses the first one's entry, and an interrupted run leaves no half-written entry.

A binary is used only when its SHA-256 matches, wherever it comes from. A tool is taken, in this order, from
1. the cache `tools/<name>-<version>/`, filled by an earlier run after the archive's checksum was verified: every
   file there must still have the SHA-256 recorded when it was provisioned (`.sha256.json`), and the binary the one
   pinned as `binary_sha256` where a build pins it (a changed or unrecorded cache entry is provisioned again);
2. `PATH`, only when the binary there has a pinned `binary_sha256` of this platform (printing the right version is
   not enough: a distribution's own build of the same version differs and is refused, with the sums expected);
3. each pinned build in turn: a Debian package (`apt-get download`, SHA-256 of the .deb checked, the binary unpacked
   with `dpkg-deb`; nothing is installed system-wide), the official release archive (SHA-256 checked), or a Debian
   source tarball (`debian-source`: the upstream release as Debian's archive keeps it, fetched from the Debian
   mirror this machine's apt already uses, SHA-256 checked, built with `make`; one build serves every tool it
   yields). A Debian build may pin the library packages its binary links against: their shared objects go next to
   it, and the tool becomes a two-line wrapper that sets LD_LIBRARY_PATH and runs `<tool>.bin`.
When none of them works, `ToolError` says in one line what was tried and what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PINS_FILE = Path(__file__).resolve().parent / "versions.json"
#: The name of this repo's folder in the user's cache.
CACHE_NAME = "hackathon-todo"


def machine_cache(environ: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """This user's cache of the repo on this machine, shared by every clone: `$XDG_CACHE_HOME/hackathon-todo` when
    XDG_CACHE_HOME is set to an absolute path, else `~/.cache/hackathon-todo` (the XDG base-directory specification
    ignores a relative one)."""
    configured = (os.environ if environ is None else environ).get("XDG_CACHE_HOME", "")
    if configured and Path(configured).is_absolute():
        return Path(configured) / CACHE_NAME
    return (Path.home() if home is None else home) / ".cache" / CACHE_NAME


MACHINE_CACHE = machine_cache()
#: The provisioned tools (and the bootstrap's environment), one folder per tool and version.
CACHE = MACHINE_CACHE / "tools"


def private_folder(path: Path) -> Path:
    """`path`, made if missing. Inside the machine cache, the cache itself is made 0700, as the XDG base-directory
    specification asks, and narrowed to 0700 when this user owns it with wider permissions: another local user could
    otherwise read it, or with write access plant entries (the tools are still checked by SHA-256 on every use; the
    test suite's kept results are not)."""
    if path.is_relative_to(MACHINE_CACHE):
        MACHINE_CACHE.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = MACHINE_CACHE.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            MACHINE_CACHE.chmod(0o700)
    path.mkdir(parents=True, exist_ok=True)
    return path


DOWNLOAD_TIMEOUT_SECONDS = 120


class ToolError(RuntimeError):
    """A pinned tool cannot be found or provisioned; the message is one line naming the tool and the fix."""


@dataclass(frozen=True)
class Build:
    """One pinned way to obtain a tool: a Debian package or a release archive, with its SHA-256 per platform."""

    tool: str
    version: str
    source: str  # "debian" | "archive" | "debian-source"
    spec: dict[str, Any]

    @property
    def cached(self) -> Path:
        return CACHE / f"{self.tool}-{self.version}" / self.tool

    def platform_value(self, field: str) -> str | None:
        """This platform's entry of a per-platform map of the build (`sha256`, `binary_sha256`): release archives
        key it `<os>_<arch>`, Debian packages `<arch>`."""
        os_name, arch = platform_key()
        values: dict[str, str] = self.spec.get(field, {})
        return values.get(arch if self.source == "debian" else f"{os_name}_{arch}")

    def describe(self) -> str:
        if self.source == "debian":
            return f"Debian package {self.spec['package']}={self.spec['package_version']}"
        if self.source == "debian-source":
            return f"Debian source {self.spec['package']}={self.spec['package_version']} built with make"
        return f"release archive {self.spec['url'].split('/')[2]}"


@dataclass(frozen=True)
class Tool:
    name: str
    #: Regular expression whose first group is the version the binary prints for `version_args`.
    version_pattern: str
    version_args: tuple[str, ...]
    builds: tuple[Build, ...]

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(build.version for build in self.builds))


def tools() -> dict[str, Tool]:
    raw: dict[str, dict[str, Any]] = json.loads(PINS_FILE.read_text())
    return {
        name: Tool(
            name=name,
            version_pattern=spec["version_pattern"],
            version_args=tuple(spec["version_args"]),
            builds=tuple(
                Build(tool=name, version=build["version"], source=build["source"], spec=build)
                for build in spec["builds"]
            ),
        )
        for name, spec in raw.items()
        if not name.startswith("_")
    }


def tool(name: str) -> Tool:
    found = tools()
    if name not in found:
        raise ToolError(f"no pinned tool {name!r} in toolchain/versions.json; pinned: {', '.join(found)}")
    return found[name]


def version(name: str) -> str:
    """The one pinned version of a tool that has exactly one (Terraform)."""
    versions = tool(name).versions
    if len(versions) != 1:
        raise ToolError(f"{name} has several pinned versions: {', '.join(versions)}")
    return versions[0]


def platform_key() -> tuple[str, str]:
    """(os, arch) as release archives name them: linux/darwin, amd64/arm64."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return platform.system().lower(), arch


def reported_version(binary: Path | str, spec: Tool) -> str | None:
    try:
        result = subprocess.run(
            [str(binary), *spec.version_args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "CHECKPOINT_DISABLE": "1"},
        )
    except OSError:
        return None
    match = re.search(spec.version_pattern, result.stdout + result.stderr)
    return match.group(1) if match else None


#: The record, next to a provisioned binary, of the SHA-256 of every file provisioning wrote there.
MANIFEST = ".sha256.json"


@functools.lru_cache(maxsize=64)
def _file_sha256(path: Path, size: int, modified: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path | str) -> str:
    """SHA-256 of a file (symlinks followed), computed once per size and modification time."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _file_sha256(resolved, stat.st_size, stat.st_mtime_ns)


def _real_binary(cached: Path) -> Path:
    """The program itself: `<tool>.bin` behind a library wrapper, else the cached file."""
    wrapped = cached.with_name(f"{cached.name}.bin")
    return wrapped if wrapped.is_file() else cached


def _record(build: Build, folder: Path | None = None) -> None:
    """Write the manifest of a freshly provisioned cache entry (every file, by SHA-256): of `folder`, the entry as it
    is being written, else of the entry in place."""
    folder = build.cached.parent if folder is None else folder
    sums = {
        str(path.relative_to(folder)): file_sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }
    (folder / MANIFEST).write_text(json.dumps(sums, indent=1, sort_keys=True) + "\n")


def cache_problem(build: Build) -> str | None:
    """Why the cached binary of a build may not be used (None: it may)."""
    folder = build.cached.parent
    pinned = build.platform_value("binary_sha256")
    present = {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file() and path.name != MANIFEST}
    try:
        recorded: dict[str, str] = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        # Provisioned before the records were kept: only a lone binary with the pinned sum is still used.
        if not (pinned and present == {build.tool} and file_sha256(build.cached) == pinned):
            return f"{folder} has no record of its checksums"
        recorded = {build.tool: pinned}
    if present != set(recorded) or build.tool not in recorded:
        return f"{folder} holds other files than were provisioned"
    for relative, expected in recorded.items():
        if file_sha256(folder / relative) != expected:
            return f"{folder / relative} changed since it was provisioned (SHA-256 {file_sha256(folder / relative)})"
    real = _real_binary(build.cached)
    if pinned and file_sha256(real) != pinned:
        return f"{real} is not the pinned build (SHA-256 {file_sha256(real)}, pinned {pinned})"
    return None


def binary_sums(spec: Tool, version: str | None = None) -> list[str]:
    """The pinned SHA-256 of the binary on this platform, of every build (of `version`, when given)."""
    return [
        value
        for build in spec.builds
        if version in (None, build.version) and (value := build.platform_value("binary_sha256"))
    ]


def path_problem(on_path: str, spec: Tool) -> str | None:
    """Why a binary found on PATH may not be used (None: it may): its SHA-256 must be a pinned one."""
    reported = reported_version(on_path, spec)
    if reported not in spec.versions:
        return f"{on_path} reports {reported}, not {' or '.join(spec.versions)}"
    actual = file_sha256(on_path)
    expected = binary_sums(spec, reported)
    if actual in expected:
        return None
    pinned = " or ".join(expected) if expected else "none pinned for " + "_".join(platform_key())
    return f"{on_path} reports {reported} but its SHA-256 is {actual}, not a pinned build's ({pinned})"


def find(name: str) -> Path:
    """The pinned binary if it is already here (cache or PATH) and its checksum matches; never downloads."""
    spec = tool(name)
    refused = []
    for build in spec.builds:
        if build.cached.is_file():
            problem = cache_problem(build)
            if problem is None:
                return build.cached
            refused.append(problem)
    on_path = shutil.which(name)
    if on_path:
        problem = path_problem(on_path, spec)
        if problem is None:
            return Path(on_path)
        refused.append(problem)
    raise ToolError(
        f"{name} {' or '.join(spec.versions)} is not provisioned yet: run `python3 dev.py bootstrap`"
        + (f" ({'; '.join(refused)})" if refused else "")
    )


def find_as(name: str, alias: str, folder: Path) -> Path:
    """The pinned binary of `name` once more, in `folder` under the file name `alias`, for a multi-call binary that
    picks its mode from the name it runs as (redis-server runs as redis-check-rdb, as the Redis image's own
    `redis-check-rdb` symlink does). A wrapper installed above keeps its libraries; only the name changes. Returns the
    new command's path."""
    found = find(name)
    real = found.with_name(f"{found.name}.bin")
    command = folder / alias
    if not real.is_file():  # a plain binary: a link under the other name is enough
        command.symlink_to(found)
        return command
    renamed = folder / f"{alias}.bin"
    renamed.symlink_to(real)
    wrapper, replaced = re.subn(r'exec "[^"]+"', f'exec "{renamed}"', found.read_text())
    if replaced != 1:
        raise ToolError(f"{found} is not a wrapper that runs {real.name}: cannot run it as {alias}")
    command.write_text(wrapper)
    command.chmod(0o755)
    return command


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
        data: bytes = response.read()
    return data


@contextlib.contextmanager
def entry_lock(entry: Path, *, say: Callable[[str], None] = lambda _: None) -> Iterator[None]:
    """Hold the lock of a cache entry (flock on `.<entry>.lock` beside it) for the block; while another process holds
    it (another clone provisioning the same entry), say so once and wait. Released when the process ends, however."""
    private_folder(entry.parent)
    fd = os.open(entry.parent / f".{entry.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"another run is provisioning {entry.name} in {entry.parent}: waiting for it")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def staging_folder(entry: Path) -> Path:
    """A new private folder beside a cache entry, to write the entry in before `into_place` moves it there."""
    private_folder(entry.parent)
    return Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".partial", dir=entry.parent))


def into_place(staging: Path, entry: Path) -> None:
    """Make a completely written folder the entry, by rename: a reader sees the old entry, none, or the new one,
    never a half-written one. An old entry is moved aside first and deleted."""
    if entry.exists() or entry.is_symlink():
        aside = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".old", dir=entry.parent))
        entry.rename(aside / entry.name)
        shutil.rmtree(aside, ignore_errors=True)
    staging.rename(entry)


def _install(build: Build, binary: bytes, folder: Path) -> Path:
    """The tool's file in the entry being written."""
    path = folder / build.tool
    path.write_bytes(binary)
    path.chmod(0o755)
    return path


def _from_archive(build: Build, folder: Path) -> Path:
    os_name, arch = platform_key()
    key = f"{os_name}_{arch}"
    sums: dict[str, str] = build.spec["sha256"]
    if key not in sums:
        raise ToolError(f"no pinned SHA-256 for {key} (pinned: {', '.join(sums)})")
    fields = {"version": build.version, "os": os_name, "arch": arch}
    url = str(build.spec["url"]).format(**fields)
    data = _download(url)
    if _sha256(data) != sums[key]:
        raise ToolError(f"{url} does not match its pinned SHA-256 {sums[key]}: refusing to use it")
    member = str(build.spec["member"]).format(**fields)
    if url.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _install(build, archive.read(member), folder)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        extracted = archive.extractfile(member)
        if extracted is None:
            raise ToolError(f"{url} has no file {member}")
        return _install(build, extracted.read(), folder)


def _apt_download(packages: list[str], scratch: Path) -> list[Path]:
    """The .deb of each `name=version`, downloaded into `scratch` (in the order given)."""
    command = ["apt-get", "download", "-q", *packages]
    result = subprocess.run(command, cwd=scratch, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0 and os.geteuid() == 0:  # package lists may be missing on a fresh machine
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=False, timeout=300)
        result = subprocess.run(command, cwd=scratch, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolError(f"apt-get download {' '.join(packages)} failed: {last}")
    debs = []
    for package in packages:
        name = package.split("=", 1)[0]
        found = list(scratch.glob(f"{name}_*.deb"))
        if len(found) != 1:
            raise ToolError(f"apt-get download {package} left {len(found)} files")
        debs.append(found[0])
    return debs


def _from_debian(build: Build, folder: Path) -> Path:
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise ToolError("no apt-get/dpkg-deb on this machine")
    _, arch = platform_key()
    pinned = [build.spec, *build.spec.get("libraries", [])]
    for spec in pinned:
        if not spec["sha256"].get(arch):
            raise ToolError(f"no pinned SHA-256 of {spec['package']} for {arch}")
    with tempfile.TemporaryDirectory(prefix=f"{build.tool}-deb-") as tmp:
        scratch = Path(tmp)
        debs = _apt_download([f"{spec['package']}={spec['package_version']}" for spec in pinned], scratch)
        unpacked = scratch / "root"
        for spec, deb in zip(pinned, debs, strict=True):
            if _sha256(deb.read_bytes()) != spec["sha256"][arch]:
                raise ToolError(
                    f"{deb.name} does not match its pinned SHA-256 {spec['sha256'][arch]}: refusing to use it"
                )
            subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True, capture_output=True)
        binary = (unpacked / build.spec["path"]).read_bytes()
        if len(pinned) == 1:
            return _install(build, binary, folder)
        libraries = folder / "lib"
        libraries.mkdir()
        for shared in unpacked.glob("usr/lib/*/*.so*"):
            shutil.copy2(shared, libraries / shared.name, follow_symlinks=True)
        real = folder / f"{build.tool}.bin"
        real.write_bytes(binary)
        real.chmod(0o755)
        # The wrapper names the entry's final place (where into_place moves this folder), not the folder it is
        # written in.
        final = build.cached.parent
        wrapper = (
            f'#!/bin/sh\nLD_LIBRARY_PATH="{final / "lib"}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}" '
            f'exec "{final / real.name}" "$@"\n'
        )
        return _install(build, wrapper.encode(), folder)


def debian_mirror() -> str:
    """The Debian archive this machine's apt downloads from (its pool holds every suite's source tarballs)."""
    if not shutil.which("apt-get"):
        raise ToolError("no apt-get on this machine")
    result = subprocess.run(
        ["apt-get", "indextargets", "--format", "$(REPO_URI)", "Created-By: Packages"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    mirrors = sorted({line.strip() for line in result.stdout.splitlines() if line.strip().endswith("/debian/")})
    if not mirrors:
        raise ToolError("apt has no Debian archive (a sources entry ending in /debian) to fetch the source from")
    return mirrors[0]


def _from_debian_source(build: Build, folder: Path) -> Path:
    """Build the pinned upstream release from Debian's copy of its tarball (`<package>_<version>.orig.tar.gz`, in
    the pool of whichever suite carries it): SHA-256 checked, `make` with the pinned arguments, the binaries kept in
    one shared entry (written and moved into place like a tool's, under its own lock) so the next tool from the same
    source is not built again, by this clone or another."""
    spec = build.spec
    built = CACHE / f"{spec['package']}-{build.version}-source"
    with entry_lock(built):
        if not (built / ".complete").is_file():
            _build_source(spec, built)
    return _install(build, (built / build.tool).read_bytes(), folder)


def _build_source(spec: dict[str, Any], built: Path) -> None:
    if not shutil.which("make") or not shutil.which("cc"):
        raise ToolError("building from source needs make and a C compiler (apt-get install build-essential)")
    url = f"{debian_mirror()}{spec['file']}"
    data = _download(url)
    if _sha256(data) != spec["sha256"]:
        raise ToolError(f"{url} does not match its pinned SHA-256 {spec['sha256']}: refusing to use it")
    staging = staging_folder(built)
    try:
        with tempfile.TemporaryDirectory(prefix=f"{spec['package']}-src-") as tmp:
            with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                archive.extractall(tmp, filter="data")
            tree = Path(tmp) / spec["directory"]
            jobs = str(os.cpu_count() or 1)
            result = subprocess.run(
                ["make", "-j", jobs, *spec["make"]], cwd=tree, capture_output=True, text=True, check=False, timeout=1800
            )
            if result.returncode != 0:
                last = (result.stderr.strip().splitlines() or ["no output"])[-1]
                raise ToolError(f"make in {spec['directory']} failed: {last}")
            for name, relative in spec["outputs"].items():
                shutil.copy2(tree / relative, staging / name)
        (staging / ".complete").write_text(spec["sha256"] + "\n")
        into_place(staging, built)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


_PROVISIONERS: dict[str, Callable[[Build, Path], Path]] = {
    "debian": _from_debian,
    "archive": _from_archive,
    "debian-source": _from_debian_source,
}


def ensure(name: str, *, say: Callable[[str], None] = lambda _: None) -> Path:
    """The pinned binary, provisioning it into the cache when it is not here yet (one process at a time per tool:
    a second one waits and then finds the first one's entry)."""
    spec = tool(name)
    try:
        return find(name)
    except ToolError:
        pass
    with entry_lock(CACHE / name, say=say):
        try:
            return find(name)  # provisioned by another run while this one waited
        except ToolError:
            pass
        tried = []
        for build in spec.builds:
            problem = _provision(build, spec, say)
            if problem is None:
                return build.cached
            tried.append(problem)
    sums = binary_sums(spec)
    raise ToolError(
        f"{name} {' or '.join(spec.versions)} is needed and could not be provisioned ({'; '.join(tried)}): "
        + (
            f"put the pinned build on PATH (SHA-256 {' or '.join(sums)}, e.g. from {spec.builds[0].describe()}) "
            "and run again"
            if sums
            else f"no binary on PATH is accepted for {name} on this platform; make {spec.builds[0].describe()} "
            "reachable and run again"
        )
    )


def _provision(build: Build, spec: Tool, say: Callable[[str], None]) -> str | None:
    """Provision one build into its cache entry: written in a private folder, checked, recorded, moved into place.
    None when it is in place, else why not (in one line)."""
    say(f"provisioning {spec.name} {build.version} from its {build.describe()} (SHA-256 pinned)")
    staging = staging_folder(build.cached.parent)
    try:
        try:
            binary = _PROVISIONERS[build.source](build, staging)
        except (
            ToolError,
            OSError,
            subprocess.SubprocessError,
            zipfile.BadZipFile,
            tarfile.TarError,
            KeyError,
        ) as error:
            return f"{build.describe()}: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
        pinned = build.platform_value("binary_sha256")
        if pinned and file_sha256(_real_binary(binary)) != pinned:
            return f"{build.describe()}: the binary in it is not the pinned SHA-256 {pinned}"
        _record(build, staging)
        into_place(staging, build.cached.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # The version is asked of the entry in place: a wrapper runs its binary from there.
    if reported_version(build.cached, spec) != build.version:
        shutil.rmtree(build.cached.parent, ignore_errors=True)
        return f"{build.describe()}: the binary does not report version {build.version}"
    return None
