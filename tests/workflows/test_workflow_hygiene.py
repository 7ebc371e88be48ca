"""Hygiene every workflow keeps: least privilege, pinned actions, bounded jobs, no untrusted interpolation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.workflows.gha_support import GITHUB_DIR, REPO, WORKFLOWS_DIR, all_jobs, load_script, step_using, steps
from todo_infra import yamlload
from todo_infra.settings import DEPLOY_REQUIRED, REQUIRE_ENV

USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<comment>.*)$")
PINNED = re.compile(r"^(?P<action>[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@(?P<sha>[0-9a-f]{40})$")
VERSION_COMMENT = re.compile(r"^\s+# (?P<version>v\d+\.\d+\.\d+)$")
#: The only write grants of the pipeline: (workflow, job, scope).
WRITE_GRANTS = {
    ("build.yml", "images", "packages"),
    ("build.yml", "images", "id-token"),
    ("build.yml", "images", "attestations"),
    ("cdktf-diff.yml", "comment", "pull-requests"),
    ("release.yml", "deploy-production", "actions"),
    ("deploy-production.yml", "stop-releases", "actions"),
    ("drift.yml", "issues", "issues"),
    # The regenerated provider locks go to main only through a reviewed pull request (push to a branch, open it).
    ("provider-locks.yml", "lock", "contents"),
    ("provider-locks.yml", "lock", "pull-requests"),
}
#: A step that runs one of the repository's shell scripts runs its commands too.
SCRIPT_CALL = re.compile(r"\bbash (\.github/scripts/[\w.-]+\.sh)\b")


def uses_lines() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(WORKFLOWS_DIR.glob("*.y*ml")):
        for line in path.read_text().splitlines():
            match = USES_LINE.match(line)
            if match:
                found.append((path.name, match.group("ref"), match.group("comment")))
    return found


def test_top_level_permissions_are_empty(workflows: dict[str, dict[str, Any]]) -> None:
    for name, workflow in workflows.items():
        assert workflow.get("permissions") == {}, name


def test_every_job_grants_its_own_permissions(workflows: dict[str, dict[str, Any]]) -> None:
    for name, job_id, job in all_jobs(workflows):
        assert isinstance(job.get("permissions"), dict), f"{name}:{job_id} has no explicit permissions"
        for scope, level in job["permissions"].items():
            assert level in ("read", "write", "none"), f"{name}:{job_id} {scope}={level}"


def test_write_permissions_only_where_images_are_pushed_plans_commented_deploys_started_or_drift_reported(
    workflows: dict[str, dict[str, Any]],
) -> None:
    grants = {
        (name, job_id, scope)
        for name, job_id, job in all_jobs(workflows)
        for scope, level in job["permissions"].items()
        if level == "write"
    }
    assert grants == WRITE_GRANTS


def test_every_job_has_a_timeout(workflows: dict[str, dict[str, Any]]) -> None:
    """Jobs that call a reusable workflow cannot carry one (GitHub refuses it); the called job has it."""
    for name, job_id, job in all_jobs(workflows):
        if "uses" in job:
            assert "timeout-minutes" not in job
            continue
        timeout = job.get("timeout-minutes")
        assert isinstance(timeout, int) and 0 < timeout <= 60, f"{name}:{job_id} timeout-minutes={timeout}"


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    lines = uses_lines()
    assert lines
    pins: dict[str, set[tuple[str, str]]] = {}
    for file, ref, comment in lines:
        if ref.startswith("./"):
            assert re.fullmatch(r"\./\.github/workflows/[a-z-]+\.yml", ref), f"{file}: {ref}"
            assert (REPO / ref).is_file(), f"{file}: {ref} does not exist"
            continue
        pinned = PINNED.match(ref)
        assert pinned, f"{file}: `uses: {ref}` is not pinned to a full commit SHA"
        version = VERSION_COMMENT.match(comment)
        assert version, f"{file}: `uses: {ref}` lacks a `# vX.Y.Z` comment"
        pins.setdefault(pinned.group("action"), set()).add((pinned.group("sha"), version.group("version")))
    # One action, one pin across the repository: upgrades happen everywhere at once.
    assert {action: len(found) for action, found in pins.items()} == dict.fromkeys(pins, 1), pins


def test_checkout_never_persists_credentials(workflows: dict[str, dict[str, Any]]) -> None:
    checkouts = 0
    for name, job_id, job in all_jobs(workflows):
        for step in steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                checkouts += 1
                assert step.get("with", {}).get("persist-credentials") is False, f"{name}:{job_id}"
    assert checkouts >= 5


def test_no_expression_is_interpolated_into_a_script(workflows: dict[str, dict[str, Any]]) -> None:
    """Every value reaches `run:` and github-script through `env:`; nothing is pasted into code.

    Stricter than forbidding only github.event.* and head_ref: no `${{` at all in code.
    """
    scripts = 0
    for name, job_id, job in all_jobs(workflows):
        for step in steps(job):
            code = step.get("run") or (step.get("with") or {}).get("script")
            if code is None:
                continue
            scripts += 1
            assert "${{" not in code, f"{name}:{job_id} step {step.get('name') or step.get('uses')}"
    assert scripts >= 8


@pytest.mark.parametrize("dangerous", ["github.event.", "github.head_ref", "inputs."])
def test_no_untrusted_context_appears_in_a_run_script_even_as_text(
    workflows: dict[str, dict[str, Any]], dangerous: str
) -> None:
    for name, job_id, job in all_jobs(workflows):
        for step in steps(job):
            assert dangerous not in str(step.get("run", "")), f"{name}:{job_id}"


def test_secrets_are_passed_by_name_never_inherited(workflows: dict[str, dict[str, Any]]) -> None:
    callers = [(name, job) for name, _, job in all_jobs(workflows) if "uses" in job]
    assert callers
    for name, job in callers:
        assert isinstance(job.get("secrets"), dict), f"{name}: secrets must be named, not inherited"


def test_no_pull_request_target_trigger(workflows: dict[str, dict[str, Any]]) -> None:
    for name, workflow in workflows.items():
        assert "pull_request_target" not in workflow["on"], name


def test_tool_versions_are_pinned_once(workflows: dict[str, dict[str, Any]]) -> None:
    """Python's version is the workflows' one env value; Terraform's is toolchain/versions.json alone, which dev.py
    reads (no setup-terraform action, no TERRAFORM_VERSION in any workflow)."""
    for name, job_id, job in all_jobs(workflows):
        for step in steps(job):
            assert not str(step.get("uses", "")).startswith("hashicorp/setup-terraform@"), f"{name}:{job_id}"
            if str(step.get("uses", "")).startswith("actions/setup-python@"):
                assert step["with"]["python-version"] == "${{ env.PYTHON_VERSION }}"
                assert workflows[name]["env"]["PYTHON_VERSION"] == "3.11"
    for name in workflows:
        assert "TERRAFORM_VERSION" not in (WORKFLOWS_DIR / name).read_text(), name


def expanded_run(step: dict[str, Any]) -> str:
    """A step's script with the text of every repository shell script it runs appended."""
    run = str(step.get("run", ""))
    return run + "".join("\n" + (REPO / path).read_text() for path in SCRIPT_CALL.findall(run))


def test_every_job_running_terraform_gets_the_pinned_one_from_dev_py(workflows: dict[str, dict[str, Any]]) -> None:
    users = 0
    for name, job_id, job in all_jobs(workflows):
        runs = [expanded_run(step) for step in steps(job)]
        calls_terraform = any(re.search(r"^\s*terraform\s", run, flags=re.MULTILINE) for run in runs)
        deploys = any("dev.py cdktf" in run for run in runs)
        if calls_terraform:
            users += 1
            provision = runs.index('python3 dev.py path terraform >> "${GITHUB_PATH}"')
            first_use = next(i for i, run in enumerate(runs) if re.search(r"^\s*terraform\s", run, flags=re.MULTILINE))
            assert provision < first_use, f"{name}:{job_id}"
        if deploys:
            users += 1
            assert "python3 dev.py bootstrap" in runs, f"{name}:{job_id}"
    assert users >= 3  # the pull-request plans, the drift check, the deploy


def test_jobs_that_run_this_repo_set_up_python_first(workflows: dict[str, dict[str, Any]]) -> None:
    """dev.py needs the pinned Python 3.11, not whatever python3 the runner image has."""
    for name, job_id, job in all_jobs(workflows):
        runs = [str(s.get("run", "")) for s in steps(job)]
        if any("dev.py" in run for run in runs):
            setup = step_using(job, "actions/setup-python")
            first_dev = next(i for i, s in enumerate(steps(job)) if "dev.py" in str(s.get("run", "")))
            assert steps(job).index(setup) < first_dev, f"{name}:{job_id}"


def test_jobs_with_the_repository_variables_never_fall_back_to_the_example_defaults(
    workflows: dict[str, dict[str, Any]],
) -> None:
    """Every job that passes the TODO_* repository variables sets TODO_REQUIRE_CONFIGURATION, and passes exactly the
    ones a deploy needs (todo_infra.settings.DEPLOY_REQUIRED): a missing one stops the synth, naming it."""
    jobs = 0
    for name, job_id, job in all_jobs(workflows):
        env = job.get("env") or {}
        passed = {key for key, value in env.items() if str(value) == f"${{{{ vars.{key} }}}}"}
        if not passed:
            continue
        jobs += 1
        assert passed == set(DEPLOY_REQUIRED), f"{name}:{job_id}"
        assert env.get(REQUIRE_ENV) == "true", f"{name}:{job_id}"
    assert jobs >= 2


def concurrency_blocks(workflows: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    found = [(name, workflow["concurrency"]) for name, workflow in workflows.items() if "concurrency" in workflow]
    found += [
        (f"{name}:{job_id}", job["concurrency"]) for name, job_id, job in all_jobs(workflows) if "concurrency" in job
    ]
    return found


def test_no_queue_of_real_work_drops_a_waiting_run(workflows: dict[str, dict[str, Any]]) -> None:
    """GitHub keeps one pending run per concurrency group unless `queue: max`: every group that does not cancel
    superseded work (deploys, releases, rollbacks, drift checks) keeps all that wait. Only pull-request runs, which a
    newer push supersedes, are cancelled."""
    blocks = concurrency_blocks(workflows)
    assert len(blocks) >= 6
    for where, block in blocks:
        if block["cancel-in-progress"] is False:
            assert block.get("queue") == "max", where
        else:
            assert "queue" not in block, f"{where}: queue: max cannot be combined with cancel-in-progress"
            assert "pull_request" in str(block["cancel-in-progress"]) or block["cancel-in-progress"] is True, where


# --- the documented settings (docs/workflows.md) are the ones the workflows need -----------------------------


def documented_settings() -> str:
    """The section "GitHub settings they need" of docs/workflows.md, up to the next section of its level or above."""
    text = (REPO / "docs" / "workflows.md").read_text()
    return text.split("\n## GitHub settings they need\n", 1)[1].split("\n## ", 1)[0]


def environment_entries(settings: str) -> dict[str, str]:
    """environment -> its bullet in the documented settings list (one bullet may name two environments)."""
    entries: dict[str, str] = {}
    for bullet in settings.split("\n- ")[1:]:
        head = bullet.split(":", 1)[0]
        if head.startswith("**Environment"):
            for name in re.findall(r"`([a-z-]+)`", head):
                entries[name] = bullet
    return entries


def used_environments(workflows: dict[str, dict[str, Any]]) -> set[str]:
    """Every environment a job names, with the expressions resolved from the callers and the plan matrix."""
    found = set()
    for _, _, job in all_jobs(workflows):
        environment = job.get("environment") or (job.get("with") or {}).get("environment")
        if environment and "${{" not in environment:
            found.add(environment)
    plan = workflows["cdktf-diff.yml"]["jobs"]["plan"]
    found |= {f"{entry['environment']}-plan" for entry in plan["strategy"]["matrix"]["include"]}
    return found


def settings_problems(settings: str, used: set[str]) -> list[str]:
    """What the documented settings list misses: an environment the workflows use, or a protection the gate enforces."""
    gate = load_script("deploy_gate")
    entries = environment_entries(settings)
    problems = [f"environment {name} is not listed" for name in sorted(used - set(entries))]
    problems += [f"environment {name} is listed but unused" for name in sorted(set(entries) - used)]
    required: dict[str, list[str]] = {name: [] for name in gate.ENVIRONMENTS}
    for name, rules in gate.ENVIRONMENTS.items():
        if rules.main_only:
            required[name] += ["the branch `main` only"]
        if rules.reviewed:
            required[name] += ["required reviewers", "*Prevent self-review* on", "*Allow administrators to bypass* off"]
    for name, settings_needed in required.items():
        problems += [f"{name}: no '{text}'" for text in settings_needed if text not in entries.get(name, "")]
    return problems


def test_the_docs_list_every_environment_with_the_protection_the_gate_enforces(
    workflows: dict[str, dict[str, Any]],
) -> None:
    used = used_environments(workflows)
    assert used == {"staging", "production", "staging-plan", "production-plan", "drift"}
    assert settings_problems(documented_settings(), used) == []


def test_a_settings_list_missing_a_protection_or_an_environment_is_caught(
    workflows: dict[str, dict[str, Any]],
) -> None:
    used = used_environments(workflows)
    weakened = documented_settings().replace("*Prevent self-review* on;", "", 1)
    assert settings_problems(weakened, used) == ["production: no '*Prevent self-review* on'"]
    plans_weakened = documented_settings().replace(
        "DigitalOcean token below); *Prevent self-review* on;", "DigitalOcean token below);"
    )
    assert settings_problems(plans_weakened, used) == [
        "staging-plan: no '*Prevent self-review* on'",
        "production-plan: no '*Prevent self-review* on'",
    ]
    without_drift = documented_settings().replace("**Environment `drift`**", "**Nightly**")
    assert settings_problems(without_drift, used) == [
        "environment drift is not listed",
        "drift: no 'the branch `main` only'",
        "drift: no 'required reviewers'",
        "drift: no '*Prevent self-review* on'",
        "drift: no '*Allow administrators to bypass* off'",
    ]


def test_the_docs_list_every_secret_and_variable_the_workflows_read() -> None:
    config = yamlload.load((GITHUB_DIR / "actionlint.yaml").read_text())
    settings = documented_settings()
    for name in [*config["config-secrets"], *config["config-variables"]]:
        assert f"`{name}`" in settings, name
