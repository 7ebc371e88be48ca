"""Production: a published release starts main's deploy workflow (release.yml), which resolves the release to a commit
of main and deploys it behind the production environment; rollbacks run the same way by hand, take precedence over
releases waiting for approval, and are never dropped. Events are fixtures; every `run:` step is executed against a
real git checkout and a faked GitHub."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.workflows import worlds
from tests.workflows.gha_support import (
    GITHUB_DIR,
    REPO,
    Fakes,
    StepResult,
    evaluate,
    install_fakes,
    interpolate,
    load_script,
    run_script,
    step_env,
    step_named,
    step_using,
    steps,
    triggers,
)
from tests.workflows.worlds import REPOSITORY

deploy_gate = load_script("deploy_gate")


@pytest.fixture(scope="module")
def production(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return workflows["deploy-production.yml"]


@pytest.fixture(scope="module")
def release(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return workflows["release.yml"]


# --- a published release starts main's workflow -------------------------------------------------------------


def test_a_published_release_only_asks_main_to_deploy(release: dict[str, Any]) -> None:
    """Issue scenario: a release ran the tagged commit's own workflow file, so the commit being released could remove
    the "on main" check. The release event now only dispatches deploy-production.yml on main; it checks out
    nothing, holds no secret and may do nothing but start a workflow."""
    assert triggers(release) == {"release": {"types": ["released"]}}
    (job,) = release["jobs"].values()
    assert job["permissions"] == {"actions": "write"}
    assert not [s for s in steps(job) if "uses" in s], "no checkout, no action: nothing of the tagged commit runs"
    assert "secrets." not in str(job)


def run_release_job(release: dict[str, Any], tmp_path: Path, tag: str) -> tuple[StepResult, Fakes]:
    (job,) = release["jobs"].values()
    step = step_named(job, "Run deploy production from main")
    fakes = install_fakes(tmp_path / "fakes", {})
    context = {
        "github": {"repository": REPOSITORY, "token": "ghs_fake", "event": {"release": {"tag_name": tag}}},
    }
    result = run_script(
        step["run"], env=step_env(step, context), cwd=tmp_path, tmp_path=tmp_path, path_prepend=fakes.bin_dir
    )
    return result, fakes


def test_the_release_job_dispatches_deploy_production_on_main_with_the_tag(
    release: dict[str, Any], tmp_path: Path
) -> None:
    result, fakes = run_release_job(release, tmp_path, "v1.4.0")
    assert result.returncode == 0, result.text
    assert fakes.called("gh", "workflow", "run") == [
        [
            "workflow",
            "run",
            "deploy-production.yml",
            "--repo",
            REPOSITORY,
            "--ref",
            "main",
            "-f",
            "release-tag=v1.4.0",
            "-f",
            "purpose=release",
        ]
    ]


def test_a_hostile_tag_name_is_only_ever_an_argument(release: dict[str, Any], tmp_path: Path) -> None:
    """The tag reaches gh as one argument (through env), never as shell code; main's workflow then refuses it."""
    result, fakes = run_release_job(release, tmp_path, 'v1"; touch pwned; echo "')
    assert result.returncode == 0, result.text
    assert not (tmp_path / "pwned").exists()
    assert fakes.called("gh", "workflow", "run")[0][8] == 'release-tag=v1"; touch pwned; echo "'


@pytest.mark.parametrize(("prerelease", "deploys"), [(False, True), (True, False)])
def test_pre_releases_do_not_deploy_to_production(release: dict[str, Any], prerelease: bool, deploys: bool) -> None:
    """Issue scenario: `release: published` also deployed pre-releases. `released` does not fire for them, and the
    job checks the flag again."""
    (job,) = release["jobs"].values()
    assert evaluate(job["if"], {"github": {"event": {"release": {"prerelease": prerelease}}}}) is deploys


# --- deploy production: only from main ----------------------------------------------------------------------


def test_production_deploys_only_by_dispatch_and_only_from_main(production: dict[str, Any]) -> None:
    on = triggers(production)
    assert set(on) == {"workflow_dispatch"}, "no release trigger: a tag's workflow file never deploys"
    inputs = on["workflow_dispatch"]["inputs"]
    assert inputs["purpose"]["options"] == ["rollback", "release"]
    assert inputs["purpose"]["default"] == "rollback"
    assert inputs["allow-prerelease"] == {
        "description": "Deploy a pre-release tag (v1.4.0-rc.1) to production",
        "type": "boolean",
        "default": False,
    }
    with pytest.raises(deploy_gate.GateError, match="production accepts only runs of"):
        deploy_gate.check_run(
            "production",
            ref="refs/tags/v1.4.0",
            event="workflow_dispatch",
            workflow_ref=f"{REPOSITORY}/.github/workflows/deploy-production.yml@refs/tags/v1.4.0",
            repository=REPOSITORY,
        )


def test_production_deploys_the_release_commit_in_environment_production(production: dict[str, Any]) -> None:
    job = production["jobs"]["deploy"]
    assert job["uses"] == "./.github/workflows/deploy.yml"
    assert job["with"] == {
        "environment": "production",
        "stack": "app-production",
        "commit": "${{ needs.release.outputs.commit }}",
        # Its publisher may not approve the deploy; deploy.yml reads who that is from the API.
        "release-tag": "${{ inputs.release-tag }}",
    }
    assert production["jobs"]["release"]["outputs"] == {"commit": "${{ steps.release.outputs.commit }}"}
    assert step_using(production["jobs"]["release"], "actions/checkout")["with"]["fetch-depth"] == 0


def git(work: Path, *args: str) -> str:
    identity = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t"}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), **identity}
    env["GIT_COMMITTER_EMAIL"] = "t@example.org"
    done = subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


@pytest.fixture
def release_checkout(tmp_path: Path) -> dict[str, str]:
    """A checkout as `fetch-depth: 0` leaves it: main with two commits, a branch commit, and release tags.

    v1.4.0 is annotated (its own object id differs from its commit's), v1.3.2 lightweight on an older commit of
    main, v1.5.0-rc.1 a pre-release on main, v9.9.9 on a commit that never reached main.
    """
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    git(work, "commit", "--quiet", "--allow-empty", "-m", "older")
    older = git(work, "rev-parse", "HEAD")
    git(work, "tag", "v1.3.2")
    git(work, "commit", "--quiet", "--allow-empty", "-m", "release")
    release = git(work, "rev-parse", "HEAD")
    git(work, "tag", "-a", "v1.4.0", "-m", "v1.4.0")
    git(work, "tag", "v1.5.0-rc.1")
    git(work, "update-ref", "refs/remotes/origin/main", release)
    git(work, "checkout", "--quiet", "-b", "feature")
    git(work, "commit", "--quiet", "--allow-empty", "-m", "unmerged")
    unmerged = git(work, "rev-parse", "HEAD")
    git(work, "tag", "v9.9.9")
    git(work, "checkout", "--quiet", "--detach", "v1.4.0")
    (work / ".github").symlink_to(GITHUB_DIR)
    assert git(work, "rev-parse", "v1.4.0") != release, "v1.4.0 must be an annotated tag"
    return {"work": str(work), "older": older, "release": release, "unmerged": unmerged}


def run_release_check(
    production: dict[str, Any], tmp_path: Path, *, tag: str, allow_prerelease: bool = False
) -> StepResult:
    step = step_named(production["jobs"]["release"], "Refuse a tag that is not a release")
    env = step_env(step, {"inputs": {"release-tag": tag, "allow-prerelease": allow_prerelease}})
    return run_script(step["run"], env=env, cwd=tmp_path / "work", tmp_path=tmp_path)


def test_a_release_resolves_to_its_commit_on_main(
    production: dict[str, Any], tmp_path: Path, release_checkout: dict[str, str]
) -> None:
    result = run_release_check(production, tmp_path, tag="v1.4.0")
    assert result.returncode == 0, result.text
    assert result.outputs == {"commit": release_checkout["release"]}, "the commit, not the annotated tag's object"


def test_a_rollback_resolves_an_earlier_release_the_same_way(
    production: dict[str, Any], tmp_path: Path, release_checkout: dict[str, str]
) -> None:
    result = run_release_check(production, tmp_path, tag="v1.3.2")
    assert result.returncode == 0, result.text
    assert result.outputs == {"commit": release_checkout["older"]}


def test_production_refuses_a_release_whose_commit_is_not_on_main(
    production: dict[str, Any], tmp_path: Path, release_checkout: dict[str, str]
) -> None:
    result = run_release_check(production, tmp_path, tag="v9.9.9")
    assert result.returncode == 1
    assert result.outputs == {}
    assert "::error title=v9.9.9 is not on main::" in result.stdout
    assert f"commit {release_checkout['unmerged'][:7]} is not on main" in result.stdout


def test_production_refuses_a_tag_that_does_not_exist(
    production: dict[str, Any], tmp_path: Path, release_checkout: dict[str, str]
) -> None:
    result = run_release_check(production, tmp_path, tag="v2.0.0")
    assert result.returncode == 1
    assert "::error title=No tag v2.0.0::" in result.stdout
    assert result.outputs == {}


def test_production_refuses_a_release_tag_that_is_not_semver(
    production: dict[str, Any], tmp_path: Path, release_checkout: dict[str, str]
) -> None:
    for tag in ["release-2026", "main", "v1.4.0^{commit}"]:
        result = run_release_check(production, tmp_path, tag=tag)
        assert result.returncode != 0, tag
        assert f"{tag!r} is not v<semver>" in result.stderr
        assert result.outputs == {}


def test_a_pre_release_deploys_only_when_the_input_says_so(
    production: dict[str, Any], tmp_path: Path, release_checkout: dict[str, str]
) -> None:
    refused = run_release_check(production, tmp_path, tag="v1.5.0-rc.1")
    assert refused.returncode != 0
    assert "'v1.5.0-rc.1' is a pre-release: production deploys it only with allow-prerelease set" in refused.stderr
    assert refused.outputs == {}
    allowed = run_release_check(production, tmp_path, tag="v1.5.0-rc.1", allow_prerelease=True)
    assert allowed.returncode == 0, allowed.text
    assert allowed.outputs == {"commit": release_checkout["release"]}


# --- nothing queued is lost; a rollback comes first -------------------------------------------------------------


def lane(production: dict[str, Any], purpose: str) -> str:
    return interpolate(production["concurrency"]["group"], {"inputs": {"purpose": purpose}})


def test_releases_and_rollbacks_queue_in_their_own_lanes_and_none_is_dropped(
    production: dict[str, Any], workflows: dict[str, dict[str, Any]]
) -> None:
    """Issue scenario: GitHub kept one pending run per group, so a release waiting for approval blocked a rollback and
    the next release replaced that rollback. Rollbacks have their own lane, and every queue on the way to an apply
    keeps all that wait (queue: max)."""
    assert lane(production, "release") != lane(production, "rollback")
    assert production["concurrency"]["queue"] == "max"
    assert production["concurrency"]["cancel-in-progress"] is False
    apply_group = workflows["deploy.yml"]["jobs"]["deploy"]["concurrency"]
    assert apply_group["queue"] == "max" and apply_group["cancel-in-progress"] is False


RUNS = {
    "workflow_runs": [
        {"id": 101, "status": "waiting", "display_title": "deploy production v1.5.0 (release)"},
        {"id": 102, "status": "pending", "display_title": "deploy production v1.6.0 (release)"},
        {"id": 103, "status": "in_progress", "display_title": "deploy production v1.4.1 (release)"},
        {"id": 104, "status": "waiting", "display_title": "deploy production v1.3.2 (rollback)"},
        {"id": 105, "status": "completed", "display_title": "deploy production v1.4.0 (release)"},
        {"id": 200, "status": "in_progress", "display_title": "deploy production v1.3.2 (rollback)"},
    ]
}


def run_stop_releases(production: dict[str, Any], tmp_path: Path, world: dict[str, Any]) -> tuple[StepResult, Fakes]:
    step = step_named(production["jobs"]["stop-releases"], "Cancel release runs waiting for a reviewer")
    fakes = install_fakes(tmp_path / "fakes", world)
    context = {"github": {"repository": REPOSITORY, "run_id": 200, "token": "ghs_fake"}}
    result = run_script(
        step["run"], env=step_env(step, context), cwd=REPO, tmp_path=tmp_path, path_prepend=fakes.bin_dir
    )
    return result, fakes


def test_a_rollback_stops_the_releases_not_yet_approved(production: dict[str, Any], tmp_path: Path) -> None:
    """A release waiting for a reviewer (or not started) no longer blocks the rollback, and cannot undo it by being
    approved later; a release already applying finishes first (cancelling an apply leaves state locked)."""
    world = {"api": {f"repos/{REPOSITORY}/actions/workflows/deploy-production.yml/runs": RUNS}}
    result, fakes = run_stop_releases(production, tmp_path, world)
    assert result.returncode == 0, result.text
    assert fakes.called("gh", "run", "cancel") == [
        ["run", "cancel", "101", "--repo", REPOSITORY],
        ["run", "cancel", "102", "--repo", REPOSITORY],
    ]
    assert result.stdout.count("::notice title=Release run") == 2


def test_only_rollbacks_stop_releases_and_the_rollback_goes_ahead_regardless(production: dict[str, Any]) -> None:
    stop = production["jobs"]["stop-releases"]
    assert stop["permissions"] == {"contents": "read", "actions": "write"}
    assert evaluate(stop["if"], {"inputs": {"purpose": "rollback"}}) is True
    assert evaluate(stop["if"], {"inputs": {"purpose": "release"}}) is False
    deploy_if = production["jobs"]["deploy"]["if"]
    for release_result, stop_result, deploys in [
        ("success", "success", True),
        ("success", "skipped", True),  # a release: nothing to stop
        ("success", "failure", True),  # cancelling failed: reject waiting releases by hand, still roll back
        ("failure", "skipped", False),
    ]:
        context = {"needs": {"release": {"result": release_result}, "stop-releases": {"result": stop_result}}}
        assert evaluate(deploy_if, context) is deploys
    assert evaluate(deploy_if, {"run": {"cancelled": True}, "needs": {"release": {"result": "success"}}}) is False


def test_the_run_name_marks_release_runs_for_the_rollback_to_find(production: dict[str, Any]) -> None:
    name = interpolate(production["run-name"], {"inputs": {"release-tag": "v1.5.0", "purpose": "release"}})
    assert deploy_gate.waiting_releases(
        {"workflow_runs": [{"id": 1, "status": "waiting", "display_title": name}]}, current_run=2
    ) == [1]


def test_the_rollback_runbook_names_the_commit_of_an_annotated_release_tag(release_checkout: dict[str, str]) -> None:
    """Issue scenario: `git rev-parse --short=7 <tag>` printed the tag object of an annotated tag, not the commit
    whose sha-<7> production runs. The command the runbook shows is run here against an annotated tag."""
    text = (REPO / "docs" / "runbooks" / "rollback.md").read_text()
    (command,) = set(re.findall(r"`(git rev-parse --short=7 [^`]+)`", text))
    tag_argument = shlex.split(command)[-1]
    assert tag_argument.startswith("v1.4.1")
    shown = git(Path(release_checkout["work"]), "rev-parse", "--short=7", tag_argument.replace("v1.4.1", "v1.4.0"))
    assert shown == release_checkout["release"][:7]
    assert git(Path(release_checkout["work"]), "rev-parse", "--short=7", "v1.4.0") != shown, (
        "the fixture's tag is annotated"
    )


# --- staging holds no DigitalOcean token -------------------------------------------------------------------------


@pytest.fixture
def gate_checkout(tmp_path: Path) -> Path:
    """The deploy job's checkout of main's scripts (gate/.github)."""
    work = tmp_path / "work"
    (work / "gate").mkdir(parents=True)
    (work / "gate" / ".github").symlink_to(GITHUB_DIR)
    return work


HELD_STEP = "Refuse an environment that holds a secret it must not"


@pytest.mark.parametrize(
    ("environment", "holds", "refused"),
    [("staging", True, True), ("staging", False, False), ("production", True, False)],
)
def test_a_staging_environment_that_still_holds_a_digitalocean_token_is_refused(  # noqa: PLR0917 - parameters
    workflows: dict[str, dict[str, Any]],
    gate_checkout: Path,
    tmp_path: Path,
    environment: str,
    holds: bool,
    refused: bool,
) -> None:
    """Seeded: staging still holds DIGITALOCEAN_TOKEN (cluster-admin in effect, readable by any workflow change merged
    to main). The step sees only whether it is set, and refuses; production holds it on purpose (cluster, platform)."""
    step = step_named(workflows["deploy.yml"]["jobs"]["deploy"], HELD_STEP)
    token = "dop_v1_cluster-admin-in-effect"
    context = {"inputs": {"environment": environment}, "secrets": {"DIGITALOCEAN_TOKEN": token} if holds else {}}
    env = step_env(step, context)
    assert token not in json.dumps(env)
    result = run_script(step["run"], env=env, cwd=gate_checkout, tmp_path=tmp_path)
    assert result.returncode == int(refused), result.text
    if refused:
        (line,) = result.stderr.splitlines()
        assert line.startswith("::error title=Deploy refused::environment staging holds the secret DIGITALOCEAN_TOKEN")


# --- four eyes: neither the publisher nor the starter approves ----------------------------------------------------

APPROVAL_STEP = "Refuse an approval by the release's publisher or the run's starter"
RUN_ID = 4242
#: release.yml starts the run with GITHUB_TOKEN: its actor need not be the release's publisher (here: GitHub's bot).
BOT = "github-actions[bot]"


def approvals(*entries: tuple[str, str, str]) -> list[dict[str, Any]]:
    """GET actions/runs/<id>/approvals: (environment, state, login) per review, as GitHub lists them."""
    return [
        {
            "environments": [{"id": 1, "name": environment}],
            "state": state,
            "comment": "",
            "user": {"login": login, "type": "User"},
        }
        for environment, state, login in entries
    ]


def release_answer(tag: str, author: str) -> dict[str, Any]:
    """GET releases/tags/<tag>: the fields the check reads."""
    return {"tag_name": tag, "author": {"login": author, "type": "User"}, "draft": False, "prerelease": False}


@pytest.mark.parametrize(
    ("reviews", "refused"),
    [
        # Issue scenario: the person who published the release approves its production deploy.
        ([("production", "approved", "alice")], "production was approved by alice, who published release v1.4.0"),
        # Logins are case-insensitive.
        ([("production", "approved", "Alice")], "production was approved by Alice, who published release v1.4.0"),
        # The person who started the run (a rollback by hand) approves it.
        ([("production", "approved", "carol")], "production was approved by carol, who started this run"),
        # Somebody else approved too: the publisher's approval is still refused.
        ([("production", "approved", "bob"), ("production", "approved", "alice")], "approved by alice"),
        # No approval of production recorded (an administrator bypass, or only other environments' reviews).
        ([], "no approval of production is recorded for this run"),
        ([("staging", "approved", "bob")], "no approval of production is recorded for this run"),
        ([("production", "rejected", "bob")], "no approval of production is recorded for this run"),
    ],
)
def test_an_approval_by_the_publisher_or_the_starter_is_refused(
    reviews: list[tuple[str, str, str]], refused: str
) -> None:
    problems = deploy_gate.approval_problems(
        approvals(*reviews),
        environment="production",
        excluded=[
            ("carol", "started this run"),
            ("carol", "started this run"),
            (deploy_gate.release_author(release_answer("v1.4.0", "alice"), tag="v1.4.0"), "published release v1.4.0"),
        ],
    )
    assert len(problems) == 1
    assert refused in problems[0]


def test_an_approval_by_someone_else_is_accepted() -> None:
    reviews = approvals(("production", "approved", "bob"), ("staging", "approved", "alice"))
    excluded = [("carol", "started this run"), ("alice", "published release v1.4.0")]
    assert deploy_gate.approval_problems(reviews, environment="production", excluded=excluded) == []


def test_the_release_author_comes_from_the_release_of_that_tag() -> None:
    assert deploy_gate.release_author(release_answer("v1.4.0", "alice"), tag="v1.4.0") == "alice"
    with pytest.raises(deploy_gate.GateError, match=re.escape("not of 'v1.4.0'")):
        deploy_gate.release_author(release_answer("v1.3.2", "alice"), tag="v1.4.0")
    with pytest.raises(deploy_gate.GateError, match="names no author"):
        deploy_gate.release_author({"tag_name": "v1.4.0", "author": None}, tag="v1.4.0")


def run_approval(
    workflows: dict[str, dict[str, Any]],
    work: Path,
    tmp_path: Path,
    fakes_world: dict[str, Any],
    *,
    release_tag: str = "v1.4.0",
    actor: str = BOT,
) -> tuple[StepResult, Fakes]:
    step = step_named(workflows["deploy.yml"]["jobs"]["deploy"], APPROVAL_STEP)
    context = {
        "github": {
            "repository": REPOSITORY,
            "run_id": RUN_ID,
            "token": "ghs_fake",
            "actor": actor,
            "triggering_actor": actor,
        },
        "inputs": {"environment": "production", "release-tag": release_tag},
    }
    fakes = install_fakes(tmp_path / "fakes", fakes_world)
    result = run_script(
        step["run"], env=step_env(step, context), cwd=work, tmp_path=tmp_path, path_prepend=fakes.bin_dir
    )
    return result, fakes


def approval_world(reviews: list[dict[str, Any]], author: str = "alice", tag: str = "v1.4.0") -> dict[str, Any]:
    return {
        "api": {
            f"repos/{REPOSITORY}/actions/runs/{RUN_ID}/approvals": reviews,
            f"repos/{REPOSITORY}/releases/tags/{tag}": release_answer(tag, author),
        }
    }


def test_a_release_approved_by_another_reviewer_goes_ahead(
    workflows: dict[str, dict[str, Any]], gate_checkout: Path, tmp_path: Path
) -> None:
    world = approval_world(approvals(("production", "approved", "bob")))
    result, fakes = run_approval(workflows, gate_checkout, tmp_path, world)
    assert result.returncode == 0, result.text
    assert [call[1] for call in fakes.called("gh", "api")] == [
        f"repos/{REPOSITORY}/actions/runs/{RUN_ID}/approvals",
        f"repos/{REPOSITORY}/releases/tags/v1.4.0",
    ]
    assert "production: approved by bob" in result.stdout


def test_a_release_approved_by_its_publisher_stops_before_any_secret(
    workflows: dict[str, dict[str, Any]], gate_checkout: Path, tmp_path: Path
) -> None:
    """Issue scenario: release.yml starts the run with GITHUB_TOKEN, so "prevent self-review" (the starter only) may let
    the publisher approve the deploy of their own release. The author is read from the API for the tag."""
    world = approval_world(approvals(("production", "approved", "alice")))
    result, _fakes = run_approval(workflows, gate_checkout, tmp_path, world)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("::error title=Deploy refused::production was approved by alice, who published release")


def test_a_rollback_approved_by_whoever_started_it_is_refused(
    workflows: dict[str, dict[str, Any]], gate_checkout: Path, tmp_path: Path
) -> None:
    world = approval_world(approvals(("production", "approved", "carol")), tag="v1.3.2")
    result, _fakes = run_approval(workflows, gate_checkout, tmp_path, world, release_tag="v1.3.2", actor="carol")
    assert result.returncode == 1
    assert "production was approved by carol, who started this run" in result.stderr


def test_an_infrastructure_deploy_checks_the_starter_and_reads_no_release(
    workflows: dict[str, dict[str, Any]], gate_checkout: Path, tmp_path: Path
) -> None:
    world = approval_world(approvals(("production", "approved", "carol")))
    result, fakes = run_approval(workflows, gate_checkout, tmp_path, world, release_tag="", actor="carol")
    assert result.returncode == 1
    assert [call[1] for call in fakes.called("gh", "api")] == [f"repos/{REPOSITORY}/actions/runs/{RUN_ID}/approvals"]


def test_a_tag_that_is_not_a_release_tag_never_reaches_the_api(
    workflows: dict[str, dict[str, Any]], gate_checkout: Path, tmp_path: Path
) -> None:
    world = approval_world(approvals(("production", "approved", "bob")))
    result, fakes = run_approval(workflows, gate_checkout, tmp_path, world, release_tag="v1.4.0/../../../x")
    assert result.returncode == 1
    assert "is not v<semver>" in result.stderr
    assert not [call for call in fakes.called("gh", "api") if "releases" in call[1]]
    assert deploy_gate.RELEASE_TAG.pattern == worlds.images.RELEASE_TAG.pattern, "the tag deploy-production accepts"


def test_the_approval_check_runs_first_in_production_before_any_secret(workflows: dict[str, dict[str, Any]]) -> None:
    """Right after the checkout of main's scripts, before any step that reads an environment secret; only where the
    table asks for four eyes."""
    deploy = workflows["deploy.yml"]["jobs"]["deploy"]
    names = [step.get("name") or step.get("uses") for step in steps(deploy)]
    check = step_named(deploy, APPROVAL_STEP)
    assert names.index(APPROVAL_STEP) == 1
    first_secret = next(i for i, step in enumerate(steps(deploy)) if "secrets." in json.dumps(step))
    assert names.index(APPROVAL_STEP) < first_secret
    for name, rules in deploy_gate.ENVIRONMENTS.items():
        assert evaluate(check["if"], {"inputs": {"environment": name}}) is rules.four_eyes, name
    assert check["env"]["RELEASE_TAG"] == "${{ inputs.release-tag }}"
    assert check["env"]["ACTOR"] == "${{ github.actor }}"
    assert check["env"]["TRIGGERING_ACTOR"] == "${{ github.triggering_actor }}"
    release_tag = workflows["deploy.yml"]["on"]["workflow_call"]["inputs"]["release-tag"]
    assert release_tag == {
        "description": release_tag["description"],
        "type": "string",
        "required": False,
        "default": "",
    }
