"""The bootstrap installs nothing unhashed: dev.py's one pip command (uv into the bootstrap environment) and its one
uv command (.venv from Pipfile.lock), each run against local wheel files (no index, no network), install a wheel whose
SHA-256 is the one written, and refuse an unhashed requirement and an altered wheel. The committed requirements file
pins uv by SHA-256, one wheel for each platform the toolchain covers."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

import dev
import toolchain

PROBE = "bootstrap_probe"
#: `name==version` then one `--hash=sha256:<64 hex>` per wheel, as toolchain/bootstrap-requirements.txt writes them.
PINNED = re.compile(r"^([a-z0-9][a-z0-9-]*)==(\S+)((?: --hash=sha256:[0-9a-f]{64})+)$")
#: Wheel platform tags' machine names, as the toolchain names them (toolchain.platform_key).
WHEEL_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
#: A comment line of the file naming one wheel and its SHA-256.
LISTED_WHEEL = re.compile(r"^#\s+(\S+\.whl) ([0-9a-f]{64})$")


def _wheel(folder: Path, body: str) -> Path:
    """A minimal pure-Python wheel of `bootstrap_probe` 1.0 whose module holds `body`."""
    path = folder / f"{PROBE}-1.0-py3-none-any.whl"
    info = f"{PROBE}-1.0.dist-info"
    files = {
        f"{PROBE}.py": body,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(name, text)
    return path


def _bootstrap_python() -> Path:
    """The Python of the bootstrap environment dev.py made: its pip is the one dev.py installs uv with."""
    python = dev.bootstrap_home() / "bin" / "python"
    if dev._complete_uv(dev.bootstrap_home()) is None or not python.exists():
        pytest.fail(f"no bootstrap environment {dev.bootstrap_home()}: run `python3 dev.py bootstrap` first")
    return python


def _install(tmp_path: Path, requirement: str) -> subprocess.CompletedProcess[str]:
    """dev.py's bootstrap command for one requirement line, from the local wheels only, into a scratch folder."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(requirement + "\n")
    command = dev.bootstrap_install(_bootstrap_python(), requirements)
    command += ["--no-index", "--find-links", str(tmp_path / "wheels"), "--target", str(tmp_path / "target")]
    # The machine's pip configuration (extra indexes, find-links, constraints) stays out of the experiment.
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1"}
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120, env=env)


def _sync(tmp_path: Path, lock: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """dev.py's uv command with the requirements generated from `lock`, from the local wheels only (no index, no
    cache), into a new scratch environment."""
    uv = dev._complete_uv(dev.bootstrap_home())
    if uv is None:
        pytest.fail(f"no bootstrap environment {dev.bootstrap_home()}: run `python3 dev.py bootstrap` first")
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(dev.lock_requirements(lock))
    command = dev.sync_command(uv, target / "bin" / "python", requirements, dev.lock_index(lock))
    command += ["--no-index", "--find-links", str(tmp_path / "wheels"), "--no-cache"]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def _lock(digest: str | None) -> dict[str, Any]:
    """A Pipfile.lock holding the probe, with this hash (or none)."""
    entry: dict[str, Any] = {"version": "==1.0", "markers": "python_version >= '3.8'"}
    if digest:
        entry["hashes"] = [f"sha256:{digest}"]
    sources = [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}]
    return {"_meta": {"sources": sources}, "default": {PROBE: entry}, "develop": {}}


def _synced(tmp_path: Path) -> Path | None:
    """The probe module the sync installed, if any."""
    found = sorted((tmp_path / "venv" / "lib").glob(f"python3*/site-packages/{PROBE}.py"))
    return found[0] if found else None


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    (tmp_path / "wheels").mkdir()
    return _wheel(tmp_path / "wheels", "GENUINE = True\n")


def test_the_bootstrap_installs_a_wheel_whose_hash_is_the_pinned_one(tmp_path: Path, wheel: Path) -> None:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    result = _install(tmp_path, f"{PROBE}==1.0 --hash=sha256:{digest}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "target" / f"{PROBE}.py").read_text() == "GENUINE = True\n"


def test_the_bootstrap_refuses_an_unhashed_requirement(tmp_path: Path, wheel: Path) -> None:
    result = _install(tmp_path, f"{PROBE}==1.0")
    assert result.returncode != 0
    assert "Hashes are required in --require-hashes mode" in result.stderr
    assert not (tmp_path / "target" / f"{PROBE}.py").exists()


def test_the_bootstrap_refuses_a_wheel_altered_after_it_was_pinned(tmp_path: Path, wheel: Path) -> None:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    _wheel(tmp_path / "wheels", "GENUINE = False  # replaced on the index\n")
    result = _install(tmp_path, f"{PROBE}==1.0 --hash=sha256:{digest}")
    assert result.returncode != 0
    assert "DO NOT MATCH THE HASHES" in result.stderr
    assert not (tmp_path / "target" / f"{PROBE}.py").exists()


def test_the_sync_installs_a_locked_wheel_whose_hash_is_the_locked_one(tmp_path: Path, wheel: Path) -> None:
    result = _sync(tmp_path, _lock(hashlib.sha256(wheel.read_bytes()).hexdigest()))
    assert result.returncode == 0, result.stderr
    installed = _synced(tmp_path)
    assert installed is not None and installed.read_text() == "GENUINE = True\n"
    assert (installed.parent / "__pycache__").is_dir()  # --compile-bytecode: imports read it, never write it


def test_the_sync_refuses_a_wheel_altered_after_it_was_locked(tmp_path: Path, wheel: Path) -> None:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    _wheel(tmp_path / "wheels", "GENUINE = False  # replaced on the index\n")
    result = _sync(tmp_path, _lock(digest))
    assert result.returncode != 0
    assert "Hash mismatch" in result.stderr
    assert _synced(tmp_path) is None


def test_the_sync_command_without_its_hash_check_would_install_an_unhashed_line(tmp_path: Path, wheel: Path) -> None:
    """Seeded: the generator refuses a lock entry without hashes (tests/test_lock_requirements.py); were one to pass,
    --require-hashes stops it. The same unhashed line: with the flag nothing is installed, without it, it is."""
    uv = dev._complete_uv(dev.bootstrap_home())
    assert uv is not None
    venv.create(tmp_path / "venv", with_pip=False)
    (tmp_path / "requirements.txt").write_text(f"{PROBE}==1.0\n")
    command = dev.sync_command(uv, tmp_path / "venv" / "bin" / "python", tmp_path / "requirements.txt", "https://x")
    command += ["--no-index", "--find-links", str(tmp_path / "wheels"), "--no-cache"]
    refused = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert refused.returncode != 0 and "hash" in refused.stderr.lower()
    assert _synced(tmp_path) is None
    command.remove("--require-hashes")
    assert subprocess.run(command, capture_output=True, text=True, check=False, timeout=120).returncode == 0
    assert _synced(tmp_path) is not None


def test_the_bootstrap_command_resolves_no_dependencies_and_builds_no_source() -> None:
    """--no-deps: a dependency missing from the file fails instead of being fetched unhashed; --only-binary: no
    sdist's setup code runs at install time."""
    command = dev.bootstrap_install("python", "requirements.txt")
    assert {"--require-hashes", "--no-deps"} <= set(command)
    assert command[command.index("--only-binary") + 1] == ":all:"


def _pins(path: Path = dev.BOOTSTRAP_REQUIREMENTS) -> dict[str, tuple[str, list[str]]]:
    """Each requirement of a hashed requirements file: (version, its hashes)."""
    text = path.read_text().replace("\\\n", "")
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    pins = {}
    for line in lines:
        match = PINNED.fullmatch(line)
        assert match, f"not `name==version --hash=sha256:<64 hex> ...`: {line!r}"
        pins[match.group(1)] = (match.group(2), re.findall(r"[0-9a-f]{64}", match.group(3)))
    return pins


def _listed_wheels() -> dict[str, str]:
    """The wheels the file's comments name, file name to SHA-256."""
    lines = dev.BOOTSTRAP_REQUIREMENTS.read_text().splitlines()
    return {match.group(1): match.group(2) for line in lines if (match := LISTED_WHEEL.match(line))}


def _wheel_platforms(filename: str) -> set[str]:
    """The toolchain's platform keys (`<os>_<arch>`, as toolchain/versions.json keys release archives) one wheel
    serves, from its platform tags."""
    found = set()
    for tag in filename.removesuffix(".whl").split("-")[-1].split("."):
        os_name = (
            "darwin" if tag.startswith("macosx_") else "linux" if tag.startswith(("manylinux", "musllinux")) else ""
        )
        arch = next((ours for theirs, ours in WHEEL_ARCHES.items() if tag.endswith(f"_{theirs}")), "")
        if os_name and arch:
            found.add(f"{os_name}_{arch}")
    return found


def _uncovered(wheels: dict[str, str]) -> set[str]:
    """The toolchain's platforms (those Terraform is pinned for) that no listed wheel serves."""
    (terraform,) = toolchain.tool("terraform").builds
    return set(terraform.spec["sha256"]) - {key for name in wheels for key in _wheel_platforms(name)}


def test_the_bootstrap_pins_uv_alone_by_the_hash_of_each_listed_wheel() -> None:
    pins, wheels = _pins(), _listed_wheels()
    assert set(pins) == {"uv"}
    version, hashes = pins["uv"]
    assert {name.split("-")[1] for name in wheels} == {version}
    assert hashes == list(wheels.values())  # each hash on the requirement names its wheel in the comment above
    assert len(set(hashes)) == len(hashes)


def test_the_uv_wheels_cover_every_platform_of_the_toolchain() -> None:
    assert _uncovered(_listed_wheels()) == set()


def test_a_platform_without_a_uv_wheel_is_caught() -> None:
    wheels = {name: digest for name, digest in _listed_wheels().items() if "macosx_11_0_arm64" not in name}
    assert _uncovered(wheels) == {"darwin_arm64"}


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _installed() -> dict[str, metadata.Distribution]:
    """The distributions of the bootstrap environment dev.py installed from the file (beside the pip and setuptools
    its virtual environment starts with)."""
    site = sorted((dev.bootstrap_home() / "lib").glob("python3*/site-packages"))
    if dev._complete_uv(dev.bootstrap_home()) is None or not site:
        pytest.fail(f"no bootstrap environment {dev.bootstrap_home()}: run `python3 dev.py bootstrap` first")
    return {_name(dist.metadata["Name"]): dist for dist in metadata.distributions(path=[str(site[0])])}


def _unpinned(pins: Iterable[str], requires: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per pinned package, the dependencies it needs on this Python (extras aside) that are not pinned."""
    pinned = set(pins)
    unpinned: dict[str, list[str]] = {}
    for name in pinned:
        for line in requires.get(name, []):
            requirement = Requirement(line)
            applies = requirement.marker is None or requirement.marker.evaluate({"extra": ""})
            if applies and _name(requirement.name) not in pinned:
                unpinned.setdefault(name, []).append(_name(requirement.name))
    return unpinned


def test_the_bootstrap_installs_what_the_file_pins_and_uv_needs_nothing_else() -> None:
    """With --no-deps a dependency missing from the file is not fetched (the bootstrap would fail instead): every one
    is pinned. Read from the metadata of the environment dev.py installed (the wheels themselves need the network);
    the installed uv is this platform's wheel, one of those listed."""
    pins, installed = _pins(), _installed()
    assert {name: installed[name].version for name in pins} == {name: version for name, (version, _) in pins.items()}
    assert _unpinned(pins, {name: installed[name].requires or [] for name in pins}) == {}
    tags = (installed["uv"].read_text("WHEEL") or "").splitlines()
    platforms = {key for line in tags if line.startswith("Tag: ") for key in _wheel_platforms(f"x-{line[5:]}.whl")}
    assert "_".join(toolchain.platform_key()) in platforms


def test_a_dependency_left_out_of_the_bootstrap_requirements_is_caught() -> None:
    requires = {"uv": ["uv-helper>=1 ; python_version >= '3'", "pywin32 ; sys_platform == 'win32'"]}
    assert _unpinned(["uv"], requires) == ({} if sys.platform == "win32" else {"uv": ["uv-helper"]})


def test_the_locker_pins_pipenv_and_each_of_its_packages_to_one_wheel_by_hash() -> None:
    """pipenv is no longer installed by dev.py; a developer installs it from this file to re-lock
    (docs/supply-chain.md), with the bootstrap's pip command and its guarantees."""
    pins = _pins(dev.ROOT / "toolchain" / "lock-requirements.txt")
    assert "pipenv" in pins and "virtualenv" in pins
    assert {name: len(hashes) for name, (_, hashes) in pins.items()} == dict.fromkeys(pins, 1)
