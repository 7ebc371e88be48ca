"""The reusable deploy workflow (gate, then the deploy behind the environment) and staging's deploy after main's build.
Stack ids are read from the app (main.build_app), never listed here. GitHub, the registry and the attestation
service are faked (fake_cli.py); every `run:` step is executed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.synth import Synth
from tests.workflows import worlds
from tests.workflows.gha_support import (
    GITHUB_DIR,
    REPO,
    Fakes,
    StepResult,
    evaluate,
    install_fakes,
    load_script,
    run_script,
    step_env,
    step_named,
    steps,
    triggers,
)
from tests.workflows.worlds import (
    MAIN,
    REPOSITORY,
    SERVICES,
    build_run,
    build_runs,
    built,
    environments,
    world,
)
from todo_infra import settings
from todo_infra.app_secrets import APP_SECRET_KEYS, DAPR_APP_TOKEN_SEED_VARIABLE, variable_name
from todo_infra.spaces_grants import DRIFT_ENVIRONMENT, PLAN_SUFFIX, deploying_environment

require_tf_vars = load_script("require_tf_vars")
deploy_gate = load_script("deploy_gate")

CALLERS = ("deploy-staging.yml", "deploy-production.yml", "deploy-infrastructure.yml")
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
NEWER = "9fceb02d0ae598e95dc970b74767f19372d61af8"
OLDER = "1111111111111111111111111111111111111111"
#: Another commit with the same 7-digit prefix as SHA.
SAME_PREFIX = "4b825dc0000000000000000000000000000000ff"
PROVENANCE = worlds.images.PREDICATES["provenance"]


@pytest.fixture(scope="module")
def app_secret_keys() -> tuple[str, ...]:
    return APP_SECRET_KEYS


def tf_var(key: str) -> str:
    return "TF_VAR_" + variable_name(key)


@pytest.fixture(scope="module")
def deploy(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    job: dict[str, Any] = workflows["deploy.yml"]["jobs"]["deploy"]
    return job


@pytest.fixture(scope="module")
def gate(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    job: dict[str, Any] = workflows["deploy.yml"]["jobs"]["gate"]
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


def github(event: str, *, workflow: str, ref: str = MAIN, sha: str = SHA) -> dict[str, Any]:
    """The `github` context of a run of `workflow` (github.workflow_ref is the caller's in a reusable workflow)."""
    return {
        "event_name": event,
        "ref": ref,
        "sha": sha,
        "repository": REPOSITORY,
        "repository_owner": REPOSITORY.split("/", 1)[0],
        "workflow_ref": f"{REPOSITORY}/.github/workflows/{workflow}@{ref}",
        "token": "ghs_fake",
        "actor": "someone",
    }


def gate_context(
    environment_name: str, stack: str, *, event: str, workflow: str, ref: str = MAIN, **inputs: Any
) -> dict[str, Any]:
    return {
        "github": github(event, workflow=workflow, ref=ref),
        "inputs": {"environment": environment_name, "stack": stack, "commit": "", "newest-main-build": False} | inputs,
        "vars": {"TODO_GHCR_OWNER": worlds.OWNER},
        "secrets": {"GITHUB_TOKEN": "ghs_fake"},
        "steps": {},
    }


def run_gate_step(
    gate: dict[str, Any], name: str, context: dict[str, Any], tmp_path: Path, fakes_world: dict[str, Any]
) -> tuple[StepResult, Fakes]:
    """Run one step of the gate against a faked GitHub; the result and what the fakes were asked."""
    step = step_named(gate, name)
    fakes = install_fakes(tmp_path / "fakes", fakes_world)
    result = run_script(
        step["run"], env=step_env(step, context), cwd=REPO, tmp_path=tmp_path, path_prepend=fakes.bin_dir
    )
    return result, fakes


# --- the reusable workflow ----------------------------------------------------------------------------


def test_deploy_is_reusable_with_environment_stack_and_commit_inputs(workflows: dict[str, dict[str, Any]]) -> None:
    on = triggers(workflows["deploy.yml"])
    assert set(on) == {"workflow_call"}
    inputs = on["workflow_call"]["inputs"]
    assert inputs["environment"]["required"] is True and inputs["environment"]["type"] == "string"
    assert inputs["stack"]["required"] is True
    assert inputs["commit"]["default"] == ""
    assert inputs["newest-main-build"]["type"] == "boolean" and inputs["newest-main-build"]["default"] is False


def test_the_gate_holds_no_secret_and_runs_before_the_environment(gate: dict[str, Any], deploy: dict[str, Any]) -> None:
    """Refusals happen before a reviewer is asked and before any environment secret exists in a job."""
    assert "environment" not in gate
    assert not [name for name in json.dumps(gate).split("secrets.")[1:] if not name.startswith("GITHUB_TOKEN")]
    assert gate["permissions"] == {"contents": "read", "actions": "read", "packages": "read", "attestations": "read"}
    assert deploy["needs"] == "gate"
    assert "if" not in deploy, "a failed gate must skip the deploy (no always())"


def test_deploy_runs_in_the_given_environment_one_apply_per_stack_never_cancelled_never_dropped(
    deploy: dict[str, Any],
) -> None:
    assert deploy["environment"] == "${{ inputs.environment }}"
    assert deploy["concurrency"] == {
        "group": "cdktf-deploy-${{ inputs.stack }}",
        "cancel-in-progress": False,
        "queue": "max",
    }
    assert deploy["permissions"] == {"contents": "read", "actions": "read"}


def test_deploy_bootstraps_the_project_and_its_terraform_then_deploys_one_stack(deploy: dict[str, Any]) -> None:
    runs = [step.get("run", "") for step in deploy["steps"]]
    order = [runs.index("python3 dev.py bootstrap"), runs.index("python3 dev.py synth")]
    assert order == sorted(order)
    script = deploy_step(deploy)["run"]
    assert 'python3 dev.py cdktf deploy "${STACK}" --auto-approve --ignore-missing-stack-dependencies' in script
    assert deploy_step(deploy)["env"]["STACK"] == "${{ inputs.stack }}"


def test_the_deploy_checks_out_the_gate_s_commit_and_its_scripts_from_main(deploy: dict[str, Any]) -> None:
    trusted, deployed = [s for s in steps(deploy) if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert trusted["with"]["path"] == "gate" and "ref" not in trusted["with"], "this workflow's own commit of main"
    assert deployed["with"]["ref"] == "${{ needs.gate.outputs.commit }}"
    assert "gate/.github/scripts/deploy_gate.py" in step_named(deploy, "Still the commit to deploy?")["run"]


def test_every_app_secret_reaches_terraform_from_its_github_secret(
    workflows: dict[str, dict[str, Any]], deploy: dict[str, Any], app_secret_keys: tuple[str, ...]
) -> None:
    env = deploy_step(deploy)["env"]
    declared = workflows["deploy.yml"]["on"]["workflow_call"]["secrets"]
    for key in app_secret_keys:
        assert env[tf_var(key)] == f"${{{{ secrets.{key} }}}}", key
        assert key in declared


def test_verified_images_pull_secret_platform_secrets_and_credentials_reach_the_deploy(deploy: dict[str, Any]) -> None:
    env = deploy_step(deploy)["env"]
    expected = {
        "TF_VAR_ghcr_username": "${{ secrets.GHCR_USERNAME }}",
        "TF_VAR_ghcr_token": "${{ secrets.GHCR_TOKEN }}",
        "TF_VAR_grafana_admin_password": "${{ secrets.GRAFANA_ADMIN_PASSWORD }}",
        # the seed of the Dapr app tokens: ephemeral in Terraform, written only through data_wo
        f"TF_VAR_{DAPR_APP_TOKEN_SEED_VARIABLE}": "${{ secrets.DAPR_APP_TOKEN_SEED }}",
        "TF_VAR_alertmanager_slack_webhook_url": "${{ secrets.ALERTMANAGER_SLACK_WEBHOOK_URL }}",
        "TF_VAR_image_tag": "${{ needs.gate.outputs.image_tag }}",
        "TF_VAR_image_digests": "${{ needs.gate.outputs.image_digests }}",
        "DIGITALOCEAN_TOKEN": "${{ !startsWith(inputs.stack, 'app-') && secrets.DIGITALOCEAN_TOKEN || '' }}",
        "TF_VAR_kube_endpoint": "${{ startsWith(inputs.stack, 'app-') && secrets.KUBE_ENDPOINT || '' }}",
        "TF_VAR_kube_ca_certificate": "${{ startsWith(inputs.stack, 'app-') && secrets.KUBE_CA_CERTIFICATE || '' }}",
        "TF_VAR_kube_token": "${{ startsWith(inputs.stack, 'app-') && secrets.KUBE_TOKEN || '' }}",
        "AWS_ACCESS_KEY_ID": "${{ secrets.SPACES_ACCESS_KEY_ID }}",
        "AWS_SECRET_ACCESS_KEY": "${{ secrets.SPACES_SECRET_ACCESS_KEY }}",
    }
    assert {name: env.get(name) for name in expected} == expected


#: An environment that holds everything: what each stack receives is decided by the workflow, not by what is there.
EVERY_CREDENTIAL = {
    "DIGITALOCEAN_TOKEN": "dop_v1_cluster-admin-in-effect",
    "KUBE_ENDPOINT": "https://cluster.example:6443",
    "KUBE_CA_CERTIFICATE": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "KUBE_TOKEN": "eyJhbGciOiJSUzI1NiJ9.deployer",
    "SPACES_ACCESS_KEY_ID": "DO00SPACESKEYID",
    "SPACES_SECRET_ACCESS_KEY": "spaces-secret-key-value",
}
KUBE_VARIABLES = {
    "kube_endpoint": "KUBE_ENDPOINT",
    "kube_ca_certificate": "KUBE_CA_CERTIFICATE",
    "kube_token": "KUBE_TOKEN",
}


@pytest.mark.parametrize(
    ("stack", "digitalocean", "kube"),
    [
        ("app-staging", False, True),
        ("app-production", False, True),
        ("cluster", True, False),
        ("platform", True, False),
    ],
)
def test_each_stack_receives_only_its_own_kind_of_credential(
    deploy: dict[str, Any], stack: str, digitalocean: bool, kube: bool
) -> None:
    """Seeded: the environment holds a DigitalOcean token and the ServiceAccount alike. An app stack gets the
    ServiceAccount and an empty DIGITALOCEAN_TOKEN (DOKS turns any DigitalOcean token into cluster-admin); cluster and
    platform get the token and no ServiceAccount."""
    env = step_env(deploy_step(deploy), {"inputs": {"stack": stack}, "secrets": EVERY_CREDENTIAL, "needs": {}})
    assert env["DIGITALOCEAN_TOKEN"] == (EVERY_CREDENTIAL["DIGITALOCEAN_TOKEN"] if digitalocean else "")
    for variable, secret in KUBE_VARIABLES.items():
        assert env[f"TF_VAR_{variable}"] == (EVERY_CREDENTIAL[secret] if kube else ""), variable
    assert env["AWS_ACCESS_KEY_ID"] == EVERY_CREDENTIAL["SPACES_ACCESS_KEY_ID"]
    assert require_tf_vars.stack_kind(stack) == ("app" if kube else "infrastructure")


def test_no_step_of_the_deploy_job_hands_the_digitalocean_token_to_an_app_stack(deploy: dict[str, Any]) -> None:
    """The deploy step is the only one whose environment carries the token, and only behind the app-stack test; the
    staging check reads whether the token is set, never its value."""
    for step in steps(deploy):
        for name, value in (step.get("env") or {}).items():
            if "secrets.DIGITALOCEAN_TOKEN" in str(value):
                assert (step["name"], name) in {
                    (deploy_step(deploy)["name"], "DIGITALOCEAN_TOKEN"),
                    ("Refuse an environment that holds a secret it must not", "HOLDS_DIGITALOCEAN_TOKEN"),
                }, (step.get("name"), name)
    held = step_named(deploy, "Refuse an environment that holds a secret it must not")["env"]
    assert held["HOLDS_DIGITALOCEAN_TOKEN"] == "${{ secrets.DIGITALOCEAN_TOKEN != '' }}"


def test_configuration_comes_from_repository_variables(workflows: dict[str, dict[str, Any]]) -> None:
    contract = set(settings.DEPLOY_REQUIRED)
    assert contract <= set(settings.ENV_OVERRIDES)
    for file, job_id in [("deploy.yml", "deploy"), ("cdktf-diff.yml", "synth"), ("drift.yml", "synth")]:
        env = workflows[file]["jobs"][job_id]["env"]
        assert {name: env.get(name) for name in contract} == {n: f"${{{{ vars.{n} }}}}" for n in contract}


def test_callers_pass_only_secrets_the_deploy_declares(workflows: dict[str, dict[str, Any]]) -> None:
    declared = set(workflows["deploy.yml"]["on"]["workflow_call"]["secrets"])
    for file in CALLERS:
        passed = caller_job(workflows, file)["secrets"]
        assert set(passed) <= declared, file
        assert all(value == f"${{{{ secrets.{name} }}}}" for name, value in passed.items()), file


def test_callers_grant_exactly_what_the_called_jobs_use(workflows: dict[str, dict[str, Any]]) -> None:
    """A called workflow cannot have more than its caller grants: every caller grants the union of the gate's and
    the deploy job's read scopes, and nothing more."""
    called = workflows["deploy.yml"]["jobs"]
    needed = {scope: "read" for job in called.values() for scope in job["permissions"]}
    for file in CALLERS:
        assert caller_job(workflows, file)["permissions"] == needed, file


def test_app_deploys_pass_every_app_secret_and_the_service_account_never_the_digitalocean_token(
    workflows: dict[str, dict[str, Any]], app_secret_keys: tuple[str, ...]
) -> None:
    kube = set(KUBE_VARIABLES.values())
    for file in ("deploy-staging.yml", "deploy-production.yml"):
        passed = set(caller_job(workflows, file)["secrets"])
        assert set(app_secret_keys) | {"GHCR_USERNAME", "GHCR_TOKEN"} | kube <= passed, file
        assert "DIGITALOCEAN_TOKEN" not in passed, file
    infrastructure = set(caller_job(workflows, "deploy-infrastructure.yml")["secrets"])
    assert "DIGITALOCEAN_TOKEN" in infrastructure
    assert not kube & infrastructure
    declared = workflows["deploy.yml"]["on"]["workflow_call"]["secrets"]
    assert all(declared[name] == {"required": False} for name in kube)


# --- the gate: which runs an environment serves -------------------------------------------------------------


RUN_STEP = "Refuse a run this environment does not serve"


@pytest.mark.parametrize(
    ("environment_name", "event", "workflow", "ref", "allowed"),
    [
        ("staging", "workflow_run", "deploy-staging.yml", MAIN, True),
        ("production", "workflow_dispatch", "deploy-production.yml", MAIN, True),
        ("production", "workflow_dispatch", "deploy-infrastructure.yml", MAIN, True),
        # Issue scenario: a same-repository pull request edits a workflow to use staging's secrets.
        ("staging", "pull_request", "cdktf-diff.yml", "refs/pull/7/merge", False),
        ("staging", "push", "build.yml", "refs/heads/feature", False),
        # Issue scenario: a release ran the tagged commit's own workflow file.
        ("production", "release", "deploy-production.yml", "refs/tags/v1.4.0", False),
        ("production", "workflow_dispatch", "deploy-production.yml", "refs/heads/feature", False),
        ("production", "workflow_dispatch", "deploy-production.yml", "refs/tags/v1.4.0", False),
        ("production", "workflow_run", "deploy-staging.yml", MAIN, False),
        ("staging", "workflow_dispatch", "deploy-production.yml", MAIN, False),
        ("preview", "workflow_dispatch", "deploy-production.yml", MAIN, False),
    ],
)
def test_the_gate_serves_only_the_environment_s_own_callers_from_main(  # noqa: PLR0917 - parameters
    gate: dict[str, Any],
    tmp_path: Path,
    environment_name: str,
    event: str,
    workflow: str,
    ref: str,
    allowed: bool,
) -> None:
    context = gate_context(environment_name, "app-staging", event=event, workflow=workflow, ref=ref)
    result, _fakes = run_gate_step(gate, RUN_STEP, context, tmp_path, {})
    if allowed:
        assert result.returncode == 0, result.text
        return
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("::error title=Deploy refused::")
    assert "Traceback" not in result.text


def test_the_gate_refuses_a_caller_file_taken_from_another_ref() -> None:
    """github.workflow_ref names the caller's file *and* its ref: a branch's copy of deploy-production.yml is not
    main's, even if the run's ref were main."""
    with pytest.raises(deploy_gate.GateError, match=re.escape("deploy-production.yml@refs/heads/evil")):
        deploy_gate.check_run(
            "production",
            ref=MAIN,
            event="workflow_dispatch",
            workflow_ref=f"{REPOSITORY}/.github/workflows/deploy-production.yml@refs/heads/evil",
            repository=REPOSITORY,
        )


# --- the gate: the environment's settings --------------------------------------------------------------------


ENV_STEP = "Refuse when an environment is weaker than the required settings"
#: Every environment the gates check, in the order the step reads them after the deploy's own.
CHECKED_EVERYWHERE = ("staging-plan", "production-plan", "drift")


def run_environment_gate(
    gate: dict[str, Any], tmp_path: Path, environment_name: str, fakes_world: dict[str, Any]
) -> tuple[StepResult, Fakes]:
    """The gate's environment step, with the real .github/scripts (check_environments.sh) and a faked GitHub."""
    context = gate_context(environment_name, "app-staging", event="workflow_dispatch", workflow="x.yml")
    return run_gate_step(gate, ENV_STEP, context, tmp_path, fakes_world)


def error_lines(result: StepResult) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("::error")]


@pytest.mark.parametrize("environment_name", ["staging", "production"])
def test_the_documented_settings_pass(gate: dict[str, Any], tmp_path: Path, environment_name: str) -> None:
    """Each deploy reads its own environment, then the plan environments and drift: a weakened one is noticed by the
    next deploy on main, not only by the runs that use it. The plan environments allow any branch."""
    result, fakes = run_environment_gate(gate, tmp_path, environment_name, environments())
    assert result.returncode == 0, result.text
    read = [call[1] for call in fakes.called("gh", "api")]
    expected = []
    for name in dict.fromkeys((environment_name, *CHECKED_EVERYWHERE, "production")):
        base = f"repos/{REPOSITORY}/environments/{name}"
        expected += [base, f"{base}/deployment-branch-policies"]
    assert read == expected
    checked = ", ".join(dict.fromkeys((environment_name, "staging-plan", "production-plan", "drift", "production")))
    assert f"{checked}: protection rules as required" in result.stdout


WEAKENED = [
    # Issue scenario: the setup docs restricted only production, so pull-request code could pick staging.
    ("staging", {"custom": False}, "deployment branches must be the branch main alone"),
    ("staging", {"custom": False, "protected": True}, "deployment branches must be the branch main alone"),
    ("staging", {"branches": [("branch", "main"), ("branch", "*")]}, "deployment branches must be the branch main"),
    ("production", {"branches": [("branch", "main"), ("tag", "v*")]}, "deployment branches must be the branch"),
    ("production", {"reviewers": False}, "required reviewers: none set"),
    ("production", {"self_review": True}, "prevent self-review is off"),
    ("production", {"admins_bypass": True}, "administrators may bypass the protection rules"),
    # The plan environments: a pull request's plan runs its own code with the reader credentials.
    ("staging-plan", {"reviewers": False}, "required reviewers: none set"),
    # production-plan and drift hold a token DOKS turns into cluster-admin: production's reviewers approve them.
    ("production-plan", {"reviewer_team": 2}, "its required reviewers must be exactly production's"),
    ("drift", {"reviewers": False}, "required reviewers: none set"),
    ("drift", {"reviewer_team": 2}, "its required reviewers must be exactly production's"),
    ("drift", {"self_review": True}, "prevent self-review is off"),
    ("staging-plan", {"self_review": True}, "prevent self-review is off"),
    ("production-plan", {"admins_bypass": True}, "administrators may bypass the protection rules"),
    ("production-plan", {"reviewers": False}, "required reviewers: none set"),
    # drift runs unreviewed every night: main only.
    ("drift", {"any_branch": True}, "deployment branches must be the branch main alone"),
    ("drift", {"branches": [("branch", "main"), ("branch", "release/*")]}, "deployment branches must be"),
]


@pytest.mark.parametrize(
    ("deploying", "environment_name", "settings", "problem"),
    [
        (deploying, name, settings, problem)
        for deploying in ("staging", "production")
        for name, settings, problem in WEAKENED
        # A deploy checks its own environment and those checked everywhere, not the other deploy environment.
        if name == deploying or name in CHECKED_EVERYWHERE
    ],
)
def test_a_weaker_environment_stops_every_deploy_with_one_line_naming_it(  # noqa: PLR0917 - parameters
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    deploying: str,
    environment_name: str,
    settings: dict[str, Any],
    problem: str,
) -> None:
    """Seeded: one environment weakened at a time; every deploy's gate refuses with exactly one line, naming it. In
    process against the same fakes (the step itself runs end to end in the tests around this one)."""
    answers = worlds.api_answers(tmp_path, environments({environment_name: settings}), deploying)
    code = deploy_gate.main(["environments", "--environment", deploying, "--answers", str(answers)])
    captured = capsys.readouterr()
    assert code == 1
    (line,) = captured.err.splitlines()
    assert line.startswith(f"::error title=Deploy refused::environment {environment_name} is weaker than required: ")
    assert problem in line


def test_the_step_stops_a_deploy_on_a_weakened_plan_environment(gate: dict[str, Any], tmp_path: Path) -> None:
    result, _fakes = run_environment_gate(
        gate, tmp_path, "production", environments({"staging-plan": {"self_review": True}})
    )
    assert result.returncode == 1
    (line,) = error_lines(result)
    assert line.startswith("::error title=Deploy refused::environment staging-plan is weaker than required: prevent")
    assert "Traceback" not in result.text


def test_every_problem_of_every_environment_gets_its_own_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    weakened = environments(
        {"production": {"self_review": True, "admins_bypass": True}, "staging-plan": {"reviewers": False}}
    )
    answers = worlds.api_answers(tmp_path, weakened, "production")
    assert deploy_gate.main(["environments", "--environment", "production", "--answers", str(answers)]) == 1
    assert [line.split("::")[2].split(":")[0] for line in capsys.readouterr().err.splitlines()] == [
        "environment production is weaker than required",
        "environment production is weaker than required",
        "environment staging-plan is weaker than required",
    ]


def test_a_missing_environment_stops_the_deploy(gate: dict[str, Any], tmp_path: Path) -> None:
    """An environment that does not exist has no protection at all (a job naming it would create it, unprotected)."""
    result, _fakes = run_environment_gate(gate, tmp_path, "production", environments(missing=["production-plan"]))
    assert result.returncode == 1
    (line,) = error_lines(result)
    assert "environment production-plan cannot be read (gh: Not Found (HTTP 404)" in line


def test_the_environment_table_is_readme_s(workflows: dict[str, dict[str, Any]]) -> None:
    """One table says what each environment needs: every environment a workflow uses has a row; the plan
    environments are reviewed and open to any branch, the others main only; all but the deploy environments are
    checked by every gate."""
    table = deploy_gate.ENVIRONMENTS
    assert set(table) == {"staging", "production", "staging-plan", "production-plan", "drift"}
    assert {name for name, rules in table.items() if rules.main_only} == {"staging", "production", "drift"}
    assert {name for name, rules in table.items() if rules.reviewed} == {
        "production",
        "staging-plan",
        "production-plan",
        "drift",
    }
    assert {name: rules.reviewers_of for name, rules in table.items() if rules.reviewers_of} == {
        "production-plan": "production",
        "drift": "production",
    }
    assert {name for name, rules in table.items() if rules.checked_everywhere} == set(CHECKED_EVERYWHERE)
    assert deploy_gate.checked_environments("staging") == ["staging", *CHECKED_EVERYWHERE, "production"]
    assert deploy_gate.checked_environments("drift") == ["drift", "staging-plan", "production-plan", "production"]
    assert set(deployed_stacks(workflows).values()) | set(CHECKED_EVERYWHERE) == set(table)


# --- the gate: the commit ---------------------------------------------------------------------------------------


COMMIT_STEP = "Commit to deploy"


def test_staging_deploys_main_s_newest_successful_build_whatever_triggered_the_run(
    gate: dict[str, Any], tmp_path: Path
) -> None:
    """Issue scenario: builds finish out of order, and the run of an older build must not leave staging on it. A
    failed build and a fork's pull request from its own `main` are not candidates."""
    runs = build_runs(
        build_run(OLDER, event="pull_request"),
        build_run(NEWER, conclusion="failure"),
        build_run(SHA),
        build_run(OLDER),
    )
    context = gate_context("staging", "app-staging", event="workflow_run", workflow="deploy-staging.yml")
    context["inputs"]["newest-main-build"] = True
    result, fakes = run_gate_step(gate, COMMIT_STEP, context, tmp_path, runs)
    assert result.returncode == 0, result.text
    assert result.outputs == {"commit": SHA}
    (call,) = fakes.called("gh", "api")
    assert call[1].startswith(f"repos/{REPOSITORY}/actions/workflows/build.yml/runs?branch=main&event=push")


def test_staging_with_no_successful_build_deploys_nothing(gate: dict[str, Any], tmp_path: Path) -> None:
    context = gate_context("staging", "app-staging", event="workflow_run", workflow="deploy-staging.yml")
    context["inputs"]["newest-main-build"] = True
    result, _fakes = run_gate_step(
        gate, COMMIT_STEP, context, tmp_path, build_runs(build_run(SHA, conclusion="failure"))
    )
    assert result.returncode == 1
    assert "main has no successful build yet" in result.stderr
    assert result.outputs == {}


@pytest.mark.parametrize(
    ("commit", "expected"), [(NEWER, NEWER), ("", SHA), ("v1.4.0", None), (NEWER[:7], None), (NEWER.upper(), None)]
)
def test_other_deploys_take_the_given_commit_or_the_run_s_own(
    gate: dict[str, Any], tmp_path: Path, commit: str, expected: str | None
) -> None:
    context = gate_context(
        "production", "app-production", event="workflow_dispatch", workflow="deploy-production.yml", commit=commit
    )
    result, fakes = run_gate_step(gate, COMMIT_STEP, context, tmp_path, {})
    if expected:
        assert result.returncode == 0, result.text
        assert result.outputs == {"commit": expected}
    else:
        assert result.returncode == 1
        assert "is not a full commit id" in result.stderr
    assert fakes.called("gh") == []


# --- the gate: the images, verified -----------------------------------------------------------------------


IMAGES_STEP = "Resolve and verify the images of the commit"


def run_images(
    gate: dict[str, Any], tmp_path: Path, fakes_world: dict[str, Any], commit: str = SHA
) -> tuple[StepResult, Fakes]:
    context = gate_context("production", "app-production", event="workflow_dispatch", workflow="x.yml")
    context["steps"] = {"commit": {"outputs": {"commit": commit}}}
    return run_gate_step(gate, IMAGES_STEP, context, tmp_path, fakes_world)


def test_the_images_main_built_and_attested_are_verified_and_their_digests_passed_on(
    gate: dict[str, Any], tmp_path: Path
) -> None:
    result, fakes = run_images(gate, tmp_path, world(built(SHA), build_runs(build_run(SHA)), worlds.recorded(SHA)))
    assert result.returncode == 0, result.text
    assert result.outputs["image_tag"] == "sha-4b825dc"
    assert json.loads(result.outputs["image_digests"]) == {s: worlds.digest(s, SHA) for s in SERVICES}
    verifies = fakes.called("gh", "attestation", "verify")
    assert len(verifies) == 2 * len(SERVICES), "provenance and SBOM of every image"
    for call in verifies:
        assert call[call.index("--repo") + 1] == REPOSITORY
        assert call[call.index("--cert-identity") + 1] == (
            f"https://github.com/{REPOSITORY}/.github/workflows/build.yml@refs/heads/main"
        )
        assert "--signer-workflow" not in call, "a prefix match; --cert-identity is exact"
        assert call[call.index("--source-ref") + 1] == MAIN
        assert call[call.index("--source-digest") + 1] == SHA
        assert "--deny-self-hosted-runners" in call


@pytest.mark.parametrize(
    ("fakes_world", "refused", "why"),
    [
        # Never built on main (or the build has not finished): the tag is not there.
        (built(SHA, services=SERVICES[1:]), SERVICES[0], "it is not on ghcr.io"),
        # Issue scenario: a tag build re-pushed sha-<7>: its provenance says refs/tags/v1.4.0, not main.
        (built(SHA, ref="refs/tags/v1.4.0"), SERVICES[0], "provenance attestation does not verify"),
        # Issue scenario: a branch commit with the same prefix pushed sha-<7>; signed for another commit.
        (built(SAME_PREFIX, tag="sha-4b825dc"), SERVICES[0], "provenance attestation does not verify"),
        # Signed by another workflow of the repository, or another repository's build.
        (built(SHA, workflow=f"{REPOSITORY}/.github/workflows/other.yml"), SERVICES[0], "does not verify"),
        (built(SHA, repository="someone/fork"), SERVICES[0], "does not verify"),
        (built(SHA, self_hosted=True), SERVICES[0], "does not verify"),
        # Pushed by hand, never attested; attested without its SBOM.
        ({"registry": built(SHA)["registry"]}, SERVICES[0], "provenance attestation does not verify"),
        (built(SHA, predicates=[PROVENANCE]), SERVICES[0], "its SBOM attestation does not verify"),
        ({**built(SHA), "registry_error": "ERROR: unexpected status: 503"}, SERVICES[0], "cannot read"),
    ],
    ids=[
        "missing",
        "tag-build",
        "same-prefix",
        "other-workflow",
        "fork",
        "self-hosted",
        "unattested",
        "no-sbom",
        "registry-down",
    ],
)
def test_any_image_that_fails_verification_is_refused_with_one_line_each(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fakes_world: dict[str, Any],
    refused: str,
    why: str,
) -> None:
    """The verification itself, in process against the same fakes (many cases, no shell needed); the step is run
    end to end by the tests around this one."""
    monkeypatch.setattr(worlds.images, "_run", worlds.in_process(fakes_world))
    code = worlds.images.main(["verify", "--owner", worlds.OWNER, "--repository", REPOSITORY, "--commit", SHA])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == "", "no digest is printed, so none reaches the deploy"
    errors = captured.err.splitlines()[:-1]
    assert errors and all(line.startswith("::error title=Image of ") for line in errors)
    assert any(f"::error title=Image of {refused} not verified::not deploying commit 4b825dc:" in e for e in errors)
    assert any(why in e for e in errors), errors
    assert all("docs/runbooks/deploy.md, 'Image verification failed'" in e for e in errors)
    assert captured.err.splitlines()[-1].startswith("images.py: ")


def test_a_refused_image_stops_the_step_and_passes_nothing_on(gate: dict[str, Any], tmp_path: Path) -> None:
    result, _fakes = run_images(gate, tmp_path, world(built(SHA, ref="refs/tags/v1.4.0"), build_runs(build_run(SHA))))
    assert result.returncode != 0
    assert result.outputs == {}, "no digest reaches the deploy"
    assert "::error title=Image of frontend not verified::" in result.stderr


def verified_in_process(monkeypatch: pytest.MonkeyPatch, fakes_world: dict[str, Any]) -> dict[str, str]:
    monkeypatch.setattr(worlds.images, "_run", worlds.in_process(fakes_world))
    digests, refused = worlds.images.verified_digests(
        worlds.images.load(), owner=worlds.OWNER, repository=REPOSITORY, commit=SHA
    )
    assert refused == {}
    return dict(digests)


def test_a_rebuild_of_the_same_commit_verifies_but_only_the_tag_s_digest_is_deployed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The digest deployed is the one `sha-<7>` names (written once by main's first build), not any other image
    attested for the commit."""
    first, rebuild = built(SHA), built(SHA, build="rerun")
    assert verified_in_process(monkeypatch, world(rebuild, first)) == {s: worlds.digest(s, SHA) for s in SERVICES}


def test_cluster_and_platform_have_no_images_to_verify(gate: dict[str, Any]) -> None:
    for name in (IMAGES_STEP, "Log in to ghcr.io (read only)"):
        step = step_named(gate, name)
        for stack, verifies in [("cluster", False), ("platform", False), ("app-staging", True)]:
            assert evaluate(step["if"], {"inputs": {"stack": stack}}) is verifies


def test_the_verified_digests_are_what_the_release_sets(monkeypatch: pytest.MonkeyPatch, synth: Synth) -> None:
    """Digests reach the helm release: the gate's JSON is TF_VAR_image_digests, whose entries the release sets as
    global.imageDigests.<service>, one per service the images declaration names."""
    digests = verified_in_process(monkeypatch, built(SHA))
    for stack in ("app-staging", "app-production"):
        sets = {item["name"]: item["value"] for item in synth.release(stack, "todo-app")["set"]}
        assert {name.removeprefix("global.imageDigests.") for name in sets if "imageDigests" in name} == set(digests)
        for service in digests:
            assert sets[f"global.imageDigests.{service}"] == f'${{var.image_digests["{service}"]}}'


# --- the deploy job -------------------------------------------------------------------------------------------


@pytest.fixture
def deploy_workspace(tmp_path: Path) -> Path:
    """A checkout stand-in: the real .github (also as gate/), a dev.py that records its arguments (and, for
    `revisions`, prints a revision as the real one does, or refuses without a digest key), a synthesized stack."""
    work = tmp_path / "work"
    (work / "cdktf.out" / "stacks" / "app-staging").mkdir(parents=True)
    (work / ".github").symlink_to(GITHUB_DIR)
    (work / "gate").mkdir()
    (work / "gate" / ".github").symlink_to(GITHUB_DIR)
    recorder = (
        "import json, os, sys\n"
        "open('dev-calls.json', 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if sys.argv[1] == 'revisions':\n"
        "    if not os.environ.get('SECRETS_DIGEST_KEY'):\n"
        "        sys.exit('dev.py: SECRETS_DIGEST_KEY must be set')\n"
        "    print('export TF_VAR_app_secrets_revision=7')\n"
        "if sys.argv[1] == 'cdktf':\n"
        "    open('deployed-with.json', 'w').write(json.dumps({k: v for k, v in os.environ.items()"
        " if k.startswith(('TF_VAR_image', 'TF_VAR_kube', 'DIGITALOCEAN'))}))\n"
    )
    (work / "dev.py").write_text(recorder)
    stack = {
        "variable": {
            "database_url": {"sensitive": True, "ephemeral": True},
            "redis_password": {"default": ""},
            "image_tag": {"default": "main-latest"},
            "image_digests": {"type": "map(string)"},
            "app_secrets_revision": {"type": "number"},
            # The namespace's ServiceAccount, as the app stacks declare it: no defaults, the token ephemeral.
            "kube_endpoint": {"type": "string"},
            "kube_ca_certificate": {"type": "string"},
            "kube_token": {"type": "string", "sensitive": True, "ephemeral": True},
        }
    }
    (work / "cdktf.out" / "stacks" / "app-staging" / "cdk.tf.json").write_text(json.dumps(stack))
    return work


DIGEST_KEY = {"SECRETS_DIGEST_KEY": "k" * 32}
DIGESTS = json.dumps({s: worlds.digest(s, SHA) for s in SERVICES})


def dev_calls(work: Path) -> list[list[str]]:
    calls: list[list[str]] = [json.loads(line) for line in (work / "dev-calls.json").read_text().splitlines()]
    return calls


#: What staging holds besides the app secrets: the state keys and the deployer ServiceAccount (no DigitalOcean token).
APP_CREDENTIALS = {name: value for name, value in EVERY_CREDENTIAL.items() if name != "DIGITALOCEAN_TOKEN"}


def deploy_context(
    *, secrets: dict[str, str], image_tag: str, image_digests: str = DIGESTS, without: tuple[str, ...] = ()
) -> dict[str, Any]:
    held = {name: value for name, value in {**APP_CREDENTIALS, **secrets}.items() if name not in without}
    return {
        "inputs": {"stack": "app-staging", "environment": "staging"},
        "secrets": held,
        "needs": {"gate": {"outputs": {"commit": SHA, "image_tag": image_tag, "image_digests": image_digests}}},
    }


def test_deploy_step_deploys_the_verified_images_when_every_needed_value_is_set(
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
    deployed = json.loads((deploy_workspace / "deployed-with.json").read_text())
    assert deployed == {
        "TF_VAR_image_tag": "sha-4b825dc",
        "TF_VAR_image_digests": DIGESTS,
        "TF_VAR_kube_endpoint": EVERY_CREDENTIAL["KUBE_ENDPOINT"],
        "TF_VAR_kube_ca_certificate": EVERY_CREDENTIAL["KUBE_CA_CERTIFICATE"],
        "TF_VAR_kube_token": EVERY_CREDENTIAL["KUBE_TOKEN"],
        "DIGITALOCEAN_TOKEN": "",
    }


def test_a_staging_deploy_never_hands_a_held_digitalocean_token_to_terraform(
    deploy: dict[str, Any], deploy_workspace: Path, tmp_path: Path
) -> None:
    """Seeded: staging still holds a DigitalOcean token. The deploy step's environment has it empty, so the app stack
    deploys with the ServiceAccount alone (the job's first steps refuse such an environment anyway, below)."""
    step = deploy_step(deploy)
    secrets = {
        "DATABASE_URL": "postgres://x",
        **DIGEST_KEY,
        "DIGITALOCEAN_TOKEN": EVERY_CREDENTIAL["DIGITALOCEAN_TOKEN"],
    }
    env = step_env(step, deploy_context(secrets=secrets, image_tag="sha-4b825dc"))
    result = run_script(step["run"], env=env, cwd=deploy_workspace, tmp_path=tmp_path)
    assert result.returncode == 0, result.text
    assert json.loads((deploy_workspace / "deployed-with.json").read_text())["DIGITALOCEAN_TOKEN"] == ""


def test_the_deploy_step_refuses_a_digitalocean_token_that_reaches_an_app_stack(
    deploy: dict[str, Any], deploy_workspace: Path, tmp_path: Path
) -> None:
    """Seeded: a workflow change hands the token to app-staging after all; require_tf_vars refuses before Terraform."""
    step = deploy_step(deploy)
    env = step_env(
        step, deploy_context(secrets={"DATABASE_URL": "postgres://x", **DIGEST_KEY}, image_tag="sha-4b825dc")
    )
    env["DIGITALOCEAN_TOKEN"] = EVERY_CREDENTIAL["DIGITALOCEAN_TOKEN"]
    result = run_script(step["run"], env=env, cwd=deploy_workspace, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "::error title=Credential refused: DIGITALOCEAN_TOKEN::stack app-staging must not receive" in result.stdout
    assert EVERY_CREDENTIAL["DIGITALOCEAN_TOKEN"] not in result.text
    assert dev_calls(deploy_workspace) == [["revisions", "app-staging"]], "nothing deployed"


@pytest.mark.parametrize("absent", ["SPACES_ACCESS_KEY_ID", "SPACES_SECRET_ACCESS_KEY"])
def test_deploy_step_refuses_a_missing_state_key(
    deploy: dict[str, Any], deploy_workspace: Path, tmp_path: Path, absent: str
) -> None:
    step = deploy_step(deploy)
    env = step_env(step, deploy_context(secrets=READY, image_tag="sha-4b825dc", without=(absent,)))
    result = run_script(step["run"], env=env, cwd=deploy_workspace, tmp_path=tmp_path)
    assert result.returncode == 1
    assert f"stack app-staging needs the secret {absent}: set it in the GitHub environment 'staging'" in result.stdout
    assert dev_calls(deploy_workspace) == [["revisions", "app-staging"]]


def test_deploy_step_stops_before_terraform_without_the_digest_key(
    deploy: dict[str, Any], deploy_workspace: Path, tmp_path: Path
) -> None:
    step = deploy_step(deploy)
    env = step_env(step, deploy_context(secrets={"DATABASE_URL": "postgres://x"}, image_tag="sha-4b825dc"))
    result = run_script(step["run"], env=env, cwd=deploy_workspace, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRETS_DIGEST_KEY must be set" in result.stderr
    assert dev_calls(deploy_workspace) == [["revisions", "app-staging"]]


READY = {"DATABASE_URL": "postgres://x", **DIGEST_KEY}


@pytest.mark.parametrize(
    ("secrets", "without", "image_tag", "image_digests", "missing", "hint"),
    [
        (
            DIGEST_KEY,
            (),
            "sha-4b825dc",
            DIGESTS,
            "database_url",
            "set the secret DATABASE_URL in the GitHub environment",
        ),
        (READY, (), "", DIGESTS, "image_tag", "deploy.yml's gate sets it"),
        (READY, (), "sha-4b825dc", "", "image_digests", "deploy.yml's gate"),
        # The ServiceAccount: Terraform variables without default, each fed by its secret.
        (
            READY,
            ("KUBE_TOKEN",),
            "sha-4b825dc",
            DIGESTS,
            "kube_token",
            "set the secret KUBE_TOKEN in the GitHub environment 'staging'",
        ),
        (
            READY,
            ("KUBE_ENDPOINT",),
            "sha-4b825dc",
            DIGESTS,
            "kube_endpoint",
            "set the secret KUBE_ENDPOINT in the GitHub environment 'staging'",
        ),
        (
            READY,
            ("KUBE_CA_CERTIFICATE",),
            "sha-4b825dc",
            DIGESTS,
            "kube_ca_certificate",
            "set the secret KUBE_CA_CERTIFICATE in the GitHub environment 'staging'",
        ),
    ],
)
def test_deploy_step_refuses_an_empty_value_before_deploying(  # noqa: PLR0917 - fixtures and parameters
    deploy: dict[str, Any],
    deploy_workspace: Path,
    tmp_path: Path,
    secrets: dict[str, str],
    without: tuple[str, ...],
    image_tag: str,
    image_digests: str,
    missing: str,
    hint: str,
) -> None:
    step = deploy_step(deploy)
    context = deploy_context(secrets=secrets, image_tag=image_tag, image_digests=image_digests, without=without)
    result = run_script(step["run"], env=step_env(step, context), cwd=deploy_workspace, tmp_path=tmp_path)
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


CURRENT_STEP = "Still the commit to deploy?"
HELD_STEP = "Refuse an environment that holds a secret it must not"


def run_current(
    deploy: dict[str, Any], workspace: Path, tmp_path: Path, *, newest: bool, fakes_world: dict[str, Any]
) -> tuple[StepResult, Fakes]:
    step = step_named(deploy, CURRENT_STEP)
    context = {
        "github": github("workflow_run", workflow="deploy-staging.yml"),
        "inputs": {"newest-main-build": newest},
        "needs": {"gate": {"outputs": {"commit": SHA}}},
    }
    fakes = install_fakes(tmp_path / "fakes", fakes_world)
    result = run_script(
        step["run"], env=step_env(step, context), cwd=workspace, tmp_path=tmp_path, path_prepend=fakes.bin_dir
    )
    return result, fakes


def deploy_steps_run(deploy: dict[str, Any], outputs: dict[str, str], environment_name: str = "staging") -> list[str]:
    context = {"steps": {"current": {"outputs": outputs}}, "inputs": {"environment": environment_name}}
    return [
        str(step.get("name") or step.get("uses"))
        for step in steps(deploy)
        if "if" not in step or evaluate(step["if"], context)
    ]


def test_a_staging_deploy_of_main_s_newest_build_goes_ahead(
    deploy: dict[str, Any], deploy_workspace: Path, tmp_path: Path
) -> None:
    result, _fakes = run_current(
        deploy, deploy_workspace, tmp_path, newest=True, fakes_world=build_runs(build_run(SHA))
    )
    assert result.returncode == 0, result.text
    assert result.outputs == {"deploy": "true"}
    assert deploy_step(deploy)["name"] in deploy_steps_run(deploy, result.outputs)


def test_rerunning_an_old_staging_run_does_not_deploy_an_older_commit(
    deploy: dict[str, Any], deploy_workspace: Path, tmp_path: Path
) -> None:
    """Issue scenario: "Re-run failed jobs" reused the old run's "still the tip" answer and deployed an older commit.
    The deploy job asks again: main has a newer build, so this run stands down and deploys nothing."""
    fakes_world = build_runs(build_run(NEWER), build_run(SHA))
    result, _fakes = run_current(deploy, deploy_workspace, tmp_path, newest=True, fakes_world=fakes_world)
    assert result.returncode == 0, result.text
    assert result.outputs == {"deploy": "false"}
    assert f"::notice title=Not deploying 4b825dc::main's newest build is now {NEWER[:7]}" in result.stdout
    ran = deploy_steps_run(deploy, result.outputs)
    assert deploy_step(deploy)["name"] not in ran
    assert ran == ["actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8", HELD_STEP, CURRENT_STEP]


def test_production_and_infrastructure_deploys_do_not_ask_about_main_s_builds(
    deploy: dict[str, Any], deploy_workspace: Path, tmp_path: Path
) -> None:
    result, fakes = run_current(deploy, deploy_workspace, tmp_path, newest=False, fakes_world={})
    assert result.returncode == 0, result.text
    assert result.outputs == {"deploy": "true"}
    assert fakes.calls == []


# --- staging ------------------------------------------------------------------------------------------


def workflow_run(conclusion: str, event: str, branch: str = "main", repo: str = REPOSITORY) -> dict[str, Any]:
    payload = {"conclusion": conclusion, "event": event, "head_branch": branch, "head_repository": {"full_name": repo}}
    return {"github": {"repository": REPOSITORY, "event": {"workflow_run": payload}}}


def test_staging_deploys_after_a_successful_build_of_main(workflows: dict[str, dict[str, Any]]) -> None:
    on = triggers(workflows["deploy-staging.yml"])
    assert set(on) == {"workflow_run"}
    assert on["workflow_run"]["workflows"] == [workflows["build.yml"]["name"]]
    assert on["workflow_run"]["types"] == ["completed"]
    assert on["workflow_run"]["branches"] == ["main"]
    gate_if = caller_job(workflows, "deploy-staging.yml")["if"]
    assert evaluate(gate_if, workflow_run("success", "push"))
    assert not evaluate(gate_if, workflow_run("failure", "push"))
    assert not evaluate(gate_if, workflow_run("success", "pull_request"))
    assert not evaluate(gate_if, workflow_run("success", "push", repo="fork/r"))


def test_a_fork_s_pull_request_from_its_main_cannot_displace_a_staging_deploy(
    workflows: dict[str, dict[str, Any]],
) -> None:
    """Issue scenario: a fork's pull request opened from the fork's `main` matches `branches: [main]`; its run, all
    jobs skipped, took the workflow's concurrency group and cancelled the valid deploy pending there. Now no group is
    taken until a job really deploys: the workflow has none, the caller job is skipped, and the only group is the
    deploy job's, with a queue that keeps every waiting deploy."""
    staging = workflows["deploy-staging.yml"]
    assert "concurrency" not in staging
    job = caller_job(workflows, "deploy-staging.yml")
    assert "concurrency" not in job
    assert not evaluate(job["if"], workflow_run("success", "pull_request", repo="someone/hackathon-todo-infra"))
    assert workflows["deploy.yml"]["jobs"]["deploy"]["concurrency"]["queue"] == "max"
    assert "concurrency" not in workflows["deploy.yml"]["jobs"]["gate"]


def test_staging_deploys_app_staging_in_environment_staging_from_main_s_newest_build(
    workflows: dict[str, dict[str, Any]],
) -> None:
    job = caller_job(workflows, "deploy-staging.yml")
    assert job["with"] == {"environment": "staging", "stack": "app-staging", "newest-main-build": True}
    assert job["cache-mode"] == "none"
    assert "workflow_run" not in json.dumps(job["with"]), "nothing taken from the triggering run's payload"


# --- cluster and platform, and the stacks of the app --------------------------------------------------


def test_cluster_and_platform_deploy_only_by_hand(workflows: dict[str, dict[str, Any]]) -> None:
    on = triggers(workflows["deploy-infrastructure.yml"])
    assert set(on) == {"workflow_dispatch"}
    stack_input = on["workflow_dispatch"]["inputs"]["stack"]
    assert stack_input["type"] == "choice"
    automatic = {caller_job(workflows, f)["with"]["stack"] for f in ("deploy-staging.yml", "deploy-production.yml")}
    assert not set(stack_input["options"]) & automatic
    assert "commit" not in caller_job(workflows, "deploy-infrastructure.yml")["with"], "this run's commit of main"


def test_deploy_workflows_name_exactly_the_stacks_of_the_app(
    workflows: dict[str, dict[str, Any]], app_stack_ids: list[str]
) -> None:
    assert set(deployed_stacks(workflows)) == set(app_stack_ids)


def test_shared_stacks_and_production_wait_for_production_reviewers(workflows: dict[str, dict[str, Any]]) -> None:
    deployed = deployed_stacks(workflows)
    assert deployed.pop("app-staging") == "staging"
    assert set(deployed.values()) == {"production"}
    reviewed = {name for name in ("staging", "production") if deploy_gate.ENVIRONMENTS[name].reviewed}
    assert reviewed == {"production"}


def test_the_diff_matrix_plans_exactly_the_stacks_of_the_app_in_their_deploy_environments(
    workflows: dict[str, dict[str, Any]], app_stack_ids: list[str]
) -> None:
    plan = workflows["cdktf-diff.yml"]["jobs"]["plan"]
    matrix = {entry["stack"]: entry["environment"] for entry in plan["strategy"]["matrix"]["include"]}
    assert set(matrix) == set(app_stack_ids)
    assert matrix == deployed_stacks(workflows)
    assert plan["environment"] == "${{ matrix.environment }}-plan"


def test_each_stack_is_deployed_planned_and_checked_for_drift_where_the_spaces_grants_expect(
    workflows: dict[str, dict[str, Any]], app_stack_ids: list[str]
) -> None:
    """todo_infra/spaces_grants.py gives each environment's state key exactly the state buckets of the stacks that
    environment deploys (its `-plan` twin reads them, `drift` the shared stacks'): the workflows must run them there."""
    assert deployed_stacks(workflows) == {stack: deploying_environment(stack) for stack in app_stack_ids}
    plan = workflows["cdktf-diff.yml"]["jobs"]["plan"]
    assert plan["environment"] == "${{ matrix.environment }}" + PLAN_SUFFIX
    drift = workflows["drift.yml"]["jobs"]["plan"]
    assert drift["environment"] == DRIFT_ENVIRONMENT
    assert set(drift["strategy"]["matrix"]["stack"]) == {"cluster", "platform"}, "refreshing an app stack reads Secrets"


def test_app_stacks_declare_every_variable_the_workflows_feed(
    deploy: dict[str, Any], app_secret_keys: tuple[str, ...], synth: Synth
) -> None:
    """The TF_VAR_ names of the deploy step are real variables of the synthesized stacks (no typo feeds nothing).
    The ServiceAccount's three (kube_*) are the app stacks' new variables, declared by the app stacks' own change; until
    that lands the stacks declare none of them (this test then checks the rest), and once it has, exactly as fed: each
    app stack all three without default, kube_token sensitive and ephemeral, and no other stack any."""
    declared = {name for stack in synth.stacks.values() for name in stack.get("variable", {})}
    fed = {name.removeprefix("TF_VAR_") for name in deploy_step(deploy)["env"] if name.startswith("TF_VAR_")}
    assert fed - set(KUBE_VARIABLES) <= declared, f"fed but not declared by any stack: {sorted(fed - declared)}"
    assert {tf_var(k).removeprefix("TF_VAR_") for k in app_secret_keys} <= declared
    assert set(KUBE_VARIABLES) <= fed
    for stack_id, stack in synth.stacks.items():
        kube = {name: spec for name, spec in stack.get("variable", {}).items() if name in KUBE_VARIABLES}
        if not stack_id.startswith("app-") or not set(KUBE_VARIABLES) & declared:
            assert kube == {}, stack_id
            continue
        assert set(kube) == set(KUBE_VARIABLES), stack_id
        assert not [name for name, spec in kube.items() if "default" in spec], stack_id
        assert kube["kube_token"].get("sensitive") and kube["kube_token"].get("ephemeral"), stack_id


def test_no_deploy_writes_state_to_an_unchecked_bucket(deploy: dict[str, Any]) -> None:
    """The state bucket check (todo_infra/state_bucket.py) runs with the state credentials after the synth (it reads
    the configured bucket) and before the deploy step, under the same condition, for the deployed stack's bucket only
    (staging's key reaches no other)."""
    names = [step.get("name", "") for step in steps(deploy)]
    check = step_named(deploy, "State bucket")
    assert check["run"] == 'python3 dev.py state-bucket "${STACK}"'
    assert check["env"] == {
        "STACK": "${{ inputs.stack }}",
        "AWS_ACCESS_KEY_ID": "${{ secrets.SPACES_ACCESS_KEY_ID }}",
        "AWS_SECRET_ACCESS_KEY": "${{ secrets.SPACES_SECRET_ACCESS_KEY }}",
    }
    assert check["if"] == step_named(deploy, "cdktf deploy")["if"]
    position = names.index(check["name"])
    assert names.index("Synthesize") < position < names.index("cdktf deploy ${{ inputs.stack }}")


@pytest.mark.parametrize("stack", ["app-staging", "cluster"])
def test_the_state_bucket_check_names_the_stack_it_deploys(
    deploy: dict[str, Any], deploy_workspace: Path, tmp_path: Path, stack: str
) -> None:
    """`dev.py state-bucket <stack>` checks that stack's bucket alone (staging's key reaches staging's state only). Run
    against the recording dev.py: the real one accepts the stack argument once the state-split change lands."""
    check = step_named(deploy, "State bucket")
    env = step_env(check, {"inputs": {"stack": stack}, "secrets": EVERY_CREDENTIAL})
    result = run_script(check["run"], env=env, cwd=deploy_workspace, tmp_path=tmp_path)
    assert result.returncode == 0, result.text
    assert dev_calls(deploy_workspace) == [["state-bucket", stack]]
