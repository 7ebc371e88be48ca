"""The nine alerts, judged by Prometheus's own rule engine: `promtool test rules` over the PrometheusRule each
environment renders, with the unit tests of alerts.test.yaml (thresholds, durations, severities, labels, and the
other environment's namespace ignored)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import toolchain
from preflight.render import RenderedRelease, render_app_release
from tests import kept_runs
from tests.synth import Synth
from todo_infra import yamlload
from todo_infra.contracts import app_stack_id

TESTS = Path(__file__).resolve().parent / "alerts.test.yaml"
OTHER = {"staging": "production", "production": "staging"}


@pytest.fixture(scope="module")
def releases(synth: Synth) -> dict[str, RenderedRelease]:
    return {env: render_app_release(synth, app_stack_id(env)) for env in OTHER}


def rule_groups(release: RenderedRelease, *, annotations: bool = True) -> dict[str, Any]:
    """The rendered PrometheusRule as a Prometheus rule file; without annotations for the unit tests, which judge
    when and with which labels an alert fires (the annotations' templates are checked by `promtool check rules`)."""
    (rule,) = release.of_kind("PrometheusRule")
    groups = yamlload.load(yaml.safe_dump(rule["spec"]["groups"]))
    if not annotations:
        for group in groups:
            for item in group["rules"]:
                item.pop("annotations", None)
    return {"groups": groups}


def promtool_test(folder: Path, rules: dict[str, Any], namespace: str) -> subprocess.CompletedProcess[str]:
    """Run alerts.test.yaml against `rules` for `namespace`, in a folder of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    text = TESTS.read_text().replace("OTHER_NAMESPACE", OTHER[namespace]).replace("NAMESPACE", namespace)
    (folder / "alerts.test.yaml").write_text(text)
    return kept_runs.run([toolchain.find("promtool"), "test", "rules", "alerts.test.yaml"], folder, env={}, timeout=120)


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_promtool_passes_the_alert_unit_tests(
    releases: dict[str, RenderedRelease], tmp_path: Path, environment: str
) -> None:
    result = promtool_test(tmp_path, rule_groups(releases[environment], annotations=False), environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_checks_the_rendered_rules(releases: dict[str, RenderedRelease], tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule_groups(releases["production"]), sort_keys=False))
    result = kept_runs.run([toolchain.find("promtool"), "check", "rules", path.name], tmp_path, env={}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def _with_expr(rules: dict[str, Any], alert: str, expr: str) -> dict[str, Any]:
    changed: dict[str, Any] = yamlload.load(yaml.safe_dump(rules))
    for group in changed["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["expr"] = expr
    return changed


def test_increase_would_fire_at_exactly_three_restarts(releases: dict[str, RenderedRelease], tmp_path: Path) -> None:
    """Seeded failure: PodCrashLooping counting restarts with increase(), as main had it. increase() extrapolates
    3 restarts to slightly more than 3, so the pod that restarted exactly 3 times alerts, and promtool says so."""
    rules = rule_groups(releases["staging"], annotations=False)
    (crash,) = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "PodCrashLooping"]
    restarts = 'kube_pod_container_status_restarts_total{namespace="staging"}'
    exact = f"max_over_time({restarts}[1h]) - min_over_time({restarts}[1h])"
    assert exact in crash["expr"]
    result = promtool_test(
        tmp_path,
        _with_expr(rules, "PodCrashLooping", crash["expr"].replace(exact, f"increase({restarts}[1h])")),
        "staging",
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "alertname: PodCrashLooping" in output
    assert 'pod="todo-app-mcp-5c8b9d7f6b-q9w2z"' in output.split("got:", 1)[1]


def test_a_rule_that_ignores_the_namespace_fails(releases: dict[str, RenderedRelease], tmp_path: Path) -> None:
    """Seeded failure: production's HighMemory without its namespace matcher also alerts on staging's pods."""
    rules = rule_groups(releases["production"], annotations=False)
    (memory,) = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "HighMemory"]
    result = promtool_test(
        tmp_path, _with_expr(rules, "HighMemory", memory["expr"].replace('namespace="production", ', "")), "production"
    )
    assert result.returncode != 0
    assert "HighMemory" in result.stdout + result.stderr


def test_a_sidecar_check_without_the_running_clause_pages_for_pending_pods(
    releases: dict[str, RenderedRelease], tmp_path: Path
) -> None:
    """Seeded failure: DaprSidecarMissing as a bare `annotated unless daprd` also fires for a pod that has no
    containers yet (Pending), which PodNotReady already reports."""
    rules = rule_groups(releases["staging"], annotations=False)
    (missing,) = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "DaprSidecarMissing"]
    running = ' and on (namespace, pod) kube_pod_container_info{namespace="staging"}'
    assert running in missing["expr"]
    result = promtool_test(
        tmp_path, _with_expr(rules, "DaprSidecarMissing", missing["expr"].replace(running, "")), "staging"
    )
    assert result.returncode != 0
    assert 'pod="todo-app-mcp-5c8b9d7f6b-q9w2z"' in (result.stdout + result.stderr).split("got:", 1)[1]


def _rule(rules: dict[str, Any], alert: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == alert]
    (rule,) = found
    return rule


def test_a_backup_check_over_the_last_success_alone_misses_a_backup_that_never_succeeded(
    releases: dict[str, RenderedRelease], tmp_path: Path
) -> None:
    """Seeded failure: RedisBackupStale without its creation-time fallback. kube-state-metrics exports no
    kube_cronjob_status_last_successful_time until a run has succeeded, so a backup that has failed since it was
    created never alerts, and promtool says so."""
    rules = rule_groups(releases["staging"], annotations=False)
    stale = _rule(rules, "RedisBackupStale")
    created = (
        ' or max by (namespace, cronjob) (kube_cronjob_created{namespace="staging", cronjob="todo-app-redis-backup"})'
    )
    assert created in stale["expr"]
    result = promtool_test(
        tmp_path, _with_expr(rules, "RedisBackupStale", stale["expr"].replace(created, "")), "staging"
    )
    assert result.returncode != 0
    # Only the backup that never succeeded goes unnoticed: expected at 2h10m, got nothing.
    failures = (result.stdout + result.stderr).replace(" ", "").split("alertname:")[1:]
    assert [failure.split(",", 2)[:2] for failure in failures] == [["RedisBackupStale", "time:2h10m"]]
    assert 'cronjob="todo-app-redis-backup"' in failures[0] and "got:[]" in failures[0]


def test_a_backup_check_over_every_cronjob_pages_for_the_suspended_restore(
    releases: dict[str, RenderedRelease], tmp_path: Path
) -> None:
    """Seeded failure: RedisBackupStale without its cronjob matcher also fires for the restore CronJob, which is
    suspended, never runs and so never succeeds."""
    rules = rule_groups(releases["production"], annotations=False)
    stale = _rule(rules, "RedisBackupStale")
    scope = ', cronjob="todo-app-redis-backup"'
    assert stale["expr"].count(scope) == 2
    result = promtool_test(
        tmp_path, _with_expr(rules, "RedisBackupStale", stale["expr"].replace(scope, "")), "production"
    )
    assert result.returncode != 0
    assert 'cronjob="todo-app-redis-restore"' in (result.stdout + result.stderr).split("got:", 1)[1]


def test_readiness_alone_pages_for_completed_backup_pods_and_misses_pending_ones(
    releases: dict[str, RenderedRelease], tmp_path: Path
) -> None:
    """Seeded failure: PodNotReady as main had it, the Ready condition alone. The backup Job's completed pod reports
    Ready=false and pages all day, and the unscheduled pod, which has no Ready condition, never does."""
    rules = rule_groups(releases["staging"], annotations=False)
    not_ready = _rule(rules, "PodNotReady")
    ready = 'min by (namespace, pod) (kube_pod_status_ready{namespace="staging", condition="true"})'
    assert not_ready["expr"].startswith(f"label_replace({ready} and on (namespace, pod) (")
    start = len("label_replace(") + len(ready)
    end = not_ready["expr"].index(', "service"')
    result = promtool_test(
        tmp_path,
        _with_expr(rules, "PodNotReady", not_ready["expr"][:start] + not_ready["expr"][end:]),
        "staging",
    )
    assert result.returncode != 0
    output = (result.stdout + result.stderr).replace(" ", "")
    failures = [f for f in output.split("alertname:")[1:] if f.startswith("PodNotReady")]
    assert failures
    for failure in failures:
        expected, got = failure.split("got:", 1)
        assert 'pod="todo-app-redis-backup-29420837-q7x2m"' in got
        assert 'pod="todo-app-mcp-5c8b9d7f6b-q9w2z"' in expected and 'pod="todo-app-mcp-5c8b9d7f6b-q9w2z"' not in got


def test_an_init_failure_window_as_long_as_for_fires_after_the_component_loaded(
    releases: dict[str, RenderedRelease], tmp_path: Path
) -> None:
    """Seeded failure: DaprComponentInitFailing over increase(...[5m]) with for 5m, as main had it. The window keeps
    the condition true 5 minutes after the last failure, so five failed attempts (0m .. 4m) fire at 6m, after the
    component had loaded (and keeps firing after it)."""
    rules = rule_groups(releases["staging"], annotations=False)
    failing = _rule(rules, "DaprComponentInitFailing")
    assert "[2m]" in failing["expr"]
    result = promtool_test(
        tmp_path, _with_expr(rules, "DaprComponentInitFailing", failing["expr"].replace("[2m]", "[5m]")), "staging"
    )
    assert result.returncode != 0
    failures = (result.stdout + result.stderr).replace(" ", "").split("alertname:")[1:]
    # five attempts fire at 6m; at 7m both boundary pods still fire, a failure that stopped at 5m or 4m
    assert [failure.split(",", 2)[:2] for failure in failures] == [
        ["DaprComponentInitFailing", "time:6m"],
        ["DaprComponentInitFailing", "time:7m"],
    ]
    assert 'app_id="sse-gateway"' in failures[0].split("got:", 1)[1]
    assert 'app_id="mcp"' in failures[1].split("got:", 1)[1]


def test_a_26_hour_backup_threshold_pages_for_one_failed_run(
    releases: dict[str, RenderedRelease], tmp_path: Path
) -> None:
    """Seeded failure: RedisBackupStale at 26 hours, as main had it. With a daily run, one failure leaves the last
    success up to 48 hours old when the next run succeeds: the alert pages about 2 hours after the failed run."""
    rules = rule_groups(releases["staging"], annotations=False)
    stale = _rule(rules, "RedisBackupStale")
    assert stale["expr"].endswith("/ 3600 > 50")
    result = promtool_test(
        tmp_path, _with_expr(rules, "RedisBackupStale", stale["expr"].removesuffix("50") + "26"), "staging"
    )
    assert result.returncode != 0
    failures = (result.stdout + result.stderr).replace(" ", "").split("alertname:")[1:]
    # one failed run then a good one: paged at 1h10m (last success 48h10m old)
    assert ["RedisBackupStale", "time:1h10m"] in [failure.split(",", 2)[:2] for failure in failures]
