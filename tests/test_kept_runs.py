"""The suite's kept command runs (tests/kept_runs.py): a replay gives what the run gave, without running it, and any
change to what the command can read runs it again."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import toolchain
from tests import kept_runs

#: Counts its real runs in a file outside its folder (not an input: how the tests tell a run from a replay), prints
#: its folder, writes one file and removes another.
SCRIPT = """
import os, pathlib, sys
counter = pathlib.Path(os.environ["COUNTER"])
counter.write_text(str(int(counter.read_text() or 0) + 1) if counter.exists() else "1")
print("ran in", os.getcwd(), sys.argv[1:], os.environ.get("CHOICE"))
pathlib.Path("made").mkdir(exist_ok=True)
pathlib.Path("made/out.txt").write_text(pathlib.Path("in.txt").read_text().upper())
pathlib.Path("gone.txt").unlink(missing_ok=True)
print("to stderr", file=sys.stderr)
sys.exit(int(os.environ.get("EXIT", "3")))
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(kept_runs, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(kept_runs, "ENABLED", True)
    return tmp_path / "runs"


def _folder(base: Path, name: str, text: str = "hello") -> Path:
    folder = base / name
    folder.mkdir()
    (folder / "script.py").write_text(SCRIPT)
    (folder / "in.txt").write_text(text)
    (folder / "gone.txt").write_text("x")
    (folder / "sub").mkdir()
    for copied in ("script.py", "in.txt"):
        shutil.copy(folder / copied, folder / "sub" / copied)
    return folder


def _run(folder: Path, counter: Path, *args: str, cwd: Path | None = None, **env: str) -> tuple[int, str, str]:
    result = kept_runs.run(
        [sys.executable, "script.py", *args], folder, env={"COUNTER": str(counter), **env}, cwd=cwd, timeout=60
    )
    return result.returncode, result.stdout, result.stderr


def _runs(counter: Path) -> int:
    return int(counter.read_text()) if counter.exists() else 0


def test_a_replay_gives_the_runs_answer_and_files_in_another_folder_without_running(
    cache: Path, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    first = _folder(tmp_path, "first")
    assert _run(first, counter, "a") == (3, f"ran in {first} ['a'] None\n", "to stderr\n")
    assert _runs(counter) == 1 and len(list(cache.iterdir())) == 1

    second = _folder(tmp_path, "second")
    assert _run(second, counter, "a") == (3, f"ran in {second} ['a'] None\n", "to stderr\n")
    assert _runs(counter) == 1, "identical inputs ran again"
    assert (second / "made" / "out.txt").read_text() == "HELLO"
    assert not (second / "gone.txt").exists()


@pytest.mark.parametrize(
    "change",
    ["a file's bytes", "a new file", "an argument", "the environment", "the working folder", "the day"],
)
def test_seeded_any_change_to_what_the_command_reads_runs_it_again(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    counter = tmp_path / "counter"
    _run(_folder(tmp_path, "first"), counter)
    folder = _folder(tmp_path, "second", text="hello!" if change == "a file's bytes" else "hello")
    args, env, cwd = [], {}, None
    if change == "a new file":
        (folder / "extra.txt").write_text("")
    elif change == "an argument":
        args = ["b"]
    elif change == "the environment":
        env = {"CHOICE": "other"}
    elif change == "the working folder":
        cwd = folder / "sub"
    elif change == "the day":
        tomorrow = datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=1)
        assert kept_runs.today() == (tomorrow - datetime.timedelta(days=1)).isoformat()
        monkeypatch.setattr(kept_runs, "today", tomorrow.isoformat)
    _run(folder, counter, *args, cwd=cwd, **env)
    assert _runs(counter) == 2, f"{change} did not run the command again"


def test_pytests_and_the_shells_own_variables_and_derived_caches_do_not_change_the_key(
    cache: Path, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    _run(_folder(tmp_path, "first"), counter, PYTEST_XDIST_WORKER="gw0", OLDPWD="/a", PWD="/a", SHLVL="1")
    folder = _folder(tmp_path, "second")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "script.cpython.pyc").write_bytes(b"\0")
    _run(folder, counter, PYTEST_XDIST_WORKER="gw1", OLDPWD="/b", PWD="/b", SHLVL="2")
    assert _runs(counter) == 1


def test_the_checkouts_path_is_a_placeholder_in_the_key_and_restored_in_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    assert kept_runs._placeholders(f"{kept_runs.ROOT}/x {folder}/y", folder) == "<checkout>/x <folder>/y"
    assert kept_runs._restore("<checkout>/x <folder>/y", folder) == f"{kept_runs.ROOT}/x {folder}/y"

    def key(root: Path) -> str:
        env = {"PATH": f"{root}/.venv/bin:/usr/bin"}
        return kept_runs.run_key(["/bin/sh", f"{root}/dev.py"], folder, cwd=folder, env=env, stdin=None, files={})

    here = key(kept_runs.ROOT)
    monkeypatch.setattr(kept_runs, "ROOT", tmp_path / "another-clone")
    assert key(tmp_path / "another-clone") == here, "a clone elsewhere would not share the entry"
    assert key(tmp_path / "not-a-checkout") != here


def test_seeded_a_timeout_a_signal_and_an_output_naming_its_folder_are_not_kept(cache: Path, tmp_path: Path) -> None:
    folder = _folder(tmp_path, "first")
    killed = kept_runs.run(
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"], folder, env={}, timeout=60
    )
    assert killed.returncode < 0
    with pytest.raises(subprocess.TimeoutExpired):
        kept_runs.run([sys.executable, "-c", "import time; time.sleep(30)"], folder, env={}, timeout=0.5)
    named = kept_runs.run(
        [sys.executable, "-c", "import os, pathlib; pathlib.Path('where').write_text(os.getcwd())"], folder, env={}
    )
    assert named.returncode == 0
    assert not cache.exists() or not list(cache.iterdir())


def test_seeded_fresh_runs_every_command(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = tmp_path / "counter"
    _run(_folder(tmp_path, "first"), counter)
    monkeypatch.setattr(kept_runs, "ENABLED", False)
    _run(_folder(tmp_path, "second"), counter)
    assert _runs(counter) == 2


@pytest.mark.parametrize("changed", ["Pipfile.lock", "package-lock.json", ".venv/.bootstrap-stamp", "toolchain/x"])
def test_seeded_the_runtime_identity_follows_the_locks_the_install_and_the_tool_pins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changed: str
) -> None:
    for name in ("Pipfile.lock", "package-lock.json", ".venv/.bootstrap-stamp", "toolchain/x"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1")
    monkeypatch.setattr(kept_runs, "ROOT", tmp_path)
    before = kept_runs.runtime_identity.__wrapped__()
    (tmp_path / changed).write_text("2")
    assert kept_runs.runtime_identity.__wrapped__() != before


def test_seeded_another_program_at_the_same_path_runs_again(cache: Path, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    program = tmp_path / "tool"
    program.write_text("#!/bin/sh\necho one\n")
    program.chmod(0o755)
    assert kept_runs.run([program], folder, env={}).stdout == "one\n"
    program.write_text("#!/bin/sh\necho two\n")
    assert kept_runs.run([program], folder, env={}).stdout == "two\n"


def test_the_upstream_datas_path_is_a_placeholder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its files are keyed (`runtime_identity`); a clone beside another copy of the same data shares the entries."""
    upstream = tmp_path / "shared"
    monkeypatch.setattr(kept_runs, "upstream_dir", lambda: upstream)
    text = f"UPSTREAM_DATA_DIR={upstream}"
    assert kept_runs._placeholders(text, tmp_path / "f") == "UPSTREAM_DATA_DIR=<upstream-data>"
    assert kept_runs._restore("UPSTREAM_DATA_DIR=<upstream-data>", tmp_path / "f") == text


def test_seeded_a_fresh_run_replaces_the_kept_answer(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept failure (here: of a file outside the folder, which the key cannot see) is replaced by the answer of a
    run made again with --fresh, and that is what later runs replay."""
    outside = tmp_path / "outside"
    outside.write_text("1")
    command = [sys.executable, "-c", f"import sys; sys.exit(int(open({str(outside)!r}).read()))"]
    folder = tmp_path / "f"
    folder.mkdir()
    assert kept_runs.run(command, folder, env={}).returncode == 1
    outside.write_text("0")
    assert kept_runs.run(command, folder, env={}).returncode == 1, "not replayed: the seeded condition is gone"
    monkeypatch.setattr(kept_runs, "ENABLED", False)
    assert kept_runs.run(command, folder, env={}).returncode == 0
    monkeypatch.setattr(kept_runs, "ENABLED", True)
    outside.write_text("1")
    assert kept_runs.run(command, folder, env={}).returncode == 0, "the fresh answer did not replace the kept one"


STORE_MANY = """
import sys
import time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests import kept_runs
for n in range(20):
    kept_runs.store(Path(sys.argv[2]), f"{sys.argv[3]}-{n}", lambda staging: (staging / "result.json").write_text("{}"))
"""


def test_two_processes_keeping_and_pruning_at_once_both_finish(tmp_path: Path) -> None:
    """Seeded by the old entries: each process prunes what the other is pruning."""
    area = tmp_path / "runs"
    area.mkdir()
    old = time.time() - kept_runs.KEPT_FOR - 60
    for n in range(300):
        (area / f"old-{n}").mkdir()
        os.utime(area / f"old-{n}", (old, old))
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", STORE_MANY, str(kept_runs.ROOT), str(area), name], stderr=subprocess.PIPE
        )
        for name in ("a", "b")
    ]
    errors = [process.communicate(timeout=120)[1].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0], errors
    assert sorted(entry.name for entry in area.iterdir()) == sorted(f"{name}-{n}" for name in "ab" for n in range(20))


def test_seeded_a_tool_provisioned_or_removed_changes_the_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    found = kept_runs.tools_found()
    assert set(found) == set(toolchain.tools())
    real = toolchain.find
    name = next(iter(toolchain.tools()))

    def missing(tool: str) -> Path:
        if tool == name:
            raise toolchain.ToolError(f"{tool} is not provisioned yet")
        return real(tool)

    monkeypatch.setattr(toolchain, "find", missing)
    assert kept_runs.tools_found() != found
    assert kept_runs.tools_found()[name].startswith("absent: ")


TIDY = """
import os, pathlib, shutil, sys
with open(sys.argv[1], "a") as counter:  # outside the folder: how the test tells a run from a replay
    counter.write("ran\\n")
pathlib.Path("out/empty").mkdir(parents=True)
shutil.rmtree("old")
same = pathlib.Path("same.txt")
same.write_text(same.read_text())  # the same bytes, written again
pathlib.Path("tool.sh").chmod(0o700)
"""


def _tidy_folder(base: Path) -> Path:
    folder = base
    folder.mkdir()
    (folder / "old" / "deep").mkdir(parents=True)
    (folder / "old" / "deep" / "x").write_text("x")
    (folder / "same.txt").write_text("same")
    (folder / "tool.sh").write_text("#!/bin/sh\n")
    (folder / "tool.sh").chmod(0o644)
    os.utime(folder / "same.txt", ns=(1, 1))
    return folder


def test_seeded_folders_made_and_removed_modes_and_rewrites_are_replayed(cache: Path, tmp_path: Path) -> None:
    """What the run did besides changing bytes: a folder made, a folder removed, a file's mode, a file written again
    with the same bytes (a test that checks "untouched" by modification time must see it on a replay too)."""
    counter = tmp_path / "count"
    command = [sys.executable, "-c", TIDY, str(counter)]
    first = _tidy_folder(tmp_path / "first")
    kept_runs.run(command, first, env={})
    second = _tidy_folder(tmp_path / "second")
    result = kept_runs.run(command, second, env={})
    assert result.returncode == 0 and result.stderr == ""
    assert counter.read_text().splitlines() == ["ran"], "the second run was not a replay"
    for folder in (first, second):
        assert (folder / "out" / "empty").is_dir()
        assert not (folder / "old").exists()
        assert (folder / "tool.sh").stat().st_mode & 0o777 == 0o700
        assert (folder / "same.txt").stat().st_mtime_ns != 1


def test_seeded_a_mode_is_part_of_the_key(tmp_path: Path) -> None:
    (tmp_path / "tool.sh").write_text("#!/bin/sh\n")
    (tmp_path / "tool.sh").chmod(0o755)
    executable = kept_runs.tree(tmp_path)
    (tmp_path / "tool.sh").chmod(0o644)
    assert kept_runs.tree(tmp_path) != executable


def test_seeded_a_symlink_into_its_folder_points_into_the_new_folder_on_replay(cache: Path, tmp_path: Path) -> None:
    """Replayed from its keyed target (the folder as a placeholder), not from the link the first run left."""
    counter = tmp_path / "count"
    script = (
        "import os, sys; open(sys.argv[1], 'a').write('ran\\n'); "
        "os.symlink(os.path.join(os.getcwd(), 'data'), 'latest')"
    )
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "data").write_text("the same")
        kept_runs.run([sys.executable, "-c", script, str(counter)], folder, env={})
    assert counter.read_text().splitlines() == ["ran"], "the second run was not a replay"
    assert os.readlink(tmp_path / "second" / "latest") == str(tmp_path / "second" / "data")
