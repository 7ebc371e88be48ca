"""drift.yml: a nightly refresh-only plan of cluster and platform, read only, one issue per stack with drift, closed
when clean; never the app stacks (their refresh reads Secrets). A gate first refuses a run from anything but main and a
weakened drift or plan environment. The plan, gate and issue steps are executed (terraform stubbed, GitHub faked)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.synth import Synth
from tests.workflows.gha_support import (
    GITHUB_DIR,
    REPO,
    Fakes,
    StepResult,
    evaluate,
    install_fakes,
    load_script,
    plan_checkout,
    run_script,
    step_env,
    step_named,
    steps,
    stub_command,
    triggers,
)
from tests.workflows.worlds import REPOSITORY, environments

drift_issues = load_script("drift_issues")
plan_report = load_script("plan_report")
deploy_gate = load_script("deploy_gate")

SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
CREDENTIALS = {
    "DIGITALOCEAN_TOKEN": "dop_v1_read-only-token",
    "SPACES_ACCESS_KEY_ID": "DO00SPACESKEYID",
    "SPACES_SECRET_ACCESS_KEY": "spaces-secret-key-value",
}


@pytest.fixture(scope="module")
def drift(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return workflows["drift.yml"]


def test_runs_nightly_and_by_hand_only(drift: dict[str, Any]) -> None:
    on = triggers(drift)
    assert set(on) == {"schedule", "workflow_dispatch"}
    (schedule,) = on["schedule"]
    assert re.fullmatch(r"\d+ \d+ \* \* \*", schedule["cron"]), "once a day"


def test_has_exactly_the_github_permissions_it_needs(drift: dict[str, Any]) -> None:
    """Reading the repository everywhere; writing issues in the one job that opens and closes them; nothing else."""
    assert {job_id: job["permissions"] for job_id, job in drift["jobs"].items()} == {
        "gate": {"contents": "read", "actions": "read"},
        "synth": {"contents": "read"},
        "plan": {"contents": "read"},
        "issues": {"contents": "read", "issues": "write"},
    }


def test_has_no_write_access_to_the_cloud_and_never_applies(drift: dict[str, Any]) -> None:
    """The only cloud credentials are the `drift` environment's three (read-only by the required settings,
    docs/workflows.md), no job runs an apply or a deploy, and the plan never takes the state lock (a read-only key
    could not)."""
    plan = drift["jobs"]["plan"]
    assert plan["environment"] == "drift"
    referenced = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", json.dumps(drift)))
    assert referenced == set(CREDENTIALS)
    for job_id, job in drift["jobs"].items():
        if job_id != "plan":
            assert "secrets." not in json.dumps(job), job_id
    scripts = " ".join(str(step.get("run", "")) for job in drift["jobs"].values() for step in steps(job))
    scripts += (GITHUB_DIR / "scripts" / "plan_stack.sh").read_text()
    assert not re.search(r"\b(apply|destroy)\b|cdktf deploy|dev\.py cdktf", scripts)
    assert "-lock=false" in scripts


def test_plans_cluster_and_platform_inside_their_deploy_groups_and_never_an_app_stack(
    drift: dict[str, Any], workflows: dict[str, dict[str, Any]], app_stack_ids: list[str]
) -> None:
    """Every stack but the app stacks: refreshing one reads its Secrets (and Helm's release records, which are
    Secrets), and this unreviewed run must hold no credential that can. Never against a half-applied state: each
    stack's check takes the group its deploys apply in (deploy.yml), and neither ever replaces a waiting other."""
    plan = drift["jobs"]["plan"]
    assert set(plan["strategy"]["matrix"]["stack"]) == {
        stack for stack in app_stack_ids if not stack.startswith("app-")
    }
    assert set(plan["strategy"]["matrix"]["stack"]) == {"cluster", "platform"}
    header = (GITHUB_DIR / "workflows" / "drift.yml").read_text().split("\nname:", 1)[0]
    assert "Not app-staging and app-production: refreshing an app stack reads its Secrets" in header
    deploy_group = workflows["deploy.yml"]["jobs"]["deploy"]["concurrency"]["group"]
    assert plan["concurrency"]["group"] == deploy_group.replace("inputs.stack", "matrix.stack")
    assert plan["concurrency"]["cancel-in-progress"] is False
    assert plan["concurrency"]["queue"] == "max"
    assert plan["strategy"]["fail-fast"] is False


def test_only_main_s_drift_workflow_gets_the_drift_environment(drift: dict[str, Any]) -> None:
    step = step_named(drift["jobs"]["gate"], "Refuse a run from anything but main")
    assert "--environment drift" in step["run"]
    assert drift["jobs"]["synth"]["needs"] == "gate" and drift["jobs"]["plan"]["needs"] == "synth"
    assert "environment" not in drift["jobs"]["gate"], "the gate holds no secret"
    for event in ("schedule", "workflow_dispatch"):
        deploy_gate.check_run(
            "drift",
            ref="refs/heads/main",
            event=event,
            workflow_ref=f"{REPOSITORY}/.github/workflows/drift.yml@refs/heads/main",
            repository=REPOSITORY,
        )
    with pytest.raises(deploy_gate.GateError):
        deploy_gate.check_run(
            "drift",
            ref="refs/heads/feature",
            event="workflow_dispatch",
            workflow_ref=f"{REPOSITORY}/.github/workflows/drift.yml@refs/heads/feature",
            repository=REPOSITORY,
        )


ENV_STEP = "Refuse when an environment is weaker than the required settings"


def run_gate(drift: dict[str, Any], tmp_path: Path, fakes_world: dict[str, Any]) -> tuple[StepResult, Fakes]:
    step = step_named(drift["jobs"]["gate"], ENV_STEP)
    fakes = install_fakes(tmp_path / "fakes", fakes_world)
    context = {"github": {"repository": REPOSITORY, "token": "ghs_fake"}}
    result = run_script(
        step["run"], env=step_env(step, context), cwd=REPO, tmp_path=tmp_path, path_prepend=fakes.bin_dir
    )
    return result, fakes


def test_the_drift_gate_checks_drift_and_the_plan_environments(drift: dict[str, Any], tmp_path: Path) -> None:
    result, fakes = run_gate(drift, tmp_path, environments())
    assert result.returncode == 0, result.text
    read = {call[1].split("/environments/")[1].split("/")[0] for call in fakes.called("gh", "api")}
    assert read == {"drift", "staging-plan", "production-plan", "production"}  # production: its reviewers


@pytest.mark.parametrize(
    ("weakened", "settings", "problem"),
    [
        ("drift", {"branches": [("branch", "main"), ("branch", "*")]}, "deployment branches must be the branch main"),
        ("production-plan", {"self_review": True}, "prevent self-review is off"),
    ],
)
def test_a_weaker_drift_or_plan_environment_stops_the_drift_check(
    drift: dict[str, Any], tmp_path: Path, weakened: str, settings: dict[str, Any], problem: str
) -> None:
    result, _fakes = run_gate(drift, tmp_path, environments({weakened: settings}))
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("::error")]
    assert line.startswith(f"::error title=Deploy refused::environment {weakened} is weaker than required: ")
    assert problem in line


# --- the refresh-only plan, run -------------------------------------------------------------------------------


@pytest.fixture
def plan_workspace(tmp_path: Path) -> Path:
    """A checkout whose one stack, platform, has a write-only Secret as the platform does."""
    return plan_checkout(tmp_path / "work", "platform", {})


def run_drift_plan(
    drift: dict[str, Any], work: Path, tmp_path: Path, *, plan_exit: int, plan_text: str, stack: str = "platform"
) -> StepResult:
    step = step_named(drift["jobs"]["plan"], "terraform plan -refresh-only")
    stub_command(
        tmp_path / "bin",
        "terraform",
        f'echo "$@" >> "{tmp_path}/tf-calls"\n'
        'if [ "$2" = init ]; then exit 0; fi\n'
        f'cat "{tmp_path}/plan-text"\nexit {plan_exit}\n',
    )
    (tmp_path / "plan-text").write_text(plan_text)
    context = {"github": {"sha": SHA}, "matrix": {"stack": stack}, "secrets": CREDENTIALS}
    return run_script(
        step["run"], env=step_env(step, context), cwd=work, tmp_path=tmp_path, path_prepend=tmp_path / "bin"
    )


def test_the_check_is_a_refresh_only_plan_that_never_locks(
    drift: dict[str, Any], plan_workspace: Path, tmp_path: Path
) -> None:
    """A normal plan would always report the write-only Secrets' revisions (derived here from placeholders); a
    refresh-only plan compares the real infrastructure with state and ignores the configuration."""
    result = run_drift_plan(drift, plan_workspace, tmp_path, plan_exit=0, plan_text="No changes.\n")
    assert result.returncode == 0, result.text
    assert result.outputs == {"status": "0"}
    init, plan = (tmp_path / "tf-calls").read_text().splitlines()
    assert init.split()[:2] == ["-chdir=cdktf.out/stacks/platform", "init"]
    assert plan.split() == [
        "-chdir=cdktf.out/stacks/platform",
        "plan",
        "-input=false",
        "-lock=false",
        "-no-color",
        "-refresh-only",
        "-detailed-exitcode",
    ]
    report = (tmp_path / "runner_temp" / "report" / "platform.md").read_text()
    assert report.startswith(drift_issues.marker("platform") + "\n")
    assert "no drift" in report.splitlines()[1]


def test_drift_is_reported_with_the_plan_and_no_secret_value(
    drift: dict[str, Any], plan_workspace: Path, tmp_path: Path
) -> None:
    token = CREDENTIALS["DIGITALOCEAN_TOKEN"]
    plan_text = (
        'Terraform detected the following changes made outside of Terraform since the last "terraform apply":\n'
        f'  ~ resource "kubernetes_deployment_v1" "x" {{ replicas = 1 -> 3, token = "{token}" }}\n'
    )
    result = run_drift_plan(drift, plan_workspace, tmp_path, plan_exit=2, plan_text=plan_text)
    assert result.returncode == 0, result.text
    assert result.outputs == {"status": "2"}
    report = (tmp_path / "runner_temp" / "report" / "platform.md").read_text()
    assert ":warning: `drift of platform`: drift" in report
    assert "replicas = 1 -> 3" in report
    assert token not in report and "***" in report
    assert plan_report.DRIFT_NOTE in report


def test_a_drift_plan_of_an_app_stack_is_refused_before_terraform(drift: dict[str, Any], tmp_path: Path) -> None:
    """Seeded: someone puts an app stack back into the matrix. plan_stack.sh refuses it (a refresh would read its
    Secrets) and reports a failed check; Terraform never runs."""
    work = plan_checkout(tmp_path / "work", "app-production", {"image_tag": {"type": "string"}})
    result = run_drift_plan(drift, work, tmp_path, plan_exit=0, plan_text="No changes.\n", stack="app-production")
    assert result.returncode == 0, result.text
    assert result.outputs == {"status": "1"}
    assert not (tmp_path / "tf-calls").exists()
    report = (tmp_path / "runner_temp" / "report" / "app-production.md").read_text()
    assert "No drift check of app-production::a refresh of an app stack reads its Secrets" in report


def test_a_failed_check_fails_its_job_after_writing_its_status(drift: dict[str, Any]) -> None:
    plan = drift["jobs"]["plan"]
    fail = step_named(plan, "Fail when the plan failed")
    for status, fails in [("0", False), ("2", False), ("1", True), ("", True)]:
        assert evaluate(fail["if"], {"steps": {"plan": {"outputs": {"status": status}}}}) is fails
    assert step_named(plan, "Status of the check")["if"] == "always()"


# --- the issues --------------------------------------------------------------------------------------------


def report(stack: str, status: int, body: str = "plan") -> tuple[int, str]:
    return status, f"{drift_issues.marker(stack)}\n{body}\n"


def test_issue_decisions_open_update_close_and_leave_failed_checks_alone() -> None:
    issues = [
        {"number": 7, "body": drift_issues.marker("platform") + "\nold"},
        {"number": 8, "body": drift_issues.marker("app-staging") + "\nold"},
        {"number": 9, "body": drift_issues.marker("cluster") + "\nold"},
    ]
    reports = {
        "app-production": report("app-production", 2, "new drift"),
        "platform": report("platform", 2, "still drifting"),
        "app-staging": report("app-staging", 0),
        "cluster": report("cluster", 1, "Error: 503"),
    }
    actions = drift_issues.plan_actions(reports, issues, run_url="https://x/runs/1")
    assert [(a.kind, a.stack, a.number) for a in actions] == [
        ("create", "app-production", 0),
        ("close", "app-staging", 8),
        ("edit", "platform", 7),
    ]
    assert "new drift" in actions[0].text
    assert "https://x/runs/1" in actions[1].text


def run_issue_step(
    drift: dict[str, Any], tmp_path: Path, reports: dict[str, tuple[int, str]], issues: list[dict[str, Any]]
) -> tuple[StepResult, Fakes]:
    folder = tmp_path / "reports"
    folder.mkdir()
    for stack, (status, body) in reports.items():
        (folder / f"{stack}.status").write_text(f"{status}\n")
        (folder / f"{stack}.md").write_text(body)
    step = step_named(drift["jobs"]["issues"], "One issue per stack with drift")
    fakes = install_fakes(tmp_path / "fakes", {"issues": issues})
    context = {"github": {"repository": REPOSITORY, "token": "ghs_fake"}}
    result = run_script(
        step["run"], env=step_env(step, context), cwd=tmp_path, tmp_path=tmp_path, path_prepend=fakes.bin_dir
    )
    return result, fakes


@pytest.fixture
def issue_workspace(tmp_path: Path) -> Path:
    (tmp_path / ".github").symlink_to(GITHUB_DIR)
    return tmp_path


def test_a_new_drift_opens_one_labelled_issue(drift: dict[str, Any], issue_workspace: Path) -> None:
    result, fakes = run_issue_step(drift, issue_workspace, {"app-staging": report("app-staging", 2)}, [])
    assert result.returncode == 0, result.text
    assert fakes.called("gh", "issue", "list")[0][-6:] == [
        "--label",
        "drift",
        "--json",
        "number,title,body",
        "--limit",
        "100",
    ]
    assert fakes.called("gh", "label", "create")[0][:2] == ["label", "create"]
    (create,) = fakes.called("gh", "issue", "create")
    assert create[create.index("--title") + 1] == "Drift: app-staging differs from its Terraform state"
    assert create[create.index("--label") + 1] == "drift"
    assert fakes.called("gh", "issue", "close") == []


def test_a_clean_stack_closes_its_issue_and_opens_none(drift: dict[str, Any], issue_workspace: Path) -> None:
    issues = [{"number": 12, "title": "Drift: platform", "body": drift_issues.marker("platform") + "\nold"}]
    result, fakes = run_issue_step(
        drift, issue_workspace, {"platform": report("platform", 0), "cluster": report("cluster", 0)}, issues
    )
    assert result.returncode == 0, result.text
    (close,) = fakes.called("gh", "issue", "close")
    assert close[:3] == ["issue", "close", "12"]
    assert "No drift any more" in close[close.index("--comment") + 1]
    assert fakes.called("gh", "issue", "create") == []


def test_lasting_drift_updates_the_same_issue(drift: dict[str, Any], issue_workspace: Path) -> None:
    issues = [{"number": 5, "title": "Drift: cluster", "body": drift_issues.marker("cluster") + "\nold"}]
    result, fakes = run_issue_step(drift, issue_workspace, {"cluster": report("cluster", 2)}, issues)
    assert result.returncode == 0, result.text
    assert [call[:3] for call in fakes.called("gh", "issue", "edit")] == [["issue", "edit", "5"]]
    assert fakes.called("gh", "issue", "create") == []


def test_no_report_at_all_fails_the_step_with_one_line(drift: dict[str, Any], issue_workspace: Path) -> None:
    result, fakes = run_issue_step(drift, issue_workspace, {}, [])
    assert result.returncode == 1
    assert result.stderr.startswith("::error title=Drift issues::no drift report in reports")
    assert fakes.called("gh", "issue") == []


def test_the_issues_job_runs_after_failed_plans_too(drift: dict[str, Any]) -> None:
    job = drift["jobs"]["issues"]
    for result, runs in [("success", True), ("failure", True), ("skipped", False), ("cancelled", False)]:
        assert evaluate(job["if"], {"needs": {"plan": {"result": result}}}) is runs


def test_the_drift_report_scrubs_like_the_plan_comments(synth: Synth) -> None:
    """One scrubber for comments and issues: the drift body passes through plan_report.render as well."""
    body = plan_report.render(
        stack="platform",
        exit_code=2,
        plan="secret=c2VjcmV0LXZhbHVlLTEyMw==",
        commit=SHA,
        run_url="u",
        image_tag="sha-4b825dc",
        environ={"TF_VAR_grafana_admin_password": "secret-value-123"},
        kind="drift",
    )
    assert "c2VjcmV0LXZhbHVlLTEyMw" not in body
    assert body.startswith(drift_issues.marker("platform"))
    assert synth.stacks, "the stacks the drift check plans exist"
