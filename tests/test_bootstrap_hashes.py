"""The bootstrap installs nothing unhashed: dev.py's one pip command, run against local wheel files (no index, no
network), installs a wheel whose SHA-256 is the one written, and refuses an unhashed requirement and an altered wheel.
The committed requirements file pins pipenv and every package it needs, each to one wheel by SHA-256."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import dev

PROBE = "bootstrap_probe"
#: `name==version` then one `--hash=sha256:<64 hex>`, as toolchain/bootstrap-requirements.txt writes each wheel.
PINNED = re.compile(r"^([a-z0-9][a-z0-9-]*)==(\S+) --hash=sha256:[0-9a-f]{64}$")


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


def _install(tmp_path: Path, requirement: str) -> subprocess.CompletedProcess[str]:
    """dev.py's bootstrap command for one requirement line, from the local wheels only, into a scratch folder."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(requirement + "\n")
    command = dev.bootstrap_install(sys.executable, requirements)
    command += ["--no-index", "--find-links", str(tmp_path / "wheels"), "--target", str(tmp_path / "target")]
    # The machine's pip configuration (extra indexes, find-links, constraints) stays out of the experiment.
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1"}
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120, env=env)


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


def test_the_bootstrap_command_resolves_no_dependencies_and_builds_no_source() -> None:
    """--no-deps: a dependency missing from the file fails instead of being fetched unhashed; --only-binary: no
    sdist's setup code runs at install time."""
    command = dev.bootstrap_install("python", "requirements.txt")
    assert {"--require-hashes", "--no-deps"} <= set(command)
    assert command[command.index("--only-binary") + 1] == ":all:"


def _pins() -> dict[str, str]:
    text = dev.BOOTSTRAP_REQUIREMENTS.read_text().replace("\\\n", "")
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    pins = {}
    for line in lines:
        match = PINNED.fullmatch(line)
        assert match, f"not `name==version --hash=sha256:<64 hex>`: {line!r}"
        pins[match.group(1)] = match.group(2)
    return pins


def test_every_bootstrap_requirement_is_pinned_to_one_wheel_by_hash() -> None:
    pins = _pins()
    assert "pipenv" in pins


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _installed() -> dict[str, metadata.Distribution]:
    """The distributions of the bootstrap environment dev.py installed from the file."""
    site = sorted((dev.bootstrap_home() / "lib").glob("python3*/site-packages"))
    if not (dev.bootstrap_home() / ".complete").is_file() or not site:
        pytest.fail(f"no bootstrap environment {dev.bootstrap_home()}: run `python3 dev.py bootstrap` first")
    return {_name(dist.metadata["Name"]): dist for dist in metadata.distributions(path=[str(site[0])])}


def _unpinned(pins: dict[str, str], installed: dict[str, metadata.Distribution]) -> dict[str, list[str]]:
    """Per pinned package, the dependencies it needs on this Python (extras aside) that are not pinned."""
    unpinned: dict[str, list[str]] = {}
    for name in pins:
        for line in installed[name].requires or []:
            requirement = Requirement(line)
            applies = requirement.marker is None or requirement.marker.evaluate({"extra": ""})
            if applies and _name(requirement.name) not in pins:
                unpinned.setdefault(name, []).append(_name(requirement.name))
    return unpinned


def test_the_bootstrap_requirements_close_over_pipenvs_dependencies() -> None:
    """With --no-deps a dependency missing from the file is not fetched (pipenv would fail instead): every one is
    pinned. Read from the metadata of the environment dev.py installed (the wheels themselves need the network)."""
    pins, installed = _pins(), _installed()
    assert {name: installed[name].version for name in pins} == pins
    assert _unpinned(pins, installed) == {}


def test_a_dependency_left_out_of_the_bootstrap_requirements_is_caught() -> None:
    pins = {name: version for name, version in _pins().items() if name != "filelock"}
    assert _unpinned(pins, _installed()) == {"python-discovery": ["filelock"], "virtualenv": ["filelock"]}
