"""The reusable deploy workflow and its three callers: staging after main's build, production on a release,
cluster and platform by hand. Stack ids are read from the app (main.build_app), never listed here."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.synth import Synth
from tests.workflows.gha_support import (
    GITHUB_DIR,
    evaluate,
    load_script,
    run_script,
    step_env,
    step_named,
    step_using,
    stub_command,
    triggers,
)
from todo_infra import settings
from todo_infra.app_secrets import APP_SECRET_KEYS, variable_name

require_tf_vars = load_script("require_tf_vars")

CALLERS = ("deploy-staging.yml", "deploy-production.yml", "deploy-infrastructure.yml")
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@pytest.fixture(scope="module")
def app_secret_keys() -> tuple[str, ...]:
    return APP_SECRET_KEYS


def tf_var(key: str) -> str:
    return "TF_VAR_" + variable_name(key)


@pytest.fixture(scope="module")
def deploy(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    job: dict[str, Any] = workflows["deploy.yml"]["jobs"]["deploy"]
    return job


def deploy_step(deploy: dict[str, Any]) -> dict[str, Any]:
    return step_named(deploy, "cdktf deploy")


def caller_job(workflows: dict[str, dict[str, Any]], file: str) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = [
        job for job in workflows[file]["jobs"].values() if job.get("uses") == "./.github/workflows/deploy.yml"
    ]
    assert len(jobs) == 1, file
    return jobs[0]


def deployed_stacks(workflows: dict[str, dict[str, Any]]) -> dict[str, str]:
    """stack -> GitHub environment, for every stack some workflow deploys."""
    found: dict[str, str] = {}
    for file in CALLERS:
        job = caller_job(workflows, file)
        stack = job["with"]["stack"]
        if stack == "${{ inputs.stack }}":
            options = workflows[file]["on"]["workflow_dispatch"]["inputs"]["stack"]["options"]
            found.update(dict.fromkeys(options, job["with"]["environment"]))
        else:
            found[stack] = job["with"]["environment"]
    return found


# --- the reusable workflow ----------------------------------------------------------------------------


def test_deploy_is_reusable_with_an_environment_input(workflows: dict[str, dict[str, Any]]) -> None:
    on = triggers(workflows["deploy.yml"])
    assert set(on) == {"workflow_call"}
    inputs = on["workflow_call"]["inputs"]
    assert inputs["environment"]["required"] is True and inputs["environment"]["type"] == "string"
    assert inputs["stack"]["required"] is True


def test_deploy_runs_in_the_given_environment_one_apply_per_stack_never_cancelled(deploy: dict[str, Any]) -> None:
    assert deploy["environment"] == "${{ inputs.environment }}"
    assert deploy["concurrency"]["group"] == "cdktf-deploy-${{ inputs.stack }}"
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert deploy["permissions"] == {"contents": "read"}


def test_deploy_bootstraps_the_project_and_its_terraform_then_deploys_one_stack(deploy: dict[str, Any]) -> None:
    runs = [step.get("run", "") for step in deploy["steps"]]
    order = [runs.index("python3 dev.py bootstrap"), runs.index("python3 dev.py synth")]
    assert order == sorted(order)
    script = deploy_step(deploy)["run"]
    assert 'python3 dev.py cdktf deploy "${STACK}" --auto-approve --ignore-missing-stack-dependencies' in script
    assert deploy_step(deploy)["env"]["STACK"] == "${{ inputs.stack }}"


def test_every_app_secret_reaches_terraform_from_its_github_secret(
    workflows: dict[str, dict[str, Any]], deploy: dict[str, Any], app_secret_keys: tuple[str, ...]
) -> None:
    env = deploy_step(deploy)["env"]
    declared = workflows["deploy.yml"]["on"]["workflow_call"]["secrets"]
    for key in app_secret_keys:
        assert env[tf_var(key)] == f"${{{{ secrets.{key} }}}}", key
        assert key in declared


def test_pull_secret_platform_secrets_provider_and_state_credentials_reach_the_deploy(deploy: dict[str, Any]) -> None:
    env = deploy_step(deploy)["env"]
    expected = {
        "TF_VAR_ghcr_username": "${{ secrets.GHCR_USERNAME }}",
        "TF_VAR_ghcr_token": "${{ secrets.GHCR_TOKEN }}",
        "TF_VAR_grafana_admin_password": "${{ secrets.GRAFANA_ADMIN_PASSWORD }}",
        "TF_VAR_alertmanager_slack_webhook_url": "${{ secrets.ALERTMANAGER_SLACK_WEBHOOK_URL }}",
        "TF_VAR_image_tag": "${{ inputs.image-tag }}",
        "DIGITALOCEAN_TOKEN": "${{ secrets.DIGITALOCEAN_TOKEN }}",
        "AWS_ACCESS_KEY_ID": "${{ secrets.SPACES_ACCESS_KEY_ID }}",
        "AWS_SECRET_ACCESS_KEY": "${{ secrets.SPACES_SECRET_ACCESS_KEY }}",
    }
    assert {name: env.get(name) for name in expected} == expected


def test_configuration_comes_from_repository_variables(workflows: dict[str, dict[str, Any]]) -> None:
    contract = set(settings.DEPLOY_REQUIRED)
    assert contract <= set(settings.ENV_OVERRIDES)
    for file, job_id in [("deploy.yml", "deploy"), ("cdktf-diff.yml", "synth")]:
        env = workflows[file]["jobs"][job_id]["env"]
        assert {name: env.get(name) for name in contract} == {n: f"${{{{ vars.{n} }}}}" for n in contract}


def test_callers_pass_only_secrets_the_deploy_declares(workflows: dict[str, dict[str, Any]]) -> None:
    declared = set(workflows["deploy.yml"]["on"]["workflow_call"]["secrets"])
    for file in CALLERS:
        passed = caller_job(workflows, file)["secrets"]
        assert set(passed) <= declared, file
        assert all(value == f"${{{{ secrets.{name} }}}}" for name, value in passed.items()), file


def test_app_deploys_pass_every_app_secret(
    workflows: dict[str, dict[str, Any]], app_secret_keys: tuple[str, ...]
) -> None:
    for file in ("deploy-staging.yml", "deploy-production.yml"):
        passed = set(caller_job(workflows, file)["secrets"])
        assert set(app_secret_keys) | {"GHCR_USERNAME", "GHCR_TOKEN", "DIGITALOCEAN_TOKEN"} <= passed, file


# --- the deploy step, run -----------------------------------------------------------------------------


@pytest.fixture
def deploy_workspace(tmp_path: Path) -> Path:
    """A checkout stand-in: the real .github, a dev.py that records its arguments (and, for `revisions`, prints a
    revision as the real one does, or refuses without a digest key), a synthesized stack."""
    work = tmp_path / "work"
    (work / "cdktf.out" / "stacks" / "app-staging").mkdir(parents=True)
    (work / ".github").symlink_to(GITHUB_DIR)
    recorder = (
        "import json, os, sys\n"
        "open('dev-calls.json', 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if sys.argv[1] == 'revisions':\n"
        "    if not os.environ.get('SECRETS_DIGEST_KEY'):\n"
        "        sys.exit('dev.py: SECRETS_DIGEST_KEY must be set')\n"
        "    print('export TF_VAR_app_secrets_revision=7')\n"
    )
    (work / "dev.py").write_text(recorder)
    stack = {
        "variable": {
            "database_url": {"sensitive": True, "ephemeral": True},
            "redis_password": {"default": ""},
            "image_tag": {"default": "main-latest"},
            "app_secrets_revision": {"type": "number"},
        }
    }
    (work / "cdktf.out" / "stacks" / "app-staging" / "cdk.tf.json").write_text(json.dumps(stack))
    return work


DIGEST_KEY = {"SECRETS_DIGEST_KEY": "k" * 32}


def dev_calls(work: Path) -> list[list[str]]:
    calls: list[list[str]] = [json.loads(line) for line in (work / "dev-calls.json").read_text().splitlines()]
    return calls


def deploy_context(*, secrets: dict[str, str], image_tag: str) -> dict[str, Any]:
    return {"inputs": {"stack": "app-staging", "environment": "staging", "image-tag": image_tag}, "secrets": secrets}


def test_deploy_step_deploys_when_every_needed_value_is_set(
    deploy: dict[str, Any], deploy_workspace: Path, tmp_path: Path
) -> None:
    step = deploy_step(deploy)
    env = step_env(
        step, deploy_context(secrets={"DATABASE_URL": "postgres://x", **DIGEST_KEY}, image_tag="sha-4b825dc")
    )
    result = run_script(step["run"], env=env, cwd=deploy_workspace, tmp_path=tmp_path)
    assert result.returncode == 0, result.text
    assert dev_calls(deploy_workspace) == [
        ["revisions", "app-staging"],
        ["cdktf", "deploy", "app-staging", "--auto-approve", "--ignore-missing-stack-dependencies", "--skip-synth"],
    ]


def test_deploy_step_stops_before_terraform_without_the_digest_key(
    deploy: dict[str, Any], deploy_workspace: Path, tmp_path: Path
) -> None:
    step = deploy_step(deploy)
    env = step_env(step, deploy_context(secrets={"DATABASE_URL": "postgres://x"}, image_tag="sha-4b825dc"))
    result = run_script(step["run"], env=env, cwd=deploy_workspace, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRETS_DIGEST_KEY must be set" in result.stderr
    assert dev_calls(deploy_workspace) == [["revisions", "app-staging"]]


@pytest.mark.parametrize(
    ("secrets", "image_tag", "missing", "hint"),
    [
        (DIGEST_KEY, "sha-4b825dc", "database_url", "set the secret DATABASE_URL in the GitHub environment 'staging'"),
        ({"DATABASE_URL": "postgres://x", **DIGEST_KEY}, "", "image_tag", "the workflow input image-tag"),
    ],
)
def test_deploy_step_refuses_an_empty_value_before_deploying(  # noqa: PLR0917 - fixtures and parameters
    deploy: dict[str, Any],
    deploy_workspace: Path,
    tmp_path: Path,
    secrets: dict[str, str],
    image_tag: str,
    missing: str,
    hint: str,
) -> None:
    step = deploy_step(deploy)
    env = step_env(step, deploy_context(secrets=secrets, image_tag=image_tag))
    result = run_script(step["run"], env=env, cwd=deploy_workspace, tmp_path=tmp_path)
    assert result.returncode == 1
    assert f"::error title=Missing value for {missing}::stack app-staging needs TF_VAR_{missing}" in result.stdout
    assert hint in result.stdout
    assert dev_calls(deploy_workspace) == [["revisions", "app-staging"]], "nothing deployed"


def test_require_tf_vars_reads_what_is_needed_from_the_stack() -> None:
    stack = {"variable": {"a": {}, "b": {"default": ""}, "image_tag": {"default": "main-latest"}}}
    assert require_tf_vars.missing_variables(stack, {}) == ["a"]
    assert require_tf_vars.missing_variables(stack, {"TF_VAR_a": ""}) == ["a"]
    assert require_tf_vars.missing_variables(stack, {"TF_VAR_a": "x"}) == []
    assert require_tf_vars.missing_variables(stack, {"TF_VAR_a": "x"}, also_required=("image_tag",)) == ["image_tag"]
    undeclared = {"variable": {"x": {"default": 1}}}
    assert require_tf_vars.missing_variables(undeclared, {}, also_required=("image_tag",)) == []


# --- staging ------------------------------------------------------------------------------------------


def test_staging_deploys_after_a_successful_build_of_main(workflows: dict[str, dict[str, Any]]) -> None:
    on = triggers(workflows["deploy-staging.yml"])
    assert set(on) == {"workflow_run"}
    assert on["workflow_run"]["workflows"] == [workflows["build.yml"]["name"]]
    assert on["workflow_run"]["types"] == ["completed"]
    assert on["workflow_run"]["branches"] == ["main"]
    gate = workflows["deploy-staging.yml"]["jobs"]["image-tag"]["if"]

    def run(conclusion: str, event: str, branch: str = "main", repo: str = "o/r") -> bool:
        payload = {
            "conclusion": conclusion,
            "event": event,
            "head_branch": branch,
            "head_repository": {"full_name": repo},
        }
        return bool(evaluate(gate, {"github": {"repository": "o/r", "event": {"workflow_run": payload}}}))

    assert run("success", "push")
    assert not run("failure", "push")
    assert not run("success", "pull_request")
    assert not run("success", "push", repo="fork/r")


def test_staging_deploys_app_staging_in_environment_staging_with_the_commit_image(
    workflows: dict[str, dict[str, Any]],
) -> None:
    job = caller_job(workflows, "deploy-staging.yml")
    assert job["with"]["environment"] == "staging"
    assert job["with"]["stack"] == "app-staging"
    assert job["with"]["image-tag"] == "${{ needs.image-tag.outputs.image_tag }}"
    assert job["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"


@pytest.mark.parametrize(("tip", "current"), [(SHA, "true"), ("f" * 40, "false")])
def test_staging_image_tag_is_sha_7_and_only_the_tip_of_main_deploys(
    workflows: dict[str, dict[str, Any]], tmp_path: Path, tip: str, current: str
) -> None:
    step = workflows["deploy-staging.yml"]["jobs"]["image-tag"]["steps"][0]
    stub_command(tmp_path / "bin", "gh", f'echo "{tip}"\n')
    env = step_env(step, {"github": {"repository": "o/r", "token": "t", "event": {"workflow_run": {"head_sha": SHA}}}})
    result = run_script(step["run"], env=env, cwd=tmp_path, tmp_path=tmp_path, path_prepend=tmp_path / "bin")
    assert result.returncode == 0, result.text
    assert result.outputs == {"image_tag": "sha-4b825dc", "current": current}
    deploy_if = workflows["deploy-staging.yml"]["jobs"]["deploy"]["if"]
    assert evaluate(deploy_if, {"needs": {"image-tag": {"outputs": result.outputs}}}) is (current == "true")


# --- production ---------------------------------------------------------------------------------------


def test_production_deploys_on_a_published_release(workflows: dict[str, dict[str, Any]]) -> None:
    on = triggers(workflows["deploy-production.yml"])
    assert on["release"]["types"] == ["published"]
    assert set(on) == {"release", "workflow_dispatch"}  # dispatch: redeploy an earlier release (rollback)


def test_production_uses_environment_production_and_app_production(workflows: dict[str, dict[str, Any]]) -> None:
    job = caller_job(workflows, "deploy-production.yml")
    assert job["with"]["environment"] == "production"
    assert job["with"]["stack"] == "app-production"
    assert job["needs"] == "images-exist"
    assert job["with"]["image-tag"] == "${{ needs.images-exist.outputs.image_tag }}"
    # The code deployed is the very commit whose images were checked, not whatever the tag points to later.
    assert job["with"]["ref"] == "${{ needs.images-exist.outputs.commit }}"
    check = workflows["deploy-production.yml"]["jobs"]["images-exist"]
    assert check["outputs"] == {
        "commit": "${{ steps.check.outputs.commit }}",
        "image_tag": "${{ steps.check.outputs.image_tag }}",
    }
    assert step_named(check, "Refuse a release")["id"] == "check"
    # The release tag and main are resolved from the checkout: it must hold every tag and branch.
    assert step_using(check, "actions/checkout")["with"]["fetch-depth"] == 0


def git(work: Path, *args: str) -> str:
    identity = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t"}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), **identity}
    env["GIT_COMMITTER_EMAIL"] = "t@example.org"
    done = subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


@pytest.fixture
def release_checkout(tmp_path: Path) -> dict[str, str]:
    """A checkout as `fetch-depth: 0` leaves it: main with two commits, a branch commit, and release tags.

    v1.4.0 is annotated (its own object id differs from its commit's), v1.3.2 lightweight on an older
    commit of main, v9.9.9 on a commit that never reached main.
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
    git(work, "update-ref", "refs/remotes/origin/main", release)
    git(work, "checkout", "--quiet", "-b", "feature")
    git(work, "commit", "--quiet", "--allow-empty", "-m", "unmerged")
    unmerged = git(work, "rev-parse", "HEAD")
    git(work, "tag", "v9.9.9")
    git(work, "checkout", "--quiet", "--detach", "v1.4.0")
    (work / ".github").symlink_to(GITHUB_DIR)
    assert git(work, "rev-parse", "v1.4.0") != release, "v1.4.0 must be an annotated tag"
    return {"work": str(work), "older": older, "release": release, "unmerged": unmerged}


def run_image_check(
    workflows: dict[str, dict[str, Any]],
    tmp_path: Path,
    *,
    tag: str,
    absent: str = "",
    inputs: dict[str, str] | None = None,
) -> Any:
    job = workflows["deploy-production.yml"]["jobs"]["images-exist"]
    assert job["permissions"] == {"contents": "read", "packages": "read"}
    step = step_named(job, "Refuse a release")
    # A docker that knows every image except those whose reference contains `absent`; it logs each lookup.
    stub_command(
        tmp_path / "bin",
        "docker",
        f'[ "$1 $2" = "manifest inspect" ] || exit 9\necho "$3" >> "{tmp_path}/inspected"\n'
        f'if [ -n "{absent}" ] && [[ "$3" == *"{absent}"* ]]; then exit 1; fi\necho "{{}}"\n',
    )
    env = step_env(
        step,
        {
            "github": {"repository_owner": "Example-Org", "event": {"release": {"tag_name": tag}}},
            "inputs": inputs or {},
        },
    )
    work = tmp_path / "work"
    return run_script(step["run"], env=env, cwd=work, tmp_path=tmp_path, path_prepend=tmp_path / "bin")


def inspected(tmp_path: Path) -> list[str]:
    path = tmp_path / "inspected"
    return path.read_text().split() if path.exists() else []


def test_production_deploys_the_sha_images_staging_ran_for_the_release_commit(
    workflows: dict[str, dict[str, Any]], tmp_path: Path, release_checkout: dict[str, str]
) -> None:
    result = run_image_check(workflows, tmp_path, tag="v1.4.0")
    assert result.returncode == 0, result.text
    commit = release_checkout["release"]
    assert result.outputs == {"commit": commit, "image_tag": f"sha-{commit[:7]}"}
    assert result.stdout.count("found ghcr.io/example-org/hackathon-todo/") == 5
    # Only the images of the commit are looked up, never the v<semver> rebuilds of the tag build.
    assert {ref.rsplit(":", 1)[1] for ref in inspected(tmp_path)} == {f"sha-{commit[:7]}"}
    assert len(inspected(tmp_path)) == 5


def test_production_refuses_a_release_commit_that_was_never_built_on_main(
    workflows: dict[str, dict[str, Any]], tmp_path: Path, release_checkout: dict[str, str]
) -> None:
    result = run_image_check(workflows, tmp_path, tag="v1.4.0", absent="sse-gateway")
    short = release_checkout["release"][:7]
    assert result.returncode == 1
    assert result.outputs == {}
    assert "::error title=Images of v1.4.0 do not exist::" in result.stdout
    assert f"ghcr.io/example-org/hackathon-todo/sse-gateway:sha-{short} not found" in result.stdout
    assert "the release commit was never built on main" in result.stdout
    assert "backend:" not in result.stdout.split("::error", 1)[1], "only the missing images are named"


def test_production_refuses_a_release_whose_commit_is_not_on_main(
    workflows: dict[str, dict[str, Any]], tmp_path: Path, release_checkout: dict[str, str]
) -> None:
    result = run_image_check(workflows, tmp_path, tag="v9.9.9")
    assert result.returncode == 1
    assert result.outputs == {}
    assert "::error title=v9.9.9 is not on main::" in result.stdout
    assert f"commit {release_checkout['unmerged'][:7]} is not on main" in result.stdout
    assert inspected(tmp_path) == []


def test_production_refuses_a_tag_that_does_not_exist(
    workflows: dict[str, dict[str, Any]], tmp_path: Path, release_checkout: dict[str, str]
) -> None:
    result = run_image_check(workflows, tmp_path, tag="v2.0.0")
    assert result.returncode == 1
    assert "::error title=No tag v2.0.0::" in result.stdout
    assert result.outputs == {}


def test_production_refuses_a_release_tag_that_is_not_semver(
    workflows: dict[str, dict[str, Any]], tmp_path: Path, release_checkout: dict[str, str]
) -> None:
    for tag in ["release-2026", "main", "v1.4.0^{commit}"]:
        result = run_image_check(workflows, tmp_path, tag=tag)
        assert result.returncode != 0, tag
        assert f"{tag!r} is not v<semver>" in result.stderr
        assert result.outputs == {}


def test_rollback_by_hand_deploys_the_commit_images_of_the_given_release(
    workflows: dict[str, dict[str, Any]], tmp_path: Path, release_checkout: dict[str, str]
) -> None:
    result = run_image_check(workflows, tmp_path, tag="", inputs={"release-tag": "v1.3.2"})
    assert result.returncode == 0, result.text
    older = release_checkout["older"]
    assert result.outputs == {"commit": older, "image_tag": f"sha-{older[:7]}"}


def test_redeploy_by_hand_takes_the_given_tag_over_the_event(workflows: dict[str, dict[str, Any]]) -> None:
    step = step_named(workflows["deploy-production.yml"]["jobs"]["images-exist"], "Refuse a release")
    dispatched = step_env(step, {"inputs": {"release-tag": "v1.3.2"}, "github": {"event": {}}})
    released = step_env(step, {"inputs": {}, "github": {"event": {"release": {"tag_name": "v1.4.0"}}}})
    assert (dispatched["RELEASE_TAG"], released["RELEASE_TAG"]) == ("v1.3.2", "v1.4.0")


# --- cluster and platform, and the stacks of the app --------------------------------------------------


def test_cluster_and_platform_deploy_only_by_hand(workflows: dict[str, dict[str, Any]]) -> None:
    on = triggers(workflows["deploy-infrastructure.yml"])
    assert set(on) == {"workflow_dispatch"}
    stack_input = on["workflow_dispatch"]["inputs"]["stack"]
    assert stack_input["type"] == "choice"
    automatic = {caller_job(workflows, f)["with"]["stack"] for f in ("deploy-staging.yml", "deploy-production.yml")}
    assert not set(stack_input["options"]) & automatic


def test_deploy_workflows_name_exactly_the_stacks_of_the_app(
    workflows: dict[str, dict[str, Any]], app_stack_ids: list[str]
) -> None:
    assert set(deployed_stacks(workflows)) == set(app_stack_ids)


def test_shared_stacks_and_production_wait_for_production_reviewers(workflows: dict[str, dict[str, Any]]) -> None:
    environments = deployed_stacks(workflows)
    assert environments.pop("app-staging") == "staging"
    assert set(environments.values()) == {"production"}


def test_the_diff_matrix_plans_exactly_the_stacks_of_the_app_in_their_deploy_environments(
    workflows: dict[str, dict[str, Any]], app_stack_ids: list[str]
) -> None:
    plan = workflows["cdktf-diff.yml"]["jobs"]["plan"]
    matrix = {entry["stack"]: entry["environment"] for entry in plan["strategy"]["matrix"]["include"]}
    assert set(matrix) == set(app_stack_ids)
    assert matrix == deployed_stacks(workflows)
    assert plan["environment"] == "${{ matrix.environment }}-plan"


def test_app_stacks_declare_every_variable_the_workflows_feed(
    deploy: dict[str, Any], app_secret_keys: tuple[str, ...], synth: Synth
) -> None:
    """The TF_VAR_ names of the deploy step are real variables of the synthesized stacks (no typo feeds nothing)."""
    declared = {name for stack in synth.stacks.values() for name in stack.get("variable", {})}
    fed = {name.removeprefix("TF_VAR_") for name in deploy_step(deploy)["env"] if name.startswith("TF_VAR_")}
    assert fed <= declared, f"fed but not declared by any stack: {sorted(fed - declared)}"
    assert {tf_var(k).removeprefix("TF_VAR_") for k in app_secret_keys} <= declared
