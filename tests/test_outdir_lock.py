"""One run at a time on cdktf.out/ (todo_infra/outdir_lock.py): a synth waits, saying so in one line, while another
run holds the folder; two synths with different settings started together each report their own output, and the
folder ends up as exactly one of them wrote it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.sandbox import clean_env, copy_repo
from todo_infra.outdir_lock import HELD_ENV, lock_file, locked

TIMEOUT = 300


def _synth(root: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "dev.py", "synth"],
        cwd=root,
        env=clean_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _region(outdir: Path) -> str:
    manifest = json.loads((outdir / "manifest.json").read_text())["stacks"]
    cluster = json.loads((outdir / manifest["cluster"]["synthesizedStackPath"]).read_text())
    (resource,) = cluster["resource"]["digitalocean_kubernetes_cluster"].values()
    return str(resource["region"])


def test_a_synth_waits_in_one_line_while_another_run_holds_the_folder(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    outdir = root / "cdktf.out"
    with locked(outdir, "the test", say=lambda _: None):
        process = _synth(root, {})
        assert process.stderr is not None
        first = process.stderr.readline().strip()
        assert first.startswith("dev.py: cdktf.out/ is in use by the test (pid ")
        assert first.endswith("): waiting for it to finish")
        assert not outdir.exists(), "the waiting synth wrote into a folder another run holds"
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, stderr
    assert stderr == ""
    assert stdout.startswith("Synthesized 4 stacks into cdktf.out/")


CHILD = """
import sys
from pathlib import Path
from todo_infra.outdir_lock import locked
with locked(Path(sys.argv[1]), "the child"):
    print("inside", flush=True)
"""


def _child(outdir: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(outdir)],
        cwd=Path(__file__).resolve().parent.parent,
        env=clean_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_seeded_a_run_that_skips_the_lock_gets_in_while_it_is_held(tmp_path: Path) -> None:
    """What the tests above tell apart: a process told that it holds the lock already (a child of the holder) goes
    straight in; any other waits, saying so, until the holder is done."""
    outdir = tmp_path / "cdktf.out"
    with locked(outdir, "the test", say=lambda _: None):
        skipping = _child(outdir, {HELD_ENV: str(lock_file(outdir))})
        assert skipping.communicate(timeout=60) == ("inside\n", "")
        waiting = _child(outdir, {})
        assert waiting.stderr is not None
        assert "in use by the test (pid " in waiting.stderr.readline()
        assert waiting.poll() is None
    assert waiting.communicate(timeout=60)[0] == "inside\n"


def test_two_synths_with_different_settings_each_report_their_own_output(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    outdir = root / "cdktf.out"
    runs = {
        "staging only, nyc3": ({"TODO_ENVIRONMENTS": "staging", "TODO_REGION": "nyc3"}, 3, "nyc3"),
        "both, sfo3": ({"TODO_REGION": "sfo3"}, 4, "sfo3"),
    }
    started = {name: _synth(root, env) for name, (env, _, _) in runs.items()}
    finished = {name: process.communicate(timeout=TIMEOUT) for name, process in started.items()}
    waited = []
    for name, (stdout, stderr) in finished.items():
        _, stacks, _ = runs[name]
        assert started[name].returncode == 0, stderr
        assert stdout.splitlines()[0] == f"Synthesized {stacks} stacks into cdktf.out/ (deploy order)"
        assert len(stdout.splitlines()) == 1 + stacks
        lines = stderr.splitlines()
        assert len(lines) <= 1 and all("): waiting for it to finish" in line for line in lines), stderr
        waited += [name] if lines else []
    # The folder is one run's output, whole: the one that waited wrote last.
    manifest = json.loads((outdir / "manifest.json").read_text())["stacks"]
    candidates = waited or list(runs)
    assert any(len(manifest) == runs[name][1] and _region(outdir) == runs[name][2] for name in candidates), (
        f"cdktf.out/ is no run's output: {sorted(manifest)} in {_region(outdir)}"
    )
    written = {path.parent.name for path in (outdir / "stacks").glob("*/cdk.tf.json")}
    assert written == set(manifest)


def test_readers_share_the_folder_and_a_writer_waits_for_them(tmp_path: Path) -> None:
    """A preflight over an existing folder only reads it: two go together, while a synth waits until they are done
    (seeded: the writer is refused entry while a reader holds the folder)."""
    outdir = tmp_path / "cdktf.out"
    with locked(outdir, "reader one", reading=True), locked(outdir, "reader two", reading=True, say=_refuse):
        writer = _child(outdir, {})
        assert writer.stderr is not None
        assert "): waiting for it to finish" in writer.stderr.readline()
        assert writer.poll() is None
    assert writer.communicate(timeout=60)[0] == "inside\n"


def _refuse(message: str) -> None:
    raise AssertionError(f"a reader waited for another reader: {message}")
