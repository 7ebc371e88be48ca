"""The suite's synth cache (tests/synth.py): a kept synth is reused only for identical inputs. Any change to a file
main.py reads, to the overrides or to the environment it gets changes the key (seeded: each input in turn is edited
in a copy of the repo); a synth that opens a checkout file outside the keyed inputs is refused, not kept; a kept
entry comes back exactly as written, into a folder of the reader's own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tests.synth as synth_module
from tests.sandbox import ROOT, copy_repo
from tests.synth import SYNTH_INPUTS, outside_inputs, synth_key, synthesize

FAKE_MAIN = """
import json, os, sys
from pathlib import Path
out = Path(os.environ["CDKTF_OUTDIR"])
(out / "stacks" / "one").mkdir(parents=True)
(out / "stacks" / "one" / "cdk.tf.json").write_text(json.dumps({"resource": {"k": {"v": os.environ["TODO_X"]}}}))
(out / "manifest.json").write_text(json.dumps({"stacks": {"one": {"synthesizedStackPath": "stacks/one/cdk.tf.json"}}}))
print(sys.argv[1] if len(sys.argv) > 1 else "made")
"""


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_repo(tmp_path_factory.mktemp("inputs"))
    for name in SYNTH_INPUTS:  # linked into the copy (toolchain) or not copied (locks): a copy of its own, to edit
        path = root / name
        if path.is_symlink() or not path.exists():
            path.unlink(missing_ok=True)
            shutil.copytree(ROOT / name, path, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_copy_of_the_inputs_has_the_key_of_the_checkout(copy: Path) -> None:
    assert synth_key({"TODO_X": "1"}, root=copy) == synth_key({"TODO_X": "1"})


def test_another_clone_at_another_path_has_the_same_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The checkout's path (in PATH, the Python it runs) is a placeholder: a clone elsewhere shares the entries."""
    here = synth_key({}, environ={"PATH": f"{ROOT}/.venv/bin:/usr/bin"})
    elsewhere = tmp_path / "clone"
    elsewhere.symlink_to(ROOT)  # the same files and the same installed Node, at another path
    monkeypatch.setattr(synth_module, "ROOT", elsewhere)
    monkeypatch.setattr(sys, "executable", sys.executable.replace(str(ROOT), str(elsewhere)))
    assert synth_key({}, root=ROOT, environ={"PATH": f"{elsewhere}/.venv/bin:/usr/bin"}) == here
    assert synth_key({}, root=ROOT, environ={"PATH": f"{elsewhere}/.venv/bin:/opt/bin"}) != here


@pytest.mark.parametrize("name", SYNTH_INPUTS)
def test_seeded_editing_any_input_changes_the_key(copy: Path, name: str) -> None:
    before = synth_key({}, root=copy)
    path = copy / name
    edited = path if path.is_file() else min(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    original = edited.read_bytes()
    try:
        edited.write_bytes(original + b"\n")
        assert synth_key({}, root=copy) != before, f"a change to {edited.relative_to(copy)} kept the key"
    finally:
        edited.write_bytes(original)
    assert synth_key({}, root=copy) == before


def test_seeded_adding_or_renaming_a_file_changes_the_key(copy: Path) -> None:
    before = synth_key({}, root=copy)
    added = copy / "stacks" / "extra.py"
    added.write_text("")
    try:
        with_added = synth_key({}, root=copy)
        assert with_added != before
        added = added.rename(copy / "stacks" / "other.py")
        assert synth_key({}, root=copy) not in (before, with_added)
    finally:
        added.unlink()
    assert synth_key({}, root=copy) == before


def test_seeded_the_overrides_and_the_environment_main_py_gets_change_the_key() -> None:
    environ = {"PATH": "/usr/bin", "HOME": "/root"}
    key = synth_key({"TODO_REGION": "nyc3"}, environ=environ)
    assert synth_key({"TODO_REGION": "sfo3"}, environ=environ) != key
    assert synth_key({"TODO_REGION": "nyc3", "TF_VAR_x": "y"}, environ=environ) != key
    assert synth_key({"TODO_REGION": "nyc3"}, environ=environ | {"AWS_REGION": "x"}) != key
    assert synth_key({"TODO_REGION": "nyc3"}, environ=environ | {"PATH": "/opt/bin"}) != key
    # What start_synth drops (an operator's own TODO_*), and pytest's own variables, change nothing.
    assert synth_key({"TODO_REGION": "nyc3"}, environ=environ | {"TODO_REGION": "ams3"}) == key
    assert synth_key({"TODO_REGION": "nyc3"}, environ=environ | {"PYTEST_XDIST_WORKER": "gw1"}) == key


def _fake_main(script: str) -> object:
    def run_main(outdir: Path, overrides: dict[str, str]) -> subprocess.Popen[str]:
        env = {"CDKTF_OUTDIR": str(outdir), **overrides}
        return subprocess.Popen(
            [sys.executable, "-c", script, *overrides.get("ARGS", "").split()],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    return run_main


def test_a_kept_synth_comes_back_whole_and_a_miss_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth_module, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(synth_module, "run_main", _fake_main(FAKE_MAIN))
    first = synthesize({tmp_path / "a": {"TODO_X": "1"}, tmp_path / "b": {"TODO_X": "2"}})
    assert [s.stacks["one"]["resource"]["k"]["v"] for s in first.values()] == ["1", "2"]
    assert len(list((tmp_path / "cache").iterdir())) == 2

    def refuse(outdir: Path, overrides: dict[str, str]) -> None:
        raise AssertionError(f"synthesized again for {overrides}")

    monkeypatch.setattr(synth_module, "run_main", refuse)
    again = synthesize({tmp_path / "c": {"TODO_X": "1"}})[tmp_path / "c"]
    assert again.stacks == first[tmp_path / "a"].stacks
    assert (again.stdout, again.stderr) == ("made\n", "")
    assert again.outdir == tmp_path / "c"
    # The copy is the reader's own: changing it leaves the kept entry as it was.
    (tmp_path / "c" / "manifest.json").write_text("{}")
    assert synthesize({tmp_path / "d": {"TODO_X": "1"}})[tmp_path / "d"].stacks == first[tmp_path / "a"].stacks
    # A different value is a different key: made, not read.
    with pytest.raises(AssertionError, match="synthesized again"):
        synthesize({tmp_path / "e": {"TODO_X": "3"}})


def test_seeded_an_output_that_names_its_own_folder_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synth_module, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(synth_module, "run_main", _fake_main(FAKE_MAIN))
    outdir = tmp_path / "named"
    synthesize({outdir: {"TODO_X": "1", "ARGS": str(outdir.resolve())}})
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
    synthesize({tmp_path / "plain": {"TODO_X": "1"}})
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_seeded_a_checkout_file_outside_the_inputs_is_named() -> None:
    opened = ["locks/cluster.lock.hcl", "stacks/app.py", ".venv/lib/x.py", "todo_infra/__pycache__/a.pyc", "chart"]
    assert outside_inputs(opened) == []
    assert outside_inputs(opened, [name for name in SYNTH_INPUTS if name != "locks"]) == ["locks/cluster.lock.hcl"]
    assert outside_inputs(["chartx/values.yaml", "main.pyc"]) == ["chartx/values.yaml", "main.pyc"]


READER = (
    FAKE_MAIN
    + f"""
open({str(ROOT / "README.md")!r}).read()
os.listdir({str(ROOT / "docs")!r})
"""
)


def test_seeded_a_synth_that_reads_a_file_the_key_leaves_out_is_refused_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synth_module, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(synth_module, "run_main", _fake_main(READER))
    with pytest.raises(AssertionError, match=r"main.py read \['README.md', 'docs'\], which SYNTH_INPUTS"):
        synthesize({tmp_path / "out": {"TODO_X": "1"}})
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
