"""The requirements file dev.py generates from Pipfile.lock for `uv pip sync --require-hashes`: every locked package
(default and develop) on one line with its exact version, its markers as locked and every locked hash; an entry uv
could not install checked by hash is refused in one line naming the package."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

import dev

ROOT = Path(__file__).resolve().parent.parent
HASH_A = "sha256:" + "a" * 64
HASH_B = "sha256:" + "b" * 64
SOURCES = [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}]


def _lock(default: dict[str, Any] | None = None, develop: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"_meta": {"sources": copy.deepcopy(SOURCES)}, "default": default or {}, "develop": develop or {}}


def _entry(**fields: Any) -> dict[str, Any]:
    return {"version": "==1.0", "hashes": [HASH_B, HASH_A], "index": "pypi", **fields}


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_a_package_becomes_one_line_with_its_markers_and_every_hash() -> None:
    lock = _lock(
        default={"six": _entry(markers="python_version >= '2.7' and python_version != '3.0'")},
        develop={"moto": _entry(version="==5.2.5", extras=["s3", "server"], hashes=[HASH_A])},
    )
    assert _lines(dev.lock_requirements(lock)) == [
        f"moto==5.2.5 --hash={HASH_A}",
        f"six==1.0 ; python_version >= '2.7' and python_version != '3.0' --hash={HASH_A} --hash={HASH_B}",
    ]


def test_a_package_in_both_sections_is_listed_once() -> None:
    lock = _lock(default={"six": _entry()}, develop={"six": _entry(), "attrs": _entry()})
    assert [line.split("==")[0] for line in _lines(dev.lock_requirements(lock))] == ["attrs", "six"]


def test_the_committed_lock_gives_one_hashed_line_per_package_with_its_markers() -> None:
    lock = json.loads((ROOT / "Pipfile.lock").read_text())
    packages = {**lock["default"], **lock["develop"]}
    lines = _lines(dev.lock_requirements(lock))
    assert len(lines) == len(packages)
    for line in lines:
        name = line.split("==")[0]
        entry = packages[name]
        hashes = re.findall(r" --hash=(sha256:[0-9a-f]{64})", line)
        assert sorted(hashes) == sorted(entry["hashes"]) and hashes, line
        head = line.split(" --hash=")[0]
        assert head == f"{name}{entry['version']}" + (f" ; {entry['markers']}" if entry.get("markers") else "")
    assert dev.lock_index(lock) == "https://pypi.org/simple"


@pytest.mark.parametrize(
    ("entry", "refusal"),
    [
        (_entry(hashes=[]), "Pipfile.lock: probe has no sha256 hashes: every package needs them (lock it again)"),
        (
            {"version": "==1.0", "index": "pypi"},
            "Pipfile.lock: probe has no sha256 hashes: every package needs them (lock it again)",
        ),
        (
            _entry(hashes=["md5:" + "a" * 32]),
            "Pipfile.lock: probe has no sha256 hashes: every package needs them (lock it again)",
        ),
        (
            {"editable": True, "path": "."},
            "Pipfile.lock: probe has editable, path: only packages from the index, pinned by version and hash, are "
            "installed",
        ),
        (
            _entry(git="https://github.com/example/probe.git", ref="0" * 40),
            "Pipfile.lock: probe has git, ref: only packages from the index, pinned by version and hash, are installed",
        ),
        (_entry(version=">=1.0"), "Pipfile.lock: probe pins no exact version ('>=1.0'): expected ==VERSION"),
        (_entry(index="mirror"), "Pipfile.lock: probe comes from index 'mirror', not one of its sources"),
        (
            _entry(markers="python_version >= '3' --hash=sha256:" + "c" * 64),
            "Pipfile.lock: probe has markers that are not a PEP 508 marker: \"python_version >= '3' --hash=sha256:"
            + "c" * 64
            + '"',
        ),
    ],
)
def test_an_entry_that_cannot_be_installed_checked_by_hash_is_refused_in_one_line(
    entry: dict[str, Any], refusal: str
) -> None:
    with pytest.raises(dev.LockError) as refused:
        dev.lock_requirements(_lock(develop={"probe": entry, "six": _entry()}))
    assert str(refused.value) == refusal


def test_a_key_that_is_not_a_package_name_is_refused() -> None:
    """Seeded: a name carrying an option would become an option of the requirements file."""
    with pytest.raises(dev.LockError) as refused:
        dev.lock_requirements(_lock(default={"six --index-url=http://evil.example/": _entry()}))
    assert str(refused.value) == (
        "Pipfile.lock: 'six --index-url=http://evil.example/' is not a package name (PEP 508: letters, digits, . _ -)"
    )


def test_a_package_locked_differently_in_the_two_sections_is_refused() -> None:
    lock = _lock(default={"six": _entry()}, develop={"six": _entry(version="==2.0")})
    with pytest.raises(dev.LockError, match=r"^Pipfile.lock: six is locked differently in default and develop"):
        dev.lock_requirements(lock)


@pytest.mark.parametrize(
    "sources",
    [[], [SOURCES[0], {**SOURCES[0], "name": "mirror"}], [{**SOURCES[0], "url": "http://pypi.org/simple"}]],
)
def test_a_lock_without_exactly_one_https_source_is_refused(sources: list[dict[str, Any]]) -> None:
    lock = _lock(default={"six": _entry()})
    lock["_meta"]["sources"] = sources
    with pytest.raises(dev.LockError, match=r"^Pipfile\.lock must name exactly one https source to install from"):
        dev.lock_index(lock)


def test_the_sync_command_checks_hashes_compiles_bytecode_and_targets_the_venv() -> None:
    command = dev.sync_command("uv", "/repo/.venv/bin/python", "requirements.txt", "https://pypi.org/simple")
    assert command[:3] == ["uv", "pip", "sync"]
    assert command[command.index("--python") + 1] == "/repo/.venv/bin/python"
    assert command[command.index("--default-index") + 1] == "https://pypi.org/simple"
    assert {"--require-hashes", "--compile-bytecode", "--no-build", "--no-config"} <= set(command)
    assert command[-1] == "requirements.txt"


def test_a_refused_lock_stops_the_bootstrap_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pipfile.lock").write_text(json.dumps(_lock(default={"six": _entry(hashes=[])})))
    (tmp_path / "package-lock.json").write_text(json.dumps({"packages": {}}))
    monkeypatch.setattr(dev, "ROOT", tmp_path)
    monkeypatch.setattr(dev, "STAMP", tmp_path / "stamp")
    monkeypatch.setattr(dev, "_uv", lambda: Path("/nonexistent/uv"))
    monkeypatch.setattr(dev, "_run", lambda *command, **options: pytest.fail(f"ran {command}"))
    with pytest.raises(SystemExit) as exit_info:
        dev._install_packages()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "dev.py: Pipfile.lock: six has no sha256 hashes: every package needs them (lock it again)"
    ]
    assert not (tmp_path / "stamp").exists()
