"""The preflight command on the repo as it is: it passes, shows progress, and reports tables, JSON, Markdown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from preflight.report import COMMENT_MARKER, CheckResult, render_text
from preflight.run import configuration
from tests import sandbox
from tests.docs.measurement_checks import MEASUREMENTS, figure_problems, quoted_figures
from tests.synth import Synth


@dataclass(frozen=True)
class Run:
    returncode: int
    report: dict[str, Any]
    stderr: str
    markdown: str


@pytest.fixture(scope="module")
def run(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> Run:
    copy, result = sandbox.preflight(
        tmp_path_factory.mktemp("preflight"), synth.outdir, "--json", "--markdown", "summary.md"
    )
    return Run(result.returncode, json.loads(result.stdout), result.stderr, (copy / "summary.md").read_text())


def results(run: Run) -> dict[str, CheckResult]:
    fields = ("name", "title", "headers", "rows", "problems", "figures")
    return {c["name"]: CheckResult(**{k: c[k] for k in fields}) for c in run.report["checks"]}


def test_preflight_passes_on_the_repo(run: Run) -> None:
    problems = {c["name"]: c["problems"] for c in run.report["checks"]}
    assert run.returncode == 0, problems
    assert run.report["ok"] is True
    assert [c["name"] for c in run.report["checks"]] == [
        "configuration",
        "terraform",
        "policy",
        "consistency",
        "secrets",
        "access",
        "runtime",
        "capacity",
        "node-loss",
        "cost",
    ]


def test_progress_is_shown_while_it_runs(run: Run) -> None:
    steps = [line for line in run.stderr.splitlines() if line.startswith("preflight: ")]
    assert len(steps) >= 3
    assert any("checkov" in step for step in steps)


def test_policy_scanned_all_three_frameworks_with_no_failure(run: Run) -> None:
    policy = results(run)["policy"]
    scanned = {row[0]: int(row[1]) for row in policy.rows}
    assert set(scanned) == {"terraform_json", "kubernetes", "github_actions"}
    assert all(passed > 0 for passed in scanned.values())
    assert all(row[2] == "0" for row in policy.rows)


def test_terraform_loaded_every_stack(run: Run, synth: Synth) -> None:
    terraform = results(run)["terraform"]
    assert [row[0] for row in terraform.rows] == list(synth.manifest["stacks"])
    assert all(row[2] == "ok" for row in terraform.rows)
    assert terraform.title.startswith("Terraform 1.11.4 ")


def test_capacity_and_cost_figures_are_reported(run: Run) -> None:
    checks = results(run)
    capacity, cost = checks["capacity"].figures, checks["cost"].figures
    assert 0 < capacity["min_memory_used_pct"] <= 85
    assert capacity["min_memory_used_pct"] < capacity["min_fullest_node_memory_pct"] <= 85
    assert 0 < capacity["min_fullest_node_cpu_pct"] <= 85
    assert 0 < capacity["min_cpu_used_pct"] <= 85
    assert capacity["min_headroom_pct"] >= 0
    assert 0 < cost["usd_per_month_min"] < cost["usd_per_month_max"]


def test_the_measurements_page_quotes_the_figures_of_this_run(run: Run) -> None:
    """docs/measurements.md quotes capacity, node loss and cost of the default configuration: they are this run's
    (seeded drifts: tests/docs/test_measurements.py)."""
    reported = {check: result.figures for check, result in results(run).items()}
    assert figure_problems(quoted_figures(MEASUREMENTS.read_text()), reported) == []


def test_text_report_is_a_table_per_check_then_one_summary_line(run: Run) -> None:
    text = render_text(list(results(run).values()))
    assert text.count("\n== ") + text.startswith("== ") == 10
    assert text.splitlines()[-1] == (
        "PREFLIGHT PASSED: configuration ok, terraform ok, policy ok, consistency ok, secrets ok, access ok, "
        "runtime ok, capacity ok, node-loss ok, cost ok"
    )


def test_markdown_summary_is_marked_for_the_pull_request_comment(run: Run) -> None:
    lines = run.markdown.splitlines()
    assert lines[0] == COMMENT_MARKER
    assert "PREFLIGHT PASSED" in lines[1]
    assert len(lines) == 5 + len(run.report["checks"]), "a short section: one row per check, not the whole report"


def test_the_retired_edge_gets_one_warning_line_naming_its_retirement(synth: Synth, variant: Synth) -> None:
    """Seeded: the variant selects ingress-nginx; the default (Envoy Gateway) gets no warning."""
    assert configuration(synth).warnings == []
    assert dict(configuration(synth).rows)["edge"] == "envoy-gateway"
    result = configuration(variant)
    assert dict(result.rows)["edge"] == "ingress-nginx"
    # the variant selects Promtail too: one line for each
    (warning,) = [line for line in result.warnings if line.startswith("edge ")]
    assert len(result.warnings) == 2
    assert "\n" not in warning and warning.startswith("edge ingress-nginx is retired upstream: chart 4.15.1")
    assert result.ok, "a warning, not a failure: the operator chose it"
    assert f"  ! warning: {warning}" in render_text([result]).splitlines()


def test_the_configuration_checked_is_what_was_synthesized(variant: Synth) -> None:
    """Preflight reports the configuration its checks ran on: with TODO_* overrides, those."""
    rows = dict(configuration(variant).rows)
    assert rows["region"] == "nyc3"
    assert rows["HA control plane"] == "on"
    assert rows["hosts"] == "staging.todo.todo-demo.dev, todo.todo-demo.dev"
    assert rows["state backend"] == "local"
    assert rows["state buckets"] == "—"
    assert rows["backup buckets"] == (
        "app-production → acme-todo-backups-production, app-staging → acme-todo-backups-staging"
    )
    assert rows["nodes"] == "s-2vcpu-4gb × 3–5 (autoscaling)"


def test_the_default_log_shipper_draws_no_warning(run: Run) -> None:
    assert not [line for line in run.stderr.splitlines() if line.startswith("preflight: warning:")]


def test_selecting_promtail_prints_one_warning_line_naming_its_end_of_life(variant: Synth, tmp_path: Path) -> None:
    """The variant selects Promtail (tests/synth.py): preflight still passes, and says once that it is end of life."""
    _, result = sandbox.preflight(tmp_path, variant.outdir, "--json")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("preflight: warning:")]
    shipper = [line for line in warnings if "Promtail" in line]
    assert len(shipper) == 1, result.stderr[-2000:]
    assert "Promtail, which reached end of life on 2026-03-02" in shipper[0]
    # The variant also selects the retired edge: one line each, and the same lines in the JSON report.
    assert len(warnings) == 2 and any("edge ingress-nginx is retired upstream" in line for line in warnings)
    reported = json.loads(result.stdout)["checks"][0]["warnings"]
    assert [f"preflight: warning: {line}" for line in reported] == warnings
