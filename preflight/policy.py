"""Policy: checkov over the synthesized stacks, the rendered manifests and the workflows, in one run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from preflight.render import RenderedRelease
from preflight.report import CheckResult
from preflight.synth import Synthesized

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = ("terraform_json", "kubernetes", "github_actions")


def stage(synth: Synthesized, releases: Iterable[RenderedRelease], workflows: Path, folder: Path) -> None:
    """Lay out everything checkov scans under one folder (one run, one report per framework): the stacks'
    Terraform JSON without their assets (raw Helm templates are not manifests), the rendered manifests,
    and the workflows under .github/workflows, where checkov's github_actions framework looks."""
    for stack_id in synth.manifest["stacks"]:
        target = folder / "stacks" / stack_id / "cdk.tf.json"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(_checkov_readable(synth.stacks[stack_id]), indent=2))
    (folder / "manifests").mkdir()
    for release in releases:
        path = folder / "manifests" / f"{release.stack}-{release.release}.yaml"
        path.write_text(yaml.safe_dump_all(release.manifests, sort_keys=False))
    shutil.copytree(workflows, folder / ".github" / "workflows")


def _checkov_readable(stack: Mapping[str, Any]) -> dict[str, Any]:
    """The stack without the `terraform` block's plain settings (required_version): checkov 3.3's terraform_json
    parser accepts only nested blocks there ("this method receives only dicts") and would skip the whole file.
    No checkov policy reads them; Terraform itself checks the version (preflight's terraform check). Likewise the
    `removed` blocks (a Terraform 1.7 block checkov 3.3 cannot parse; they hold no resource, and Terraform loads them
    in the terraform check)."""
    readable = {key: value for key, value in stack.items() if key != "removed"}
    readable["terraform"] = {k: v for k, v in stack.get("terraform", {}).items() if isinstance(v, dict)}
    return readable


def run_in(command: list[str], folder: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `command` in `folder`, which holds everything it reads, with `env` only. The test suite keeps these runs
    between its runs under a SHA-256 of the folder (tests/kept_runs.py)."""
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder, env=dict(env))


def run_checkov(work: Path, skips: Mapping[str, str]) -> list[dict[str, Any]]:
    """checkov's JSON reports over `work`/scan, one per framework that found something to scan. checkov gets an
    empty home of its own (`work`/home) and no variable but PATH: it reads `$HOME/.checkov.yaml` and `CKV_*`
    variables, with which an operator's own settings would quietly skip paths or checks preflight requires."""
    home = work / "home"
    home.mkdir(exist_ok=True)
    command = [
        str(Path(sys.executable).parent / "checkov"),
        "--framework",
        *FRAMEWORKS,
        "--skip-download",
        "--quiet",
        "--compact",
        "--output",
        "json",
        "--directory",
        str(work / "scan"),
    ]
    if skips:
        command += ["--skip-check", ",".join(sorted(skips))]
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home), "LANG": "C.UTF-8"}
    result = run_in(command, work, env)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"checkov failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def unexplained_skips(skips: Mapping[str, str | None]) -> list[str]:
    return [check for check, why in skips.items() if not str(why or "").strip()]


def check_policy(
    synth: Synthesized, releases: Iterable[RenderedRelease], config: Mapping[str, Any], *, workflows: Path
) -> CheckResult:
    skips: Mapping[str, str] = config.get("skip") or {}
    problems = [f"skip {check} has no written reason in preflight/config.yaml" for check in unexplained_skips(skips)]
    with tempfile.TemporaryDirectory(prefix="preflight-policy-") as work:
        (Path(work) / "scan").mkdir()
        stage(synth, releases, workflows, Path(work) / "scan")
        try:
            reports = run_checkov(Path(work), skips)
        except (RuntimeError, json.JSONDecodeError) as error:
            reports = []
            problems.append(f"checkov did not run to the end: {str(error).splitlines()[0][:300]}")
    rows = []
    for report in reports:
        summary = report.get("summary", {})
        rows.append(
            [
                report.get("check_type", "?"),
                str(summary.get("passed", 0)),
                str(summary.get("failed", 0)),
                str(summary.get("skipped", 0)),
                str(summary.get("parsing_errors", 0)),
            ]
        )
        for failed in report.get("results", {}).get("failed_checks", []):
            where = Path(failed.get("file_path", "")).name
            problems.append(f"{failed['check_id']} {failed['check_name']}: {failed['resource']} ({where})")
        if summary.get("parsing_errors"):
            problems.append(f"{report.get('check_type')}: checkov could not parse {summary['parsing_errors']} file(s)")
    scanned = {row[0] for row in rows}
    problems += [f"checkov scanned nothing for {framework}" for framework in FRAMEWORKS if framework not in scanned]
    return CheckResult(
        name="policy",
        title="Policy (checkov, skips only in preflight/config.yaml)",
        headers=["framework", "passed", "failed", "skipped", "parse errors"],
        rows=rows,
        problems=problems,
        figures={"skipped_checks": sorted(skips)},
    )
