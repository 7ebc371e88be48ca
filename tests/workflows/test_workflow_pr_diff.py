"""cdktf-diff.yml: synthesize once, plan every stack, one comment per stack; forks get a notice, not a failure."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from preflight.report import COMMENT_MARKER
from tests.synth import Synth
from tests.workflows.gha_support import (
    GITHUB_DIR,
    evaluate,
    load_script,
    plan_checkout,
    run_script,
    step_env,
    step_named,
    step_using,
    steps,
    stub_command,
    triggers,
)
from todo_infra import app_secrets
from todo_infra.secret_revisions import revision, revisions, shape

images = load_script("images")
plan_report = load_script("plan_report")
require_tf_vars = load_script("require_tf_vars")

HEAD = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
BASE = "9fceb02d0ae598e95dc970b74767f19372d61af8"
#: The only secrets a pull-request plan may read: the read credentials of the `<environment>-plan` environments (the
#: DigitalOcean read token for cluster and platform, the reader ServiceAccount for the app stacks, the state read key).
KUBE_SECRETS = {"KUBE_ENDPOINT", "KUBE_CA_CERTIFICATE", "KUBE_TOKEN"}
PLAN_SECRETS = {"DIGITALOCEAN_TOKEN", "SPACES_ACCESS_KEY_ID", "SPACES_SECRET_ACCESS_KEY", *KUBE_SECRETS}
#: What `production-plan` holds: all of them (it plans cluster, platform and app-production).
CREDENTIALS = {
    "DIGITALOCEAN_TOKEN": "dop_v1_read-only-token",
    "SPACES_ACCESS_KEY_ID": "DO00SPACESKEYID",
    "SPACES_SECRET_ACCESS_KEY": "spaces-secret-key-value",
    "KUBE_ENDPOINT": "https://cluster.example:6443",
    "KUBE_CA_CERTIFICATE": "-----BEGIN CERTIFICATE-----\nMIIBreader\n-----END CERTIFICATE-----",
    "KUBE_TOKEN": "eyJhbGciOiJSUzI1NiJ9.reader-token",
}
#: The app stacks' ServiceAccount variables, as the app stacks declare them (no defaults, the token ephemeral).
KUBE_VARIABLES = {
    "kube_endpoint": {"type": "string"},
    "kube_ca_certificate": {"type": "string"},
    "kube_token": {"type": "string", "sensitive": True, "ephemeral": True},
}


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
    plan_runs = [str(step.get("run", "")) for step in diff["jobs"]["plan"]["steps"]]
    assert not any(re.search(r"dev\.py (synth|bootstrap|cdktf|test)", run) for run in plan_runs), "synthesized once"


def test_plan_jobs_only_read_and_comment_job_holds_no_secret(diff: dict[str, Any]) -> None:
    assert diff["jobs"]["plan"]["permissions"] == {"contents": "read"}
    assert diff["jobs"]["comment"]["permissions"] == {"pull-requests": "write"}
    assert "secrets." not in json.dumps(diff["jobs"]["comment"])
    assert diff["jobs"]["plan"]["strategy"]["fail-fast"] is False


@pytest.fixture
def plan_workspace(tmp_path: Path) -> Path:
    return plan_checkout(tmp_path / "work", "app-staging", KUBE_VARIABLES)


def run_plan_step(
    diff: dict[str, Any],
    work: Path,
    tmp_path: Path,
    *,
    plan_exit: int,
    secrets: dict[str, str],
    plan_text: str = "",
    stack: str = "app-staging",
    environment: str = "staging",
) -> Any:
    step = step_named(diff["jobs"]["plan"], "terraform plan")
    stub_command(
        tmp_path / "bin",
        "terraform",
        'echo "$@" >> "$TF_CALLS"\n'
        'echo "database_url=${TF_VAR_database_url}" >> "$TF_CALLS.env"\n'
        'echo "revision=${TF_VAR_app_secrets_revision}" >> "$TF_CALLS.env"\n'
        'echo "kube_token=${TF_VAR_kube_token}" >> "$TF_CALLS.credentials"\n'
        'echo "kube_endpoint=${TF_VAR_kube_endpoint}" >> "$TF_CALLS.credentials"\n'
        'echo "digitalocean_token=${DIGITALOCEAN_TOKEN}" >> "$TF_CALLS.credentials"\n'
        'echo "image_tag=${TF_VAR_image_tag}" >> "$TF_CALLS.images"\n'
        'echo "image_digests=${TF_VAR_image_digests}" >> "$TF_CALLS.images"\n'
        'if [ "$2" = init ]; then echo "Terraform has been successfully initialized!"; exit 0; fi\n'
        f'cat "$PLAN_TEXT"\nexit {plan_exit}\n',
    )
    (tmp_path / "plan-text").write_text(plan_text)
    context = {
        **pr_context(head_repo="o/r"),
        "matrix": {"stack": stack, "environment": environment},
        "secrets": secrets,
    }
    env = {**step_env(step, context), "TF_CALLS": str(tmp_path / "tf-calls"), "PLAN_TEXT": str(tmp_path / "plan-text")}
    return run_script(step["run"], env=env, cwd=work, tmp_path=tmp_path, path_prepend=tmp_path / "bin")


def test_plan_step_plans_read_only_and_writes_the_comment(
    diff: dict[str, Any], plan_workspace: Path, tmp_path: Path
) -> None:
    token = CREDENTIALS["KUBE_TOKEN"]
    result = run_plan_step(
        diff,
        plan_workspace,
        tmp_path,
        plan_exit=2,
        secrets=CREDENTIALS,
        plan_text=f'  ~ resource "x" {{ token = "{token}" }}\nPlan: 0 to add, 1 to change.\n',
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
        "-refresh=false",
        "-detailed-exitcode",
    ]
    report = (tmp_path / "runner_temp" / "report" / "app-staging.md").read_text()
    assert report.startswith("<!-- cdktf-diff:app-staging -->\n")
    assert "changes" in report.splitlines()[1]
    assert "Plan: 0 to add, 1 to change." in report
    assert f"image_tag `sha-{BASE[:7]}`" in report
    assert token not in report and "***" in report
    assert plan_report.NO_REFRESH_NOTE in report


def test_an_app_stack_plans_as_the_reader_service_account_and_never_with_the_digitalocean_token(
    diff: dict[str, Any], plan_workspace: Path, tmp_path: Path
) -> None:
    """Seeded: the plan environment holds the DigitalOcean read token too (production-plan does, for cluster and
    platform). The app stack's plan gets the reader's kube_token itself (not the placeholder every other sensitive
    variable gets) and an empty DIGITALOCEAN_TOKEN; the reader's token never reaches the report."""
    reader = CREDENTIALS["KUBE_TOKEN"]
    result = run_plan_step(
        diff, plan_workspace, tmp_path, plan_exit=2, secrets=CREDENTIALS, plan_text=f"token {reader}\n"
    )
    assert result.returncode == 0, result.text
    seen = set((tmp_path / "tf-calls.credentials").read_text().splitlines())
    assert seen == {f"kube_token={reader}", f"kube_endpoint={CREDENTIALS['KUBE_ENDPOINT']}", "digitalocean_token="}
    report = (tmp_path / "runner_temp" / "report" / "app-staging.md").read_text()
    assert reader not in report


def test_cluster_and_platform_plan_with_the_digitalocean_read_token_and_refresh(
    diff: dict[str, Any], tmp_path: Path
) -> None:
    work = plan_checkout(tmp_path / "work", "platform", {})
    result = run_plan_step(
        diff, work, tmp_path, plan_exit=0, secrets=CREDENTIALS, stack="platform", environment="production"
    )
    assert result.returncode == 0, result.text
    assert "-refresh=false" not in (tmp_path / "tf-calls").read_text()
    seen = set((tmp_path / "tf-calls.credentials").read_text().splitlines())
    assert seen == {"kube_token=", "kube_endpoint=", f"digitalocean_token={CREDENTIALS['DIGITALOCEAN_TOKEN']}"}
    report = (tmp_path / "runner_temp" / "report" / "platform.md").read_text()
    assert plan_report.NO_REFRESH_NOTE not in report


def test_plan_stack_refuses_a_digitalocean_token_given_to_an_app_stack(plan_workspace: Path, tmp_path: Path) -> None:
    """Seeded: a workflow that hands the DigitalOcean token to an app stack's plan after all. plan_stack.sh's
    credential check (require_tf_vars --stack-credentials) refuses it before Terraform runs."""
    stub_command(tmp_path / "bin", "terraform", f'echo "$@" >> "{tmp_path}/tf-calls"\n')
    env = {
        "STACK": "app-staging",
        "ENVIRONMENT": "staging-plan",
        "PLAN_KIND": "changes",
        "COMMIT": HEAD,
        "IMAGE_COMMIT": BASE,
        "REPORT": str(tmp_path / "report.md"),
        "SECRETS_DIGEST_KEY": "plan-placeholder-digest-key-is-not-secret",
        "DIGITALOCEAN_TOKEN": CREDENTIALS["DIGITALOCEAN_TOKEN"],
        "AWS_ACCESS_KEY_ID": CREDENTIALS["SPACES_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["SPACES_SECRET_ACCESS_KEY"],
        **{f"TF_VAR_{name}": CREDENTIALS[name.upper()] for name in KUBE_VARIABLES},
    }
    result = run_script(
        "bash .github/scripts/plan_stack.sh",
        env=env,
        cwd=plan_workspace,
        tmp_path=tmp_path,
        path_prepend=tmp_path / "bin",
    )
    assert result.returncode == 0, result.text
    assert result.outputs == {"status": "1"}
    assert not (tmp_path / "tf-calls").exists()
    assert "::error title=Credential refused: DIGITALOCEAN_TOKEN::stack app-staging must not receive" in result.stdout


def test_plan_step_never_receives_an_app_secret(diff: dict[str, Any], plan_workspace: Path, tmp_path: Path) -> None:
    """Even with the real secrets in the environment, terraform plans with the placeholder, and says so."""
    real = "postgres://user:hunter2-very-secret@db/todo"
    result = run_plan_step(
        diff, plan_workspace, tmp_path, plan_exit=2, secrets={**CREDENTIALS, "DATABASE_URL": real}, plan_text="x\n"
    )
    assert result.returncode == 0, result.text
    seen = set((tmp_path / "tf-calls.env").read_text().splitlines())
    placeholder_key = step_named(diff["jobs"]["plan"], "terraform plan")["env"]["SECRETS_DIGEST_KEY"]
    carried = shape({"DATABASE_URL": "${var.database_url}"}, None)  # the Secret plan_checkout writes
    derived = revision(placeholder_key.encode(), {"database_url": plan_report.PLACEHOLDER}, carried)
    assert seen == {f"database_url={plan_report.PLACEHOLDER}", f"revision={derived}"}
    assert real not in result.text
    report = (tmp_path / "runner_temp" / "report" / "app-staging.md").read_text()
    assert plan_report.PLACEHOLDER_NOTE in report
    assert "revisions of the write-only Secrets" in report and "no plan ever shows a secret value" in report


def test_plan_job_reads_only_the_cloud_read_credentials(diff: dict[str, Any]) -> None:
    """The workflow runs the pull request's content: no app secret may be referenced by a plan job."""
    referenced = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", json.dumps(diff["jobs"]["plan"])))
    assert referenced == PLAN_SECRETS
    env = step_named(diff["jobs"]["plan"], "terraform plan")["env"]
    assert env["DIGITALOCEAN_TOKEN"] == "${{ !startsWith(matrix.stack, 'app-') && secrets.DIGITALOCEAN_TOKEN || '' }}"
    for secret in KUBE_SECRETS:
        expected = f"${{{{ startsWith(matrix.stack, 'app-') && secrets.{secret} || '' }}}}"
        assert env[f"TF_VAR_{secret.lower()}"] == expected
    assert env["AWS_ACCESS_KEY_ID"] == "${{ secrets.SPACES_ACCESS_KEY_ID }}"
    assert env["AWS_SECRET_ACCESS_KEY"] == "${{ secrets.SPACES_SECRET_ACCESS_KEY }}"
    # Only the plan jobs hold secrets at all (the comment job's token is GitHub's own).
    for job_id, job in diff["jobs"].items():
        if job_id != "plan":
            assert "secrets." not in json.dumps(job), job_id


def sensitive_variables(synth: Synth) -> set[str]:
    """Every sensitive variable of the synthesized stacks, plus one per app-secrets key."""
    declared = {
        name
        for stack in synth.stacks.values()
        for name, spec in (stack.get("variable") or {}).items()
        if spec.get("sensitive")
    }
    return declared | {app_secrets.variable_name(key) for key in app_secrets.APP_SECRET_KEYS}


def test_every_sensitive_variable_is_a_placeholder_in_plans(diff: dict[str, Any], synth: Synth) -> None:
    """The workflow gives a plan no TF_VAR_ value at all; plan_stack.sh exports the placeholder for every sensitive
    variable the synthesized stack declares, so a secret added to a stack can never reach a plan."""
    env = step_named(diff["jobs"]["plan"], "terraform plan")["env"]
    credentials = {name.removeprefix("TF_VAR_") for name in env if name.startswith("TF_VAR_")}
    assert credentials == set(KUBE_VARIABLES), "the only TF_VARs a plan job sets: the reader ServiceAccount"
    script = (GITHUB_DIR / "scripts" / "plan_stack.sh").read_text()
    assert set(re.findall(r"--keep (\w+)", script)) == credentials, "kept from placeholders: exactly those"
    exported: set[str] = set()
    for stack in synth.stacks.values():
        for line in plan_report.placeholder_exports(stack):
            name, _, value = line.removeprefix("export TF_VAR_").partition("=")
            assert value == plan_report.PLACEHOLDER
            exported.add(name)
    assert exported == sensitive_variables(synth)


def test_placeholder_exports_refuse_a_name_that_is_not_a_plain_variable() -> None:
    """The exports are eval'd by plan_stack.sh: a name that could carry shell syntax is refused, not printed."""
    assert plan_report.placeholder_exports({"variable": {"ok_name": {"sensitive": True}, "x": {}}}) == [
        "export TF_VAR_ok_name=plan-placeholder"
    ]
    with pytest.raises(ValueError, match="is not lower_snake_case"):
        plan_report.placeholder_exports({"variable": {"a;touch pwned": {"sensitive": True}}})


def test_placeholders_satisfy_the_required_variables_of_every_stack(synth: Synth) -> None:
    """require_tf_vars.py still guards plans: with no app secret given, no synthesized stack lacks a value once the
    step has exported the placeholders, the image tag and digests, and derived the revisions (as `dev.py revisions`
    does, from the placeholders)."""
    assert synth.stacks
    for stack_id, stack in synth.stacks.items():
        keep = set(KUBE_VARIABLES) if stack_id.startswith("app-") else set()
        exports = plan_report.placeholder_exports(stack, keep=keep)
        env = dict(line.removeprefix("export ").split("=", 1) for line in exports)
        env |= {f"TF_VAR_{name}": "set by the job" for name in keep}
        env |= {
            "TF_VAR_image_tag": f"sha-{BASE[:7]}",
            "TF_VAR_image_digests": json.dumps(images.placeholder_digests(images.load())),
            "SECRETS_DIGEST_KEY": "plan-placeholder-digest-key-is-not-secret",
        }
        derived = {
            f"TF_VAR_{name}": str(value) for name, value in revisions(stack, env, synth.workdir(stack_id)).items()
        }
        assert require_tf_vars.missing_variables(stack, env | derived) == [], stack_id


def test_plan_step_plans_the_base_commit_tag_with_placeholder_digests(
    diff: dict[str, Any], plan_workspace: Path, tmp_path: Path
) -> None:
    """Every service gets the public all-zero digest (a plan never resolves a real image), the tag is the base's."""
    result = run_plan_step(diff, plan_workspace, tmp_path, plan_exit=0, secrets=CREDENTIALS)
    assert result.returncode == 0, result.text
    seen = dict(line.split("=", 1) for line in (tmp_path / "tf-calls.images").read_text().splitlines())
    assert seen["image_tag"] == f"sha-{BASE[:7]}"
    placeholders = json.loads(seen["image_digests"])
    assert set(placeholders) == {entry["service"] for entry in images.load()["services"]}
    assert set(placeholders.values()) == {images.PLACEHOLDER_DIGEST}
    report = (tmp_path / "runner_temp" / "report" / "app-staging.md").read_text()
    assert plan_report.secret_values({"TF_VAR_image_digests": seen["image_digests"]}) == [], "public, not scrubbed"
    assert "image digests are the all-zero placeholder" in report


def test_plan_step_reports_a_failed_plan_and_the_job_then_fails(
    diff: dict[str, Any], plan_workspace: Path, tmp_path: Path
) -> None:
    result = run_plan_step(
        diff,
        plan_workspace,
        tmp_path,
        plan_exit=1,
        secrets=CREDENTIALS,
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


@pytest.mark.parametrize(
    ("stack", "environment", "absent", "error"),
    [
        ("app-staging", "staging", "SPACES_ACCESS_KEY_ID", "needs the secret SPACES_ACCESS_KEY_ID: set it in the"),
        (
            "app-staging",
            "staging",
            "SPACES_SECRET_ACCESS_KEY",
            "needs the secret SPACES_SECRET_ACCESS_KEY: set it in the",
        ),
        # The reader ServiceAccount is made of Terraform variables without default.
        ("app-staging", "staging", "KUBE_TOKEN", "needs TF_VAR_kube_token: set the secret KUBE_TOKEN in the"),
        ("app-staging", "staging", "KUBE_ENDPOINT", "needs TF_VAR_kube_endpoint: set the secret KUBE_ENDPOINT in the"),
        ("platform", "production", "DIGITALOCEAN_TOKEN", "needs the secret DIGITALOCEAN_TOKEN: set it in the"),
        ("platform", "production", "SPACES_ACCESS_KEY_ID", "needs the secret SPACES_ACCESS_KEY_ID: set it in the"),
    ],
)
def test_plan_step_does_not_plan_without_a_read_credential(  # noqa: PLR0917 - fixtures and parameters
    diff: dict[str, Any], tmp_path: Path, stack: str, environment: str, absent: str, error: str
) -> None:
    work = plan_checkout(tmp_path / "work", stack, KUBE_VARIABLES if stack.startswith("app-") else {})
    secrets = {name: value for name, value in CREDENTIALS.items() if name != absent}
    result = run_plan_step(diff, work, tmp_path, plan_exit=0, secrets=secrets, stack=stack, environment=environment)
    assert result.outputs == {"status": "1"}
    assert not (tmp_path / "tf-calls").exists()
    report = (tmp_path / "runner_temp" / "report" / f"{stack}.md").read_text()
    (line,) = [line for line in report.splitlines() if line.startswith("::error")]
    assert f"stack {stack} {error} GitHub environment '{environment}-plan'" in line


def test_an_app_stack_plan_needs_no_digitalocean_token(
    diff: dict[str, Any], plan_workspace: Path, tmp_path: Path
) -> None:
    """staging-plan holds no DigitalOcean token any more: app-staging plans without it."""
    secrets = {name: value for name, value in CREDENTIALS.items() if name != "DIGITALOCEAN_TOKEN"}
    result = run_plan_step(diff, plan_workspace, tmp_path, plan_exit=0, secrets=secrets)
    assert result.returncode == 0, result.text
    assert result.outputs == {"status": "0"}


def test_plan_step_still_refuses_a_required_variable_without_a_value(
    diff: dict[str, Any], plan_workspace: Path, tmp_path: Path
) -> None:
    """A stack variable without a default that the plan does not feed stops the plan, as before."""
    stack_json = plan_workspace / "cdktf.out" / "stacks" / "app-staging" / "cdk.tf.json"
    stack_json.write_text(json.dumps({"variable": {"database_url": {"sensitive": True}, "new_setting": {}}}))
    result = run_plan_step(diff, plan_workspace, tmp_path, plan_exit=0, secrets=CREDENTIALS)
    assert result.outputs == {"status": "1"}
    assert not (tmp_path / "tf-calls").exists()
    report = (tmp_path / "runner_temp" / "report" / "app-staging.md").read_text()
    assert "stack app-staging needs TF_VAR_new_setting" in report
    assert "TF_VAR_database_url" not in report


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


SECRET = "hunter2:p@ss/word+more"


@pytest.mark.parametrize(
    "printed",
    [
        SECRET,
        urllib.parse.quote(SECRET, safe=""),
        urllib.parse.quote_plus(SECRET),
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(b"user:" + SECRET.encode() + b"@host").decode(),
        base64.urlsafe_b64encode(b"ab" + SECRET.encode()).decode(),
        f"postgres://app:{urllib.parse.quote(SECRET, safe='')}@db.neon.tech/todo",
    ],
    ids=["as-is", "url-encoded", "form-encoded", "base64", "base64-inside", "base64-url-offset", "in-a-url"],
)
def test_report_scrubs_a_secret_in_every_form_a_plan_prints_it(printed: str) -> None:
    """Issue scenario: only exact values were scrubbed, so a secret printed base64- or URL-encoded (a dockerconfigjson,
    a connection string) reached the comment."""
    body = plan_report.render(
        stack="app-staging",
        exit_code=2,
        plan=f"  ~ data = {printed}\n",
        commit=HEAD,
        run_url="u",
        image_tag="-",
        environ={"TF_VAR_database_url": SECRET},
    )
    assert "***" in body
    for form in plan_report.variants(SECRET):
        assert form not in body
    assert "hunter2" not in body and "aHVudGVyMj" not in body


def test_report_does_not_scrub_ordinary_text_that_shares_a_short_fragment() -> None:
    """Fragments shorter than MIN_FRAGMENT are not scrubbed: a short secret's base64 would match ordinary words."""
    assert all(len(v) >= 4 for v in plan_report.variants("abcd"))
    assert plan_report.scrub("the plan: 1 to change", ["zzzz"]) == "the plan: 1 to change"


def test_report_notes_placeholders_only_when_the_plan_used_them() -> None:
    def body(environ: dict[str, str]) -> str:
        return str(
            plan_report.render(
                stack="app-staging", exit_code=2, plan="p\n", commit=HEAD, run_url="u", image_tag="-", environ=environ
            )
        )

    placeholders = {"TF_VAR_database_url": plan_report.PLACEHOLDER, "DIGITALOCEAN_TOKEN": "dop_v1_abcdef"}
    assert plan_report.PLACEHOLDER_NOTE in body(placeholders)
    assert plan_report.PLACEHOLDER_NOTE not in body({"TF_VAR_database_url": "postgres://real"})
    # The placeholder is public: it is not scrubbed, so the plan shows what was planned with.
    assert plan_report.secret_values(placeholders) == ["dop_v1_abcdef"]


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


@pytest.fixture
def preflight_workspace(tmp_path: Path) -> Path:
    """A checkout whose dev.py stands in for the preflight: writes a summary, then fails like a policy finding."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "dev.py").write_text(
        "import pathlib, sys\n"
        "out = pathlib.Path(sys.argv[sys.argv.index('--markdown') + 1])\n"
        "out.write_text('<!-- cdktf-diff:preflight -->\\n## Preflight: 1 failure\\n- CKV_K8S_1 in platform\\n')\n"
        "sys.exit(1)\n"
    )
    return work


def test_preflight_summary_reaches_the_run_page_even_when_the_preflight_fails(
    diff: dict[str, Any], preflight_workspace: Path, tmp_path: Path
) -> None:
    preflight = diff["jobs"]["preflight"]
    run = step_named(preflight, "python3 dev.py preflight")
    summary = step_named(preflight, "Preflight summary")
    names = [step.get("name") for step in steps(preflight)]
    assert names.index(summary["name"]) > names.index(run["name"])
    assert summary["if"] == "always()", "a failed preflight must still write its summary"
    failed = run_script(run["run"], env={}, cwd=preflight_workspace, tmp_path=tmp_path)
    assert failed.returncode == 1
    written = run_script(summary["run"], env={}, cwd=preflight_workspace, tmp_path=tmp_path)
    assert written.returncode == 0, written.text
    report = (tmp_path / "runner_temp" / "report" / "preflight.md").read_text()
    assert written.summary == report
    assert "## Preflight: 1 failure" in written.summary


def test_preflight_summary_step_explains_a_missing_report(diff: dict[str, Any], tmp_path: Path) -> None:
    summary = step_named(diff["jobs"]["preflight"], "Preflight summary")
    result = run_script(summary["run"], env={}, cwd=tmp_path, tmp_path=tmp_path)
    assert result.returncode == 0, result.text
    assert result.summary.startswith("Preflight wrote no summary")
