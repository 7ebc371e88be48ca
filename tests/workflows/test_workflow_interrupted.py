"""A cancelled apply, detected: concurrency groups are repository-wide, so a workflow of any branch can join a stack's
group `cdktf-deploy-<stack>` with cancel-in-progress and cancel a running apply, leaving the state lock held. Nothing
prevents that; every deploy looks at its stack's queue before applying and names such a run, with the runbook's way
to clear the lock. The decision runs in process on API answers; the step runs end to end against a faked GitHub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.docs.runbook_checks import anchors
from tests.workflows.gha_support import (
    GITHUB_DIR,
    REPO,
    Fakes,
    StepResult,
    install_fakes,
    interpolate,
    load_script,
    run_script,
    step_env,
    step_named,
    steps,
)
from tests.workflows.worlds import REPOSITORY

deploy_gate = load_script("deploy_gate")

STEP = "Was an apply of this stack cancelled?"
THIS_RUN = 900
RUNBOOK_URL = f"https://github.com/{REPOSITORY}/blob/main/{deploy_gate.RUNBOOK}"
DEPLOY_STEPS = (
    "Set up job",
    "Run actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8",
    "Bootstrap (Python venv, Node 22, pinned cdktf-cli, pinned Terraform)",
    "cdktf deploy app-staging",
)


def run(run_id: int, updated: str, *, workflow: str = "deploy staging") -> dict[str, Any]:
    """One entry of GET actions/workflows/<file>/runs (the fields the check reads)."""
    return {
        "id": run_id,
        "status": "completed",
        "conclusion": "success",
        "display_title": workflow,
        "updated_at": updated,
        "html_url": f"https://github.com/{REPOSITORY}/actions/runs/{run_id}",
    }


def step(name: str, conclusion: str, *, started: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "status": "completed",
        "conclusion": conclusion,
        "number": 1,
        "started_at": "2026-11-30T10:00:00Z" if started else None,
        "completed_at": "2026-11-30T10:05:00Z" if started else None,
    }


def deploy_job(conclusion: str, *, stack: str = "app-staging", reached: int = len(DEPLOY_STEPS)) -> dict[str, Any]:
    """deploy.yml's deploy job as GET actions/runs/<id>/jobs names it when called; `reached`: how many of its steps had
    started when it ended (0: it never started, e.g. it was waiting for a reviewer)."""
    names = [name.replace("app-staging", stack) for name in DEPLOY_STEPS]
    ran = [step(name, "success") for name in names[:reached]]
    if conclusion == "cancelled" and ran:
        ran[-1] = step(names[reached - 1], "cancelled")
    elif conclusion != "success" and ran:
        ran[-1] = step(names[reached - 1], conclusion)
    environment = "staging" if stack == "app-staging" else "production"
    return {
        "name": f"deploy / cdktf deploy {stack} ({environment})",
        "status": "completed",
        "conclusion": conclusion,
        "completed_at": "2026-11-30T10:05:00Z",
        "steps": ran,
    }


def gate_job(stack: str = "app-staging") -> dict[str, Any]:
    return {
        "name": f"deploy / gate {stack} (staging)",
        "conclusion": "success",
        "steps": [step("Set up job", "success")],
    }


def decide(
    stack: str, runs: list[dict[str, Any]], jobs: dict[int, list[dict[str, Any]]], current_run: int = THIS_RUN
) -> list[Any]:
    recent = deploy_gate.recent_runs([{"workflow_runs": runs}], current_run=current_run)
    found: list[Any] = deploy_gate.interrupted(stack, recent, {run_id: {"jobs": j} for run_id, j in jobs.items()})
    return found


# --- the decision ------------------------------------------------------------------------------------------------


def test_a_cancelled_apply_is_flagged_with_the_run_and_the_runbook() -> None:
    """Seeded: the newest run of the queue was cancelled during its apply (a branch workflow joined the group with
    cancel-in-progress)."""
    runs = [run(801, "2026-11-30T10:05:00Z"), run(800, "2026-11-29T10:05:00Z")]
    jobs = {801: [gate_job(), deploy_job("cancelled")], 800: [gate_job(), deploy_job("success")]}
    (found,) = decide("app-staging", runs, jobs)
    assert (found.run_id, found.step, found.applying, found.drift) == (801, "cdktf deploy app-staging", True, False)
    lines, summary = deploy_gate.interrupted_report("app-staging", [found], runbook_url=RUNBOOK_URL)
    (line,) = lines
    assert line.startswith("::error title=An apply of app-staging was cancelled::run 801 (deploy staging, https://")
    assert "during 'cdktf deploy app-staging'" in line and RUNBOOK_URL in line
    assert "cdktf-deploy-app-staging" in line
    assert "### Cancelled runs in the deploy queue of `app-staging`" in summary
    assert "/actions/runs/801" in summary and RUNBOOK_URL in summary


def test_a_successful_last_deploy_is_quiet() -> None:
    runs = [run(801, "2026-11-30T10:05:00Z"), run(800, "2026-11-29T10:05:00Z")]
    jobs = {801: [gate_job(), deploy_job("success")], 800: [gate_job(), deploy_job("cancelled")]}
    assert decide("app-staging", runs, jobs) == [], "an apply that succeeded since took and released the lock"
    assert deploy_gate.interrupted_report("app-staging", [], runbook_url=RUNBOOK_URL) == ([], "")


def test_this_run_itself_is_never_counted() -> None:
    runs = [run(THIS_RUN, "2026-11-30T11:00:00Z"), run(800, "2026-11-29T10:05:00Z")]
    jobs = {THIS_RUN: [deploy_job("cancelled")], 800: [deploy_job("success")]}
    assert decide("app-staging", runs, jobs) == []
    assert [r["id"] for r in deploy_gate.recent_runs([{"workflow_runs": runs}], current_run=THIS_RUN)] == [800]


def test_a_cancelled_apply_is_still_flagged_after_a_deploy_that_failed_on_its_lock() -> None:
    """The deploy after the cancelled one failed on the held lock: the next one must still say why."""
    runs = [run(802, "2026-11-30T12:00:00Z"), run(801, "2026-11-30T10:05:00Z"), run(800, "2026-11-29T10:00:00Z")]
    jobs = {802: [deploy_job("failure")], 801: [deploy_job("cancelled")], 800: [deploy_job("success")]}
    assert [item.run_id for item in decide("app-staging", runs, jobs)] == [801]


def test_a_run_cancelled_before_it_started_is_quiet() -> None:
    """A release waiting for its reviewer that a rollback stopped (stop-releases), or a run cancelled in the queue,
    never started a step: it never held the lock."""
    runs = [run(801, "2026-11-30T10:05:00Z"), run(800, "2026-11-29T10:05:00Z")]
    jobs = {801: [gate_job(), deploy_job("cancelled", reached=0)], 800: [deploy_job("success")]}
    assert decide("app-staging", runs, jobs) == []


def test_a_deploy_cancelled_before_its_apply_is_a_warning() -> None:
    runs = [run(801, "2026-11-30T10:05:00Z")]
    (found,) = decide("app-staging", runs, {801: [deploy_job("cancelled", reached=3)]})
    assert not found.applying
    (line,) = deploy_gate.interrupted_report("app-staging", [found], runbook_url=RUNBOOK_URL)[0]
    assert line.startswith("::warning title=A run of the deploy queue of app-staging was cancelled::run 801")
    assert "before its apply started (no lock taken)" in line and "during 'Bootstrap" in line


def test_a_cancelled_drift_check_is_a_warning_and_does_not_end_the_search() -> None:
    """drift.yml plans cluster and platform in their groups with -lock=false: a cancelled drift check holds no lock
    but is still a run of the queue someone cancelled; its success says nothing about the lock."""
    drift_cancelled = {
        "name": "drift of platform",
        "conclusion": "cancelled",
        "steps": [step("Set up job", "success"), step("terraform plan -refresh-only platform", "cancelled")],
    }
    drift_ok = {"name": "drift of platform", "conclusion": "success", "steps": [step("Set up job", "success")]}
    runs = [
        run(803, "2026-11-30T12:00:00Z", workflow="drift"),
        run(802, "2026-11-30T11:00:00Z", workflow="drift"),
        run(801, "2026-11-30T10:05:00Z", workflow="deploy infrastructure"),
    ]
    jobs = {803: [drift_ok], 802: [drift_cancelled], 801: [deploy_job("cancelled", stack="platform")]}
    found = decide("platform", runs, jobs)
    assert [(item.run_id, item.drift, item.applying) for item in found] == [(802, True, False), (801, False, True)]
    lines = deploy_gate.interrupted_report("platform", found, runbook_url=RUNBOOK_URL)[0]
    assert [line.split("::")[1].split(" title=")[0] for line in lines] == ["warning", "error"]


def test_jobs_of_another_stack_are_not_this_stack_s_queue() -> None:
    """deploy infrastructure runs deploy cluster and platform alike; drift checks both in one run."""
    runs = [run(801, "2026-11-30T10:05:00Z", workflow="deploy infrastructure")]
    jobs = {801: [deploy_job("cancelled", stack="cluster"), {"name": "drift of cluster", "conclusion": "cancelled"}]}
    assert decide("platform", runs, jobs) == []
    assert [item.run_id for item in decide("cluster", runs, jobs)] == [801]


def test_the_newest_completed_runs_are_read_first_whatever_their_workflow() -> None:
    answers = [
        {
            "workflow_runs": [
                run(5, "2026-11-30T09:00:00Z"),
                {**run(6, "2026-11-30T13:00:00Z"), "status": "in_progress"},
            ]
        },
        {"workflow_runs": [run(7, "2026-11-30T11:00:00Z", workflow="drift")]},
    ]
    assert [r["id"] for r in deploy_gate.recent_runs(answers, current_run=THIS_RUN)] == [7, 5]


# --- the names GitHub gives the group's jobs are the workflows' ---------------------------------------------------


def test_the_group_s_job_names_are_the_ones_the_workflows_give(workflows: dict[str, dict[str, Any]]) -> None:
    """Seeded renames fail here: the check finds a stack's jobs by the names deploy.yml and drift.yml give them."""
    deploy_name = workflows["deploy.yml"]["jobs"]["deploy"]["name"]
    drift_name = workflows["drift.yml"]["jobs"]["plan"]["name"]
    for stack in deploy_gate.GROUP_WORKFLOWS:
        called = interpolate(deploy_name, {"inputs": {"stack": stack, "environment": "production"}})
        assert deploy_gate.group_job(f"deploy / {called}") == ("deploy", stack)
        assert deploy_gate.group_job(interpolate(drift_name, {"matrix": {"stack": stack}})) == ("drift", stack)
    assert deploy_gate.group_job("deploy / gate app-staging (staging)") is None
    assert deploy_gate.group_job("deploy / cdktf deploy-ish app-staging (staging)") is None
    apply_step = step_named(workflows["deploy.yml"]["jobs"]["deploy"], "cdktf deploy")["name"]
    assert apply_step.startswith(deploy_gate.APPLY_STEP)


def test_the_group_s_workflows_are_the_ones_that_take_it(workflows: dict[str, dict[str, Any]]) -> None:
    """GROUP_WORKFLOWS agrees with the workflows: the callers of deploy.yml per stack, and drift.yml's matrix."""
    taking: dict[str, set[str]] = {}
    for file, workflow in workflows.items():
        for job in workflow["jobs"].values():
            if job.get("uses") == "./.github/workflows/deploy.yml":
                stack = job["with"]["stack"]
                options = (
                    workflow["on"]["workflow_dispatch"]["inputs"]["stack"]["options"] if "${{" in stack else [stack]
                )
                for option in options:
                    taking.setdefault(option, set()).add(file)
            group = str((job.get("concurrency") or {}).get("group", ""))
            if group == "cdktf-deploy-${{ matrix.stack }}":
                for option in job["strategy"]["matrix"]["stack"]:
                    taking.setdefault(option, set()).add(file)
    assert {stack: set(files) for stack, files in deploy_gate.GROUP_WORKFLOWS.items()} == taking


def test_the_runbook_section_the_message_links_exists() -> None:
    page, _, anchor = deploy_gate.RUNBOOK.partition("#")
    assert anchor in anchors((REPO / page).read_text())


# --- the step, end to end ----------------------------------------------------------------------------------------


def queue_world(runs: list[dict[str, Any]], jobs: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    answers: dict[str, Any] = {f"repos/{REPOSITORY}/actions/workflows/deploy-staging.yml/runs": {"workflow_runs": runs}}
    answers |= {f"repos/{REPOSITORY}/actions/runs/{run_id}/jobs": {"jobs": j} for run_id, j in jobs.items()}
    return {"api": answers}


def run_step(
    workflows: dict[str, dict[str, Any]], tmp_path: Path, fakes_world: dict[str, Any]
) -> tuple[StepResult, Fakes]:
    work = tmp_path / "work"
    (work / "gate").mkdir(parents=True)
    (work / "gate" / ".github").symlink_to(GITHUB_DIR)
    check = step_named(workflows["deploy.yml"]["jobs"]["deploy"], STEP)
    context = {
        "inputs": {"stack": "app-staging"},
        "github": {"repository": REPOSITORY, "run_id": THIS_RUN, "server_url": "https://github.com", "token": "x"},
    }
    fakes = install_fakes(tmp_path / "fakes", fakes_world)
    result = run_script(
        check["run"], env=step_env(check, context), cwd=work, tmp_path=tmp_path, path_prepend=fakes.bin_dir
    )
    return result, fakes


def test_the_step_names_a_cancelled_apply_on_the_run_page_and_in_the_summary(
    workflows: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    runs = [run(801, "2026-11-30T10:05:00Z"), run(800, "2026-11-29T10:05:00Z")]
    result, fakes = run_step(
        workflows, tmp_path, queue_world(runs, {801: [deploy_job("cancelled")], 800: [deploy_job("success")]})
    )
    assert result.returncode == 0, result.text
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert line.startswith("::error title=An apply of app-staging was cancelled::run 801")
    assert RUNBOOK_URL in line
    assert "Cancelled runs in the deploy queue of `app-staging`" in result.summary
    assert [call[1] for call in fakes.called("gh", "api")] == [
        f"repos/{REPOSITORY}/actions/workflows/deploy-staging.yml/runs?status=completed&per_page=20",
        f"repos/{REPOSITORY}/actions/runs/801/jobs",
        f"repos/{REPOSITORY}/actions/runs/800/jobs",
    ]


def test_the_step_is_quiet_after_a_successful_deploy(workflows: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    runs = [run(801, "2026-11-30T10:05:00Z")]
    result, _fakes = run_step(workflows, tmp_path, queue_world(runs, {801: [deploy_job("success")]}))
    assert result.returncode == 0, result.text
    assert "::" not in result.stdout
    assert result.summary == ""
    assert "app-staging: no run of its deploy queue was cancelled since its last successful deploy" in result.stdout


def test_an_unreadable_queue_warns_and_the_deploy_goes_on(workflows: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    result, _fakes = run_step(workflows, tmp_path, {"api": {}})
    assert result.returncode == 0, result.text
    assert "::warning title=Cancelled applies not checked::" in result.stdout


def test_the_check_runs_in_the_deploy_job_before_the_apply_with_read_access_only(
    workflows: dict[str, dict[str, Any]],
) -> None:
    """Inside the group (the deploy job holds it, so every run it looks at has finished), before the apply, with
    GitHub's token alone (actions: read): no environment secret."""
    deploy = workflows["deploy.yml"]["jobs"]["deploy"]
    names = [s.get("name") for s in steps(deploy)]
    assert (
        names.index("Still the commit to deploy?") < names.index(STEP) < names.index("cdktf deploy ${{ inputs.stack }}")
    )
    check = step_named(deploy, STEP)
    assert "secrets." not in str(check)
    assert check["if"] == "steps.current.outputs.deploy == 'true'"
    assert deploy["permissions"] == {"contents": "read", "actions": "read"}


@pytest.mark.parametrize("stack", ["cluster", "platform", "app-staging", "app-production"])
def test_every_stack_has_a_queue_to_look_at(stack: str) -> None:
    assert deploy_gate.group_workflows(stack)
