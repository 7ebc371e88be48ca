"""The builder is pinned: BuildKit produces the provenance every deploy trusts. buildx is installed from its release
binary with the SHA-256 checked (a different binary stops the job before anything is built), and BuildKit runs from
an image pinned by version and digest."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from tests.workflows.gha_support import REPO, run_script, step_env, step_named, step_using, steps, stub_command

INSTALL = "Install the pinned buildx"
#: `image=moby/buildkit:v<semver>@sha256:<64 hex>`: a version for people, the digest for the runtime.
PINNED_BUILDKIT = re.compile(r"image=moby/buildkit:v[0-9]+\.[0-9]+\.[0-9]+@sha256:[0-9a-f]{64}")


@pytest.fixture(scope="module")
def job(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    images_job: dict[str, Any] = workflows["build.yml"]["jobs"]["images"]
    return images_job


@pytest.mark.parametrize(
    ("driver_opts", "pinned"),
    [
        ("image=moby/buildkit:v0.29.0@sha256:" + "0" * 64, True),
        ("image=moby/buildkit:buildx-stable-1", False),
        ("image=moby/buildkit:v0.29.0", False),
        ("image=moby/buildkit@sha256:" + "0" * 64, False),
    ],
)
def test_the_buildkit_pin_needs_a_version_and_a_digest(driver_opts: str, pinned: bool) -> None:
    assert bool(PINNED_BUILDKIT.fullmatch(driver_opts)) is pinned


def test_buildkit_runs_from_an_image_pinned_by_version_and_digest(job: dict[str, Any]) -> None:
    setup = step_using(job, "docker/setup-buildx-action")
    assert PINNED_BUILDKIT.fullmatch(setup["with"]["driver-opts"])
    assert "version" not in setup["with"], "the action would download a buildx of its own choice"


def test_the_pinned_buildx_is_installed_before_the_builder_is_set_up(job: dict[str, Any]) -> None:
    names = [str(step.get("name") or step.get("uses")) for step in steps(job)]
    install = next(i for i, name in enumerate(names) if name.startswith(INSTALL))
    setup = next(i for i, name in enumerate(names) if name.startswith("docker/setup-buildx-action"))
    assert install < setup
    env = step_named(job, INSTALL)["env"]
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", env["BUILDX_VERSION"])
    assert re.fullmatch(r"[0-9a-f]{64}", env["BUILDX_SHA256"])


def _install(job: dict[str, Any], tmp_path: Path, *, served: bytes, sha256: str | None, reports: str) -> Any:
    """The install step against a `curl` that serves `served` and a `docker` whose buildx reports `reports`."""
    step = step_named(job, INSTALL)
    env = step_env(step, {})
    if sha256 is not None:
        env["BUILDX_SHA256"] = sha256
    (tmp_path / "served").write_bytes(served)
    bin_dir = tmp_path / "bin"
    stub_command(bin_dir, "curl", f'echo "$*" >> "{tmp_path}/curl-calls"\ncp "{tmp_path}/served" "${{@: -2:1}}"\n')
    stub_command(bin_dir, "docker", f"echo 'github.com/docker/buildx {reports} 0123abc'\n")
    return run_script(step["run"], env=env, cwd=REPO, tmp_path=tmp_path, path_prepend=bin_dir)


def test_the_buildx_binary_with_the_pinned_sum_is_installed(job: dict[str, Any], tmp_path: Path) -> None:
    binary = b"\x7fELF the buildx release"
    version = step_named(job, INSTALL)["env"]["BUILDX_VERSION"]
    result = _install(job, tmp_path, served=binary, sha256=hashlib.sha256(binary).hexdigest(), reports=f"v{version}")
    assert result.returncode == 0, result.text
    assert (tmp_path / ".docker" / "cli-plugins" / "docker-buildx").read_bytes() == binary
    assert (
        f"https://github.com/docker/buildx/releases/download/v{version}/buildx-v{version}.linux-amd64"
        in (tmp_path / "curl-calls").read_text()
    )


def test_a_buildx_binary_that_is_not_the_pinned_one_stops_the_job(job: dict[str, Any], tmp_path: Path) -> None:
    """The seeded failure: the release asset was replaced (or the download was tampered with)."""
    version = step_named(job, INSTALL)["env"]["BUILDX_VERSION"]
    result = _install(job, tmp_path, served=b"\x7fELF something else", sha256=None, reports=f"v{version}")
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr
    assert not (tmp_path / ".docker" / "cli-plugins" / "docker-buildx").exists()


def test_a_buildx_that_reports_another_version_stops_the_job(job: dict[str, Any], tmp_path: Path) -> None:
    binary = b"\x7fELF the buildx release"
    result = _install(job, tmp_path, served=binary, sha256=hashlib.sha256(binary).hexdigest(), reports="v0.0.1")
    assert result.returncode != 0
    assert "::error title=buildx not pinned::" in result.stdout
