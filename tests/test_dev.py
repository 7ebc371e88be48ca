"""dev.py, the entry point of the README's two commands and of .ci/run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from todo_infra.deploy_inputs import break_glass_record, break_glass_refusal

ROOT = Path(__file__).resolve().parent.parent


def dev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_test_run_that_collects_nothing_fails_instead_of_passing_silently() -> None:
    result = dev("test", "-q", "tests/test_dev.py", "-k", "no_test_has_this_name_at_all", "-n", "0")
    assert result.returncode == 1
    assert "pytest collected no tests: that is a failure, not a pass" in result.stderr


def test_an_unknown_command_is_refused_in_one_line_with_exit_2() -> None:
    result = dev("deploy")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dev.py: unknown command 'deploy'; expected one of: synth, test, preflight, bench, cdktf, revisions, "
        "terraform, path, scrub-state, move-state, state-bucket, local, upstream-data, bootstrap, add-service "
        "(see python3 dev.py --help)"
    ]


def test_no_command_prints_the_usage_and_fails() -> None:
    """`python3 dev.py` alone is a mistake (exit 2), answered with the usage, not `unknown command ''`."""
    result = dev()
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == "usage: python3 dev.py COMMAND [ARGS...]"
    assert result.stderr.strip() == dev("--help").stdout.strip()


def test_help_lists_every_command_with_one_line() -> None:
    result = dev("--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "usage: python3 dev.py COMMAND [ARGS...]"
    listed = [line.split()[0] for line in lines if line.startswith("  ")]
    assert listed == [
        "synth",
        "test",
        "preflight",
        "bench",
        "cdktf",
        "revisions",
        "terraform",
        "path",
        "scrub-state",
        "move-state",
        "state-bucket",
        "local",
        "upstream-data",
        "bootstrap",
        "add-service",
    ]


def test_path_prints_the_folder_of_the_pinned_terraform() -> None:
    result = dev("path", "terraform")
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.strip())
    assert (folder / "terraform").is_file()
    assert dev("path", "kubectl").returncode == 2


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0].strip().splitlines()
    assert quick_start == ["python3 dev.py synth", "python3 dev.py test"]
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == quick_start[1]


def test_move_state_needs_stacks_and_takes_no_options() -> None:
    for args in ((), ("--from", "old-bucket", "app-staging")):
        result = dev("move-state", *args)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            "dev.py: usage: python3 dev.py move-state STACK [STACK ...] (app stacks; once, when upgrading to "
            "per-environment buckets)"
        ]


def test_a_shell_deploy_names_its_break_glass_issue() -> None:
    """A deploy or destroy outside GitHub Actions bypasses the gate and the reviewers: it needs the issue that records
    it; a plan (diff) does not, and neither does a workflow's deploy."""
    issue = "https://github.com/acme/hackathon-todo/issues/42"
    assert break_glass_refusal("deploy", {}) is not None
    assert break_glass_refusal("destroy", {"TODO_BREAK_GLASS": "https://example.com/issues/42"}) is not None
    assert break_glass_refusal("deploy", {"TODO_BREAK_GLASS": issue + "#note"}) is not None
    assert break_glass_refusal("deploy", {"TODO_BREAK_GLASS": issue}) is None
    assert break_glass_refusal("deploy", {"GITHUB_ACTIONS": "true"}) is None
    assert break_glass_refusal("diff", {}) is None
    assert break_glass_refusal("deploy", {"GITHUB_ACTIONS": "TRUE"}) is None
    # GITHUB_ACTIONS is read with the one boolean parser: `yes`/`1` are refused, never taken for a workflow run.
    for spelling in ("yes", "1"):
        assert break_glass_refusal("deploy", {"GITHUB_ACTIONS": spelling}) == (
            f"invalid GITHUB_ACTIONS={spelling!r}: expected true or false"
        )
    record = break_glass_record("deploy", ["app-production"], {"TODO_BREAK_GLASS": issue, "USER": "ana"})
    assert record == f"break-glass: cdktf deploy app-production by ana, recorded in {issue}"


# --- progress while the first run installs -----------------------------------------------------------------------


def test_a_quiet_installer_reports_that_it_still_runs_and_when_it_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first package sync runs for minutes with its output kept back: a line every PROGRESS_SECONDS says it still
    runs. The child here ends only once such a line was printed, so the test waits for no clock."""
    import dev  # noqa: PLC0415

    lines: list[str] = []
    heard = tmp_path / "heard"

    def step(message: str) -> None:
        lines.append(message)
        if "still running" in message:
            heard.touch()

    monkeypatch.setattr(dev, "_step", step)
    monkeypatch.setattr(dev, "PROGRESS_SECONDS", 0.01)
    waits_for_a_progress_line = (
        "import pathlib, sys, time\n"
        f"marker = pathlib.Path({str(heard)!r})\n"
        "for _ in range(6000):\n"
        "    if marker.exists():\n"
        "        print('installed')\n"
        "        sys.exit(0)\n"
        "    time.sleep(0.01)\n"
        "sys.exit(9)\n"
    )
    dev._run(sys.executable, "-c", waits_for_a_progress_line, quiet=True, progress="uv pip sync")
    assert any(line.startswith("  uv pip sync: still running, ") and line.endswith(" s so far") for line in lines)
    assert lines[-1].startswith("  uv pip sync: done in ") and lines[-1].endswith(" s")


def test_a_failing_installer_shows_its_output_and_exits_with_its_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dev  # noqa: PLC0415

    lines: list[str] = []
    monkeypatch.setattr(dev, "_step", lines.append)
    with pytest.raises(SystemExit) as exit_info:
        failing = "print('no matching distribution'); raise SystemExit(3)"
        dev._run(sys.executable, "-c", failing, quiet=True, progress="x")
    assert exit_info.value.code == 3
    err = capsys.readouterr().err
    assert "no matching distribution" in err
    assert "dev.py: failed (3): " in err
    assert not any("done in" in line for line in lines)


def test_the_first_sync_says_what_it_installs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One line per step naming the lock file and how many packages it holds, each installer run with progress: uv
    syncs from a requirements file generated from Pipfile.lock (every package hashed), then npm ci."""
    import dev  # noqa: PLC0415

    pipfile = json.loads((ROOT / "Pipfile.lock").read_text())
    python = len(set(pipfile["default"]) | set(pipfile["develop"]))
    npm = len([name for name in json.loads((ROOT / "package-lock.json").read_text())["packages"] if name])
    lines: list[str] = []
    runs: list[tuple[list[str], str, str]] = []

    def run(*command: str | Path, quiet: bool = False, progress: str = "") -> None:
        listed = [str(part) for part in command]
        given = Path(listed[-1])
        runs.append((listed, progress, given.read_text() if given.suffix == ".txt" else ""))

    monkeypatch.setattr(dev, "_step", lines.append)
    monkeypatch.setattr(dev, "_uv", lambda: Path("/nonexistent/uv"))
    monkeypatch.setattr(dev, "_ensure_venv", lambda: None)
    monkeypatch.setattr(dev, "STAMP", tmp_path / "stamp")
    monkeypatch.setattr(dev, "_run", run)
    dev._install_packages()
    assert lines == [
        f"syncing .venv from Pipfile.lock: {python} Python packages, Node 22 among them (uv pip sync, hashes checked)",
        f"installing the pinned cdktf CLI from package-lock.json: {npm} npm packages (npm ci)",
    ]
    (sync, sync_progress, requirements), (npm_ci, npm_progress, _) = runs
    assert sync[:3] == ["/nonexistent/uv", "pip", "sync"] and sync_progress == "uv pip sync"
    assert sync[sync.index("--python") + 1] == str(dev.BIN / "python")
    assert "--require-hashes" in sync
    assert requirements == dev.lock_requirements(pipfile)
    assert npm_ci[1:3] == ["ci", "--prefer-offline"] and npm_progress == "npm ci"
    assert (tmp_path / "stamp").read_text() == dev._fingerprint()
    assert python > 50 and npm > 50


@pytest.mark.parametrize(
    ("pyvenv_cfg", "made_again"),
    [
        ("home = /usr/bin\nversion = {this}\n", False),  # venv's own record
        ("home = /usr/bin\nversion_info = {this}.final.0\n", False),  # virtualenv's (a .venv pipenv made)
        ("home = /usr/bin\nversion = 3.10.13\n", True),
        ("home = /usr/bin\nversion_info = 3.10.13.final.0\n", True),
        ("home = /usr/bin\n", True),
    ],
)
def test_the_venv_is_made_again_only_for_another_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pyvenv_cfg: str, made_again: bool
) -> None:
    """.venv belongs to the Python running dev.py (Pipfile.lock's markers and wheels are chosen for it)."""
    import platform  # noqa: PLC0415
    import venv as stdlib_venv  # noqa: PLC0415

    import dev  # noqa: PLC0415

    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / "pyvenv.cfg").write_text(pyvenv_cfg.format(this=platform.python_version()))
    made: list[tuple[Path, dict[str, object]]] = []
    monkeypatch.setattr(dev, "VENV", venv)
    monkeypatch.setattr(dev, "BIN", venv / "bin")
    monkeypatch.setattr(dev, "_step", lambda message: None)
    monkeypatch.setattr(stdlib_venv, "create", lambda path, **options: made.append((path, options)))
    dev._ensure_venv()
    assert made == ([(venv, {"clear": True, "symlinks": True, "with_pip": False})] if made_again else [])
