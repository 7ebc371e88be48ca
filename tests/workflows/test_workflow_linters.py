"""The workflows pass GitHub's workflow schema, zizmor and actionlint, offline; each exception is the justified one."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.workflows.gha_support import GITHUB_DIR, REPO, WORKFLOWS_DIR, find_tool
from todo_infra import yamlload

ZIZMOR_CONFIG = GITHUB_DIR / "zizmor.yml"
ACTIONLINT_CONFIG = GITHUB_DIR / "actionlint.yaml"
#: The findings .github/zizmor.yml silences, each with its reason written there: (audit, file).
JUSTIFIED = {
    ("dangerous-triggers", "deploy-staging.yml"),
    ("self-repository", "deploy-staging.yml"),
    ("self-repository", "deploy-production.yml"),
    ("self-repository", "deploy-infrastructure.yml"),
}


def check_jsonschema(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [find_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def zizmor(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            find_tool("zizmor"),
            "--offline",
            "--no-progress",
            "--color=never",
            "--strict-collection",
            "--collect=workflows",
            *args,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def finding_file(finding: dict[str, Any]) -> str:
    """The workflow file a zizmor JSON finding is in."""
    key = finding["locations"][0]["symbolic"]["key"]["Local"]
    return Path(key.get("verbatim_path") or key["given_path"]).name


def test_every_workflow_validates_against_the_github_workflow_schema() -> None:
    paths = sorted(WORKFLOWS_DIR.glob("*.y*ml"))
    result = check_jsonschema(*paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """The vendored schema is really loaded offline: a job without runs-on or uses is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps:\n      - run: echo hi\n")
    result = check_jsonschema(broken)
    assert result.returncode == 1, result.stdout + result.stderr


def test_zizmor_reports_no_finding_with_the_pedantic_persona() -> None:
    result = zizmor("--persona=pedantic", f"--config={ZIZMOR_CONFIG}", ".")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout, result.stdout


def test_zizmor_exceptions_are_exactly_the_justified_ones() -> None:
    """Without the config, zizmor finds only what .github/zizmor.yml silences, and nothing else."""
    result = zizmor("--persona=pedantic", "--no-config", "--format=json", ".")
    findings = json.loads(result.stdout)
    found = {(f["ident"], finding_file(f)) for f in findings}
    assert found == JUSTIFIED


def test_every_zizmor_exception_is_explained_in_the_config() -> None:
    text = ZIZMOR_CONFIG.read_text()
    config = yamlload.load(text)
    for audit in config["rules"]:
        block = text[text.index(f"  {audit}:") :]
        assert "#" in block.split("\n", 3)[1] + block.split("\n", 3)[2], f"{audit}: no reason given"
    assert {audit for audit, _ in JUSTIFIED} == set(config["rules"])


def test_zizmor_finds_injection_and_unpinned_actions_offline(tmp_path: Path) -> None:
    """zizmor really audits here: an injectable, unpinned workflow is reported."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "on: pull_request\npermissions: {}\njobs:\n  bad:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v5\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    result = zizmor("--no-config", "--format=json", ".", cwd=tmp_path)
    idents = {f["ident"] for f in json.loads(result.stdout)}
    assert {"template-injection", "unpinned-uses", "artipacked"} <= idents


# --- actionlint ---------------------------------------------------------------------------------------


def actionlint(*paths: Path, cwd: Path = REPO, config: Path = ACTIONLINT_CONFIG) -> subprocess.CompletedProcess[str]:
    """actionlint with this repo's config. Its shellcheck and pyflakes integrations are off: neither tool is pinned
    in Pipfile.lock, and a check that depends on what a machine happens to have installed is not reproducible."""
    return subprocess.run(
        [
            find_tool("actionlint"),
            "-no-color",
            "-oneline",
            "-shellcheck=",
            "-pyflakes=",
            f"-config-file={config}",
            *map(str, paths),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_actionlint_reports_no_finding() -> None:
    result = actionlint(*sorted(WORKFLOWS_DIR.glob("*.y*ml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_actionlint_is_the_current_fork_that_knows_vars_and_ubuntu_24_04() -> None:
    version = subprocess.run(
        [find_tool("actionlint"), "-version"], check=False, capture_output=True, text=True, timeout=30
    ).stdout
    assert version.splitlines()[0].endswith(" 1.17.0"), version


def seeded(tmp_path: Path, workflow: str) -> subprocess.CompletedProcess[str]:
    """actionlint over one workflow written into a scratch repository, with this repo's config."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "seeded.yml").write_text(workflow)
    return actionlint(workflows / "seeded.yml", cwd=tmp_path)


SEEDED_HEAD = "on:\n  workflow_dispatch:\npermissions: {}\njobs:\n  job:\n    runs-on: ubuntu-24.04\n"


def test_actionlint_finds_an_unknown_secret_and_a_missing_timeout_offline(tmp_path: Path) -> None:
    """The config's lists and policies are really applied: a typo in a secret name and a job without
    timeout-minutes or permissions are reported."""
    result = seeded(tmp_path, SEEDED_HEAD + '    steps:\n      - run: echo "${{ secrets.DATABSE_URL }}"\n')
    assert result.returncode == 1
    assert 'undefined secret "databse_url"' in result.stdout
    assert "[require-job-timeout]" in result.stdout
    assert "[require-permissions]" in result.stdout


def test_actionlint_finds_an_unrestricted_cache_in_a_workflow_run_call(tmp_path: Path) -> None:
    """The fork's cache rule, the one finding it had here before `cache-mode: none`, still fires when it is missing."""
    result = seeded(
        tmp_path,
        "on:\n  workflow_run:\n    workflows: [build]\n    types: [completed]\npermissions: {}\njobs:\n"
        "  call:\n    permissions: {}\n    uses: ./.github/workflows/called.yml\n",
    )
    assert "[cache-call-unrestricted]" in result.stdout, result.stdout + result.stderr


def test_actionlint_config_lists_exactly_the_names_the_workflows_use() -> None:
    """config-secrets and config-variables are the contract an operator fulfils (docs/workflows.md lists them): no stale
    entry, and nothing the workflows read missing (actionlint reports that one)."""
    config = yamlload.load(ACTIONLINT_CONFIG.read_text())
    text = "\n".join(path.read_text() for path in sorted(WORKFLOWS_DIR.glob("*.y*ml")))
    used_secrets = set(re.findall(r"secrets\.([A-Z][A-Z0-9_]*)", text)) - {"GITHUB_TOKEN"}
    used_variables = set(re.findall(r"vars\.([A-Z][A-Z0-9_]*)", text))
    assert set(config["config-secrets"]) == used_secrets
    assert set(config["config-variables"]) == used_variables
