"""cdktf-diff.yml: synthesize once, plan every stack, one comment per stack; forks get a notice, not a failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight.report import COMMENT_MARKER
from tests.workflows.gha_support import (
    GITHUB_DIR,
    evaluate,
    load_script,
    run_script,
    step_env,
    step_named,
    step_using,
    steps,
    stub_command,
    triggers,
)

plan_report = load_script("plan_report")

HEAD = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
BASE = "9fceb02d0ae598e95dc970b74767f19372d61af8"


@pytest.fixture(scope="module")
def diff(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return workflows["cdktf-diff.yml"]


def pr_context(*, head_repo: str, repository: str = "o/r") -> dict[str, Any]:
    return {
        "github": {
            "repository": repository,
            "event": {"pull_request": {"head": {"repo": {"full_name": head_repo}, "sha": HEAD}, "base": {"sha": BASE}}},
        }
    }


def test_runs_on_pull_requests_only(diff: dict[str, Any]) -> None:
    assert set(triggers(diff)) == {"pull_request"}
    assert diff["concurrency"]["cancel-in-progress"] is True


def test_forks_get_a_notice_instead_of_plans(diff: dict[str, Any], tmp_path: Path) -> None:
    jobs = diff["jobs"]
    fork, same = pr_context(head_repo="someone/r"), pr_context(head_repo="o/r")
    assert evaluate(jobs["fork-notice"]["if"], fork) is True
    assert evaluate(jobs["synth"]["if"], fork) is False
    assert evaluate(jobs["fork-notice"]["if"], same) is False
    assert evaluate(jobs["synth"]["if"], same) is True
    assert jobs["fork-notice"]["permissions"] == {}
    result = run_script(jobs["fork-notice"]["steps"][0]["run"], env={}, cwd=tmp_path, tmp_path=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("::notice title=cdktf diff skipped::")
    # Every later job needs synth: for a fork they are skipped, and the comment job does not run either.
    assert jobs["plan"]["needs"] == "synth"
    assert (
        evaluate(jobs["comment"]["if"].replace("always() && ", ""), {"needs": {"plan": {"result": "skipped"}}}) is False
    )


def test_synthesizes_once_and_hands_cdktf_out_to_the_plans(diff: dict[str, Any]) -> None:
    synth = diff["jobs"]["synth"]
    assert "python3 dev.py synth" in [step.get("run") for step in synth["steps"]]
    upload = step_using(synth, "actions/upload-artifact")["with"]
    download = step_using(diff["jobs"]["plan"], "actions/download-artifact")["with"]
    assert (upload["name"], upload["path"]) == ("cdktf-out", "cdktf.out/")
    assert (download["name"], download["path"]) == ("cdktf-out", "cdktf.out")
    assert not any("dev.py" in str(step.get("run", "")) for step in diff["jobs"]["plan"]["steps"])


def test_plan_jobs_only_read_and_comment_job_holds_no_secret(diff: dict[str, Any]) -> None:
    assert diff["jobs"]["plan"]["permissions"] == {"contents": "read"}
    assert diff["jobs"]["comment"]["permissions"] == {"pull-requests": "write"}
    assert "secrets." not in json.dumps(diff["jobs"]["comment"])
    assert diff["jobs"]["plan"]["strategy"]["fail-fast"] is False


@pytest.fixture
def plan_workspace(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    stack_dir = work / "cdktf.out" / "stacks" / "app-staging"
    stack_dir.mkdir(parents=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps({"variable": {"database_url": {"sensitive": True}}}))
    (work / ".github").symlink_to(GITHUB_DIR)
    return work


def run_plan_step(
    diff: dict[str, Any], work: Path, tmp_path: Path, *, plan_exit: int, secrets: dict[str, str], plan_text: str = ""
) -> Any:
    step = step_named(diff["jobs"]["plan"], "terraform plan")
    stub_command(
        tmp_path / "bin",
        "terraform",
        'echo "$@" >> "$TF_CALLS"\n'
        'if [ "$2" = init ]; then echo "Terraform has been successfully initialized!"; exit 0; fi\n'
        f'cat "$PLAN_TEXT"\nexit {plan_exit}\n',
    )
    (tmp_path / "plan-text").write_text(plan_text)
    context = {
        **pr_context(head_repo="o/r"),
        "matrix": {"stack": "app-staging", "environment": "staging"},
        "secrets": secrets,
    }
    env = {**step_env(step, context), "TF_CALLS": str(tmp_path / "tf-calls"), "PLAN_TEXT": str(tmp_path / "plan-text")}
    return run_script(step["run"], env=env, cwd=work, tmp_path=tmp_path, path_prepend=tmp_path / "bin")


def test_plan_step_plans_read_only_and_writes_the_comment(
    diff: dict[str, Any], plan_workspace: Path, tmp_path: Path
) -> None:
    secret = "postgres://user:hunter2-very-secret@db/todo"
    result = run_plan_step(
        diff,
        plan_workspace,
        tmp_path,
        plan_exit=2,
        secrets={"DATABASE_URL": secret},
        plan_text=f'  ~ resource "x" {{ url = "{secret}" }}\nPlan: 0 to add, 1 to change.\n',
    )
    assert result.returncode == 0, result.text
    assert result.outputs == {"status": "2"}
    calls = (tmp_path / "tf-calls").read_text().splitlines()
    assert calls[0].startswith("-chdir=cdktf.out/stacks/app-staging init -input=false")
    assert calls[1].split() == [
        "-chdir=cdktf.out/stacks/app-staging",
        "plan",
        "-input=false",
        "-lock=false",
        "-no-color",
        "-detailed-exitcode",
    ]
    report = (tmp_path / "runner_temp" / "report" / "app-staging.md").read_text()
    assert report.startswith("<!-- cdktf-diff:app-staging -->\n")
    assert "changes" in report.splitlines()[1]
    assert "Plan: 0 to add, 1 to change." in report
    assert f"image_tag `sha-{BASE[:7]}`" in report
    assert secret not in report and "***" in report


def test_plan_step_reports_a_failed_plan_and_the_job_then_fails(
    diff: dict[str, Any], plan_workspace: Path, tmp_path: Path
) -> None:
    result = run_plan_step(
        diff,
        plan_workspace,
        tmp_path,
        plan_exit=1,
        secrets={"DATABASE_URL": "x" * 8},
        plan_text="Error: Unsupported argument\n",
    )
    assert result.returncode == 0, result.text  # the report is written and uploaded first
    assert result.outputs == {"status": "1"}
    report = (tmp_path / "runner_temp" / "report" / "app-staging.md").read_text()
    assert "plan failed (exit code 1)" in report and "Unsupported argument" in report
    fail = step_named(diff["jobs"]["plan"], "Fail when the plan failed")
    for status, fails in [("0", False), ("2", False), ("1", True)]:
        assert evaluate(fail["if"], {"steps": {"plan": {"outputs": {"status": status}}}}) is fails
    upload = step_using(diff["jobs"]["plan"], "actions/upload-artifact")
    assert upload["if"] == "always()"


def test_plan_step_does_not_plan_with_a_missing_secret(
    diff: dict[str, Any], plan_workspace: Path, tmp_path: Path
) -> None:
    result = run_plan_step(diff, plan_workspace, tmp_path, plan_exit=0, secrets={})
    assert result.outputs == {"status": "1"}
    assert not (tmp_path / "tf-calls").exists()
    report = (tmp_path / "runner_temp" / "report" / "app-staging.md").read_text()
    assert "set the secret DATABASE_URL in the GitHub environment 'staging-plan'" in report


def test_comment_job_runs_after_failed_plans_and_upserts_by_stack_marker(diff: dict[str, Any]) -> None:
    comment = diff["jobs"]["comment"]
    for result, runs in [("success", True), ("failure", True), ("skipped", False), ("cancelled", False)]:
        assert evaluate(comment["if"].replace("always() && ", ""), {"needs": {"plan": {"result": result}}}) is runs
    script = step_using(comment, "actions/github-script")["with"]["script"]
    assert "updateComment" in script and "createComment" in script
    assert "'<!-- cdktf-diff:'" in script and plan_report.marker("x").startswith("<!-- cdktf-diff:")


def test_report_is_trimmed_to_fit_a_comment_keeping_the_summary() -> None:
    plan = "".join(f"  + resource line {i}\n" for i in range(20_000)) + "Plan: 20000 to add, 0 to change.\n"
    body = plan_report.render(
        stack="platform", exit_code=2, plan=plan, commit=HEAD, run_url="u", image_tag="sha-1234567", environ={}
    )
    assert len(body) < plan_report.COMMENT_LIMIT
    assert "characters trimmed" in body
    assert "Plan: 20000 to add, 0 to change." in body
    assert body.startswith(plan_report.marker("platform"))


def test_report_fence_survives_backticks_in_the_plan() -> None:
    body = plan_report.render(
        stack="cluster", exit_code=0, plan='value = "```"\n', commit=HEAD, run_url="u", image_tag="-", environ={}
    )
    assert "````text" in body


def test_report_scrubs_credentials_but_not_the_image_tag() -> None:
    environ = {"DIGITALOCEAN_TOKEN": "dop_v1_abcdef", "TF_VAR_image_tag": "sha-1234567", "TF_VAR_x": "abc"}
    assert (
        plan_report.scrub("dop_v1_abcdef sha-1234567 abc", plan_report.secret_values(environ)) == "*** sha-1234567 abc"
    )


def test_preflight_runs_on_every_pull_request_and_its_summary_is_commented(diff: dict[str, Any]) -> None:
    preflight = diff["jobs"]["preflight"]
    assert "if" not in preflight, "preflight needs no secrets, so forks get it too"
    assert preflight["permissions"] == {"contents": "read"}
    runs = " ".join(step.get("run", "") for step in steps(preflight))
    assert 'python3 dev.py preflight --markdown "${RUNNER_TEMP}/report/preflight.md"' in runs
    upload = next(step for step in steps(preflight) if "upload-artifact" in step.get("uses", ""))
    assert upload["with"]["name"].startswith("plan-report-") and upload["if"] == "always()"
    comment = diff["jobs"]["comment"]
    assert "preflight" in comment["needs"]
    assert COMMENT_MARKER.startswith("<!-- cdktf-diff:"), "the comment job posts reports by this marker prefix"
