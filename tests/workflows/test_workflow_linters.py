"""The workflows pass GitHub's workflow schema and zizmor, offline; each zizmor exception is the justified one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.workflows.gha_support import GITHUB_DIR, REPO, WORKFLOWS_DIR, find_tool

ZIZMOR_CONFIG = GITHUB_DIR / "zizmor.yml"
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
    config = yaml.safe_load(text)
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
