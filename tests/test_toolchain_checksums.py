"""A pinned tool is used only when its SHA-256 matches, wherever it comes from: a binary on PATH that prints the right
version is refused unless its sum is a pinned one, and a cache entry that changed after provisioning is not used.
Nothing is downloaded: the cache is a scratch folder and the download refuses."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import stat
import threading
from pathlib import Path

import pytest

import toolchain

TERRAFORM = toolchain.tool("terraform")
VERSION = toolchain.version("terraform")


def _fake_terraform(folder: Path, text: str = "") -> Path:
    """An executable named terraform that prints exactly what the pinned one prints for `terraform version`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "terraform"
    path.write_text(f"#!/bin/sh\n# {text}\necho 'Terraform v{VERSION}'\necho 'on linux_amd64'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache, a PATH holding only the scratch bin folder, and a download that refuses."""
    monkeypatch.setattr(toolchain, "CACHE", tmp_path / "cache")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))

    def refuse(url: str) -> bytes:
        raise OSError(f"no network in the suite ({url})")

    monkeypatch.setattr(toolchain, "_download", refuse)
    return tmp_path


def _pins_with(monkeypatch: pytest.MonkeyPatch, folder: Path, binary_sha256: str) -> None:
    """toolchain/versions.json with this platform's pinned Terraform binary sum replaced."""
    pins = json.loads(toolchain.PINS_FILE.read_text())
    build = pins["terraform"]["builds"][0]
    build["binary_sha256"] = {"_".join(toolchain.platform_key()): binary_sha256}
    path = folder / "versions.json"
    path.write_text(json.dumps(pins))
    monkeypatch.setattr(toolchain, "PINS_FILE", path)


def test_a_terraform_on_path_that_prints_the_pinned_version_but_is_not_the_pinned_build_is_refused(
    offline: Path,
) -> None:
    fake = _fake_terraform(offline / "bin")
    assert toolchain.reported_version(fake, TERRAFORM) == VERSION  # it passes the old check
    with pytest.raises(toolchain.ToolError) as refused:
        toolchain.find("terraform")
    message = str(refused.value)
    assert "\n" not in message
    assert f"{fake} reports {VERSION} but its SHA-256 is {toolchain.file_sha256(fake)}, not a pinned build's" in message
    for pinned in toolchain.binary_sums(TERRAFORM):
        assert pinned in message


def test_a_binary_on_path_whose_sum_is_pinned_is_used(offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_terraform(offline / "bin")
    _pins_with(monkeypatch, offline, toolchain.file_sha256(fake))
    assert toolchain.find("terraform") == fake


def test_the_refusal_of_an_unpinned_binary_names_the_expected_sums_and_how_to_get_the_pinned_one(
    offline: Path,
) -> None:
    _fake_terraform(offline / "bin")
    with pytest.raises(toolchain.ToolError) as refused:
        toolchain.ensure("terraform")
    message = str(refused.value)
    assert "\n" not in message
    assert "no network in the suite" in message
    assert "put the pinned build on PATH (SHA-256 " in message
    assert "release archive releases.hashicorp.com" in message
    for pinned in toolchain.binary_sums(TERRAFORM):
        assert pinned in message


def test_every_platform_the_team_uses_has_a_pinned_terraform_binary_sum() -> None:
    (build,) = TERRAFORM.builds
    assert set(build.spec["binary_sha256"]) == set(build.spec["sha256"])
    assert all(len(value) == 64 and int(value, 16) >= 0 for value in build.spec["binary_sha256"].values())


def _provisioned(offline: Path, monkeypatch: pytest.MonkeyPatch) -> toolchain.Build:
    """A cache entry as ensure() leaves it: the binary (whose sum is pinned here), a library, and the record."""
    (build,) = toolchain.tool("terraform").builds
    binary = _fake_terraform(build.cached.parent, "provisioned")
    (build.cached.parent / "lib").mkdir()
    (build.cached.parent / "lib" / "libexample.so").write_bytes(b"library")
    _pins_with(monkeypatch, offline, toolchain.file_sha256(binary))
    (build,) = toolchain.tool("terraform").builds
    toolchain._record(build)
    return build


def test_a_provisioned_cache_entry_is_used(offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = _provisioned(offline, monkeypatch)
    assert toolchain.find("terraform") == build.cached


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("binary", "changed since it was provisioned"),
        ("library", "changed since it was provisioned"),
        ("extra file", "holds other files than were provisioned"),
        ("no record", "has no record of its checksums"),
    ],
)
def test_a_cache_entry_changed_after_provisioning_is_not_used(
    offline: Path, monkeypatch: pytest.MonkeyPatch, change: str, why: str
) -> None:
    build = _provisioned(offline, monkeypatch)
    folder = build.cached.parent
    if change == "binary":
        with build.cached.open("a") as binary:
            binary.write("echo tampered\n")
        os.utime(build.cached, ns=(1, 1))
    elif change == "library":
        (folder / "lib" / "libexample.so").write_bytes(b"other library")
    elif change == "extra file":
        (folder / "lib" / "libinjected.so").write_bytes(b"injected")
    else:
        (folder / toolchain.MANIFEST).unlink()
        (folder / "lib" / "libexample.so").unlink()
        _pins_with(monkeypatch, offline, "0" * 64)
    with pytest.raises(toolchain.ToolError, match=why):
        toolchain.find("terraform")


def test_a_cache_entry_whose_record_was_rewritten_still_needs_the_pinned_binary_sum(
    offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record catches a changed file; where a build pins the binary's sum, a writer who rewrites the record too
    is caught by the pin."""
    build = _provisioned(offline, monkeypatch)
    build.cached.write_text("#!/bin/sh\necho 'Terraform v0.0.0'\n")
    toolchain._record(build)
    with pytest.raises(toolchain.ToolError, match="is not the pinned build"):
        toolchain.find("terraform")


# --- the per-machine cache -----------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("xdg_cache_home", "expected"),
    [
        ("/var/cache/someone", Path("/var/cache/someone/hackathon-todo")),
        (None, Path("/home/someone/.cache/hackathon-todo")),
        ("", Path("/home/someone/.cache/hackathon-todo")),
        # Relative: the XDG base-directory specification says to ignore it (else the cache would follow the cwd).
        (".cache", Path("/home/someone/.cache/hackathon-todo")),
        ("cache/elsewhere", Path("/home/someone/.cache/hackathon-todo")),
    ],
)
def test_the_machine_cache_follows_xdg_cache_home_when_it_is_absolute(
    xdg_cache_home: str | None, expected: Path
) -> None:
    environ = {} if xdg_cache_home is None else {"XDG_CACHE_HOME": xdg_cache_home}
    assert toolchain.machine_cache(environ, home=Path("/home/someone")) == expected


def test_the_tools_live_in_the_machine_cache_not_in_the_clone() -> None:
    """Every clone shares one cache: the tools, the source builds and the bootstrap environment are under
    MACHINE_CACHE/tools, and none of them under the repo (unless this machine's cache itself is there)."""
    import dev  # noqa: PLC0415

    assert toolchain.machine_cache() == toolchain.MACHINE_CACHE
    assert toolchain.CACHE == toolchain.MACHINE_CACHE / "tools"
    assert dev.TOOLS == toolchain.CACHE
    assert dev.bootstrap_home().parent == toolchain.CACHE
    for spec in toolchain.tools().values():
        assert all(build.cached.parent.parent == toolchain.CACHE for build in spec.builds)
    if not toolchain.MACHINE_CACHE.is_relative_to(ROOT):
        assert not toolchain.CACHE.is_relative_to(ROOT)


def test_a_relative_xdg_cache_home_would_have_put_the_tools_in_the_clone() -> None:
    """Seeded: taken as given, XDG_CACHE_HOME=.cache run from the repo would make a cache per clone again."""
    relative = ROOT / ".cache"  # where a relative value resolves when dev.py runs from the repo root
    assert (relative / toolchain.CACHE_NAME).is_relative_to(ROOT)
    assert not toolchain.machine_cache({"XDG_CACHE_HOME": ".cache"}, home=Path("/home/someone")).is_relative_to(ROOT)


def test_no_code_names_a_tool_cache_inside_the_repo() -> None:
    for path in (ROOT / "dev.py", ROOT / "toolchain" / "__init__.py"):
        assert '".tools"' not in path.read_text(), path


# --- provisioning: written aside, moved into place, one process at a time ------------------------------------------


def _pinned_fake(offline: Path, monkeypatch: pytest.MonkeyPatch) -> toolchain.Build:
    """Terraform pinned to the fake binary `_fake_terraform(..., "provisioned")` writes; the build, re-read."""
    sample = _fake_terraform(offline / "sample", "provisioned")
    _pins_with(monkeypatch, offline, toolchain.file_sha256(sample))
    (build,) = toolchain.tool("terraform").builds
    return build


def test_an_entry_is_written_aside_and_appears_complete(offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = _pinned_fake(offline, monkeypatch)
    seen: list[tuple[Path, bool]] = []

    def provision(build: toolchain.Build, folder: Path) -> Path:
        seen.append((folder, build.cached.parent.exists()))
        return _fake_terraform(folder, "provisioned")

    monkeypatch.setitem(toolchain._PROVISIONERS, "archive", provision)
    assert toolchain.ensure("terraform") == build.cached
    ((folder, visible),) = seen
    assert folder.parent == toolchain.CACHE and folder != build.cached.parent and not visible
    assert toolchain.cache_problem(build) is None
    assert sorted(path.name for path in toolchain.CACHE.iterdir()) == [".terraform.lock", build.cached.parent.name]


def test_an_interrupted_provisioning_leaves_no_entry_and_no_debris(
    offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = _pinned_fake(offline, monkeypatch)

    def provision(build: toolchain.Build, folder: Path) -> Path:
        (folder / "terraform").write_text("#!/bin/sh\n# half")
        raise OSError("connection reset")

    monkeypatch.setitem(toolchain._PROVISIONERS, "archive", provision)
    with pytest.raises(toolchain.ToolError, match="connection reset"):
        toolchain.ensure("terraform")
    assert not build.cached.parent.exists()
    assert [path.name for path in toolchain.CACHE.iterdir()] == [".terraform.lock"]


def _race(offline: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[Path | str]]:
    """Two ensure() of terraform at once (threads stand in for two clones), the second started while the first
    provisions: how often the provisioner ran, and what each call returned (or the error it raised)."""
    _pinned_fake(offline, monkeypatch)
    events: queue.Queue[str] = queue.Queue()
    calls: list[Path] = []
    results: list[Path | str] = []

    def ensure_second() -> None:
        try:
            results.append(toolchain.ensure("terraform", say=events.put))
        except toolchain.ToolError as error:
            results.append(str(error))

    second = threading.Thread(target=ensure_second)

    def provision(build: toolchain.Build, folder: Path) -> Path:
        calls.append(folder)
        if len(calls) == 1:
            second.start()
            # The second run either waits for this one (it says so) or provisions too.
            while not events.get(timeout=60).startswith(("another run is provisioning", "second")):
                pass
        else:
            events.put("second provisioning")
        return _fake_terraform(folder, "provisioned")

    monkeypatch.setitem(toolchain._PROVISIONERS, "archive", provision)
    try:
        results.append(toolchain.ensure("terraform"))
    except toolchain.ToolError as error:  # without the lock, the other run may move this run's entry away
        results.append(str(error))
    second.join(timeout=60)
    return len(calls), results


def test_a_second_clone_waits_for_the_first_and_uses_its_entry(offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls, results = _race(offline, monkeypatch)
    (build,) = toolchain.tool("terraform").builds
    assert calls == 1
    assert results == [build.cached, build.cached]
    assert toolchain.cache_problem(build) is None


def test_without_the_lock_both_clones_would_provision(offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeded: the lock is what makes the second run wait. Without it both provision (the Redis build would run
    twice at once), and the first run's rename moves the second's fresh entry away under its version check."""
    monkeypatch.setattr(toolchain, "entry_lock", lambda entry, say=None: contextlib.nullcontext())
    calls, results = _race(offline, monkeypatch)
    assert calls == 2
    assert len(results) == 2


def test_into_place_replaces_an_old_entry_whole(tmp_path: Path) -> None:
    entry = tmp_path / "tool-1.0"
    entry.mkdir()
    (entry / "stale").write_text("old")
    staging = toolchain.staging_folder(entry)
    (staging / "tool").write_text("new")
    toolchain.into_place(staging, entry)
    assert sorted(path.name for path in entry.iterdir()) == ["tool"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tool-1.0"]


def test_the_machine_cache_is_this_users_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Made 0700 (the XDG base-directory specification's mode); seeded: one made 0755 by an earlier version is
    narrowed; a folder outside the cache is only made."""
    cache = tmp_path / "xdg" / "hackathon-todo"
    monkeypatch.setattr(toolchain, "MACHINE_CACHE", cache)
    toolchain.private_folder(cache / "suite" / "runs")
    assert cache.stat().st_mode & 0o777 == 0o700 and (cache / "suite" / "runs").is_dir()
    cache.chmod(0o755)
    toolchain.private_folder(cache / "tools")
    assert cache.stat().st_mode & 0o777 == 0o700
    outside = tmp_path / "elsewhere"
    outside.mkdir(mode=0o755)
    outside.chmod(0o755)
    toolchain.private_folder(outside / "x")
    assert outside.stat().st_mode & 0o777 == 0o755
