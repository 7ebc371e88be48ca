"""A pinned tool is used only when its SHA-256 matches, wherever it comes from: a binary on PATH that prints the right
version is refused unless its sum is a pinned one, and a cache entry that changed after provisioning is not used.
Nothing is downloaded: the cache is a scratch folder and the download refuses."""

from __future__ import annotations

import json
import os
import stat
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
