"""The judgments of .github/scripts/e2e_checks.py, offline, against fixtures shaped like kubectl's and Prometheus'
answers: each accepts the healthy case and names the broken one (the e2e workflow itself needs kind and Docker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.workflows.gha_support import WORKFLOWS_DIR, load_script
from todo_infra import yamlload
from todo_infra.chart_values import base_values
from todo_infra.contracts import app_component_name

ROOT = Path(__file__).resolve().parents[2]

e2e = load_script("e2e_checks")
DAPR_APPS = [name for name, spec in base_values()["services"].items() if spec["dapr"]["enabled"]]
MONITORED = [name for name, spec in base_values()["services"].items() if spec["metrics"]["enabled"]]


def pod(component: str, *, ready: bool = True, daprd: bool | None = None, owner: str = "ReplicaSet") -> dict[str, Any]:
    containers = [{"name": component, "ready": ready, "restartCount": 0}]
    if daprd is not None:
        containers.append({"name": "daprd", "ready": daprd, "restartCount": 0})
    return {
        "metadata": {
            "name": f"{app_component_name(component)}-5d8f-x2k4q",
            "uid": f"uid-{component}",
            "labels": {"app.kubernetes.io/component": component, "app.kubernetes.io/version": "v0.0.0-e2e"},
            "ownerReferences": [{"kind": owner}],
        },
        "status": {"phase": "Running", "containerStatuses": containers},
    }


def healthy_pods() -> dict[str, Any]:
    items = [pod(name, daprd=True if name in DAPR_APPS else None) for name in base_values()["services"]]
    return {"items": [*items, pod("redis"), pod("redis-backup", ready=False, owner="Job")]}


def test_pods_healthy_and_every_failure_named() -> None:
    assert e2e.judge_pods(healthy_pods(), DAPR_APPS) == []
    broken = healthy_pods()
    broken["items"][1] = pod("backend", daprd=False)
    broken["items"][0] = pod("frontend", ready=False)
    broken["items"] = [p for p in broken["items"] if p["metadata"]["labels"]["app.kubernetes.io/component"] != "mcp"]
    problems = e2e.judge_pods(broken, DAPR_APPS)
    assert any("frontend" in p and "not Ready" in p for p in problems)
    assert any("backend has no ready daprd" in p for p in problems)
    assert "no pod of mcp" in problems


@pytest.mark.parametrize("route", base_values()["ingress"]["routes"])
def test_a_route_answered_by_its_stand_in_passes(route: dict[str, Any]) -> None:
    body = json.dumps({"hostname": f"{app_component_name(route['service'])}-7c9d-abcde"})
    assert e2e.judge_route(route["path"], route["service"], 200, body) is None
    assert e2e.judge_route(route["path"], route["service"], 404, "404 page not found\n") is None


def test_a_route_the_edge_answers_itself_or_misroutes_fails() -> None:
    edge_404 = "<html><head><title>404 Not Found</title></head><body><center>nginx</center></body></html>"
    assert "from the edge" in e2e.judge_route("/mcp/", "mcp", 404, edge_404)
    assert "from the edge" in e2e.judge_route("/api/", "backend", 503, "Service Temporarily Unavailable")
    other = json.dumps({"hostname": f"{app_component_name('frontend')}-7c9d-abcde"})
    assert "not todo-app-backend" in e2e.judge_route("/api/", "backend", 200, other)


def targets(health: dict[str, str]) -> dict[str, Any]:
    active = [
        {"labels": {"namespace": "staging", "service": app_component_name(name)}, "health": value}
        for name, value in health.items()
    ]
    return {"data": {"activeTargets": active}}


def test_prometheus_targets_up_and_missing_or_down_named() -> None:
    assert e2e.judge_targets(targets(dict.fromkeys(MONITORED, "up")), "staging", MONITORED) == []
    down = dict.fromkeys(MONITORED, "up") | {MONITORED[0]: "down"}
    del down[MONITORED[-1]]
    problems = e2e.judge_targets(targets(down), "staging", MONITORED)
    assert problems == [
        f"{app_component_name(MONITORED[0])}: targets ['down'], not all up",
        f"Prometheus has no target for {app_component_name(MONITORED[-1])}",
    ]


def test_alerts_loaded_or_named() -> None:
    rule = {"items": [{"spec": {"groups": [{"rules": [{"alert": "HighErrorRate"}, {"record": "x"}]}]}}]}
    expected = e2e.prometheus_rule_alerts(rule)
    assert expected == ["HighErrorRate"]
    loaded = {"data": {"groups": [{"rules": [{"name": "HighErrorRate", "type": "alerting"}]}]}}
    assert e2e.judge_rules(loaded, expected) == []
    assert e2e.judge_rules({"data": {"groups": []}}, expected) == ["alert HighErrorRate is not loaded by Prometheus"]


def test_backup_accepted_only_with_a_non_empty_backup() -> None:
    # The line chart/files/redis-backup.sh prints for an accepted backup, with its variables filled in.
    script = (ROOT / "chart" / "files" / "redis-backup.sh").read_text()
    (template,) = [line for line in script.splitlines() if 'echo "backup accepted: ' in line]
    line = template.split('echo "', 1)[1].rsplit('"', 1)[0]
    for variable, value in {"${previous:-none}": "none", "$previous_keys": "0", "$name": "redis-20261207T031700Z.rdb",
                            "$keys": "12", "$bytes": "188", "$sha256": "ab" * 32}.items():  # fmt: skip
        line = line.replace(variable, value)
    assert "$" not in line, line
    kept = f"redis-20261207T031700Z.rdb 12 188 {'ab' * 32}"
    good = f"{line}\nbackups kept (name, keys, bytes, sha256), newest first:\n{kept}\n"
    assert e2e.judge_backup(good) is None
    assert "is empty" in e2e.judge_backup(good.replace("188 bytes", "0 bytes"))
    assert "wrote no backup" in e2e.judge_backup("backup failed: redis-cli wrote no data")
    # Seeded: a refused snapshot is not a backup.
    assert "wrote no backup" in e2e.judge_backup("backup refused: redis-20261207T031700Z.rdb holds 1 keys")


def test_upgrade_keeps_redis_and_moves_every_service() -> None:
    pods = healthy_pods()
    before = e2e.redis_identity(pods)
    assert e2e.judge_redis_identity(before, e2e.redis_identity(pods)) is None
    assert e2e.judge_upgraded(pods, "v0.0.0-e2e", list(base_values()["services"])) == []
    restarted = healthy_pods()
    restarted["items"][-2]["metadata"]["uid"] = "uid-new"
    assert "Redis was restarted" in e2e.judge_redis_identity(before, e2e.redis_identity(restarted))
    assert e2e.judge_upgraded(pods, "v0.0.1", ["backend"]) == ["backend runs ['v0.0.0-e2e'], not v0.0.1"]


def test_the_stand_in_broker_is_redis_streams_on_the_app_s_redis() -> None:
    component = json.loads(e2e.e2e_pubsub_component("staging", ["backend"]))
    assert component["spec"]["type"] == "pubsub.redis"
    (host,) = [item for item in component["spec"]["metadata"] if item["name"] == "redisHost"]
    assert host["value"] == f"{app_component_name('redis')}:{base_values()['redis']['port']}"
    assert component["scopes"] == ["backend"]


def test_the_workflow_runs_every_check_between_local_up_and_local_down() -> None:
    workflow = yamlload.load((WORKFLOWS_DIR / "e2e.yml").read_text())
    (job,) = workflow["jobs"].values()
    runs = [str(step.get("run", "")) for step in job["steps"]]
    up = runs.index("python3 dev.py local up")
    down = runs.index("python3 dev.py local down")
    assert job["steps"][down].get("if") == "always()" and down == len(runs) - 1
    called = " ".join(runs[up:down])
    for check in ("pods", "ca", "ingress", "state", "pubsub", "prometheus", "backup", "redis-identity", "upgraded"):
        assert f"e2e_checks.py {check}" in called, check
    assert job["permissions"] == {"contents": "read"} and workflow["permissions"] == {}
    assert "secrets." not in (WORKFLOWS_DIR / "e2e.yml").read_text()


def test_the_stand_in_broker_logs_in_as_the_state_store_s_redis_user() -> None:
    """Redis requires a password and its `default` user may only ping and snapshot: the e2e pub/sub component uses the
    state store's ACL user and app-secrets key, as chart/templates/dapr/statestore.yaml does."""
    statestore = base_values()["dapr"]["statestore"]
    component = json.loads(e2e.e2e_pubsub_component("todo-staging", ["backend"]))
    metadata = {item["name"]: item for item in component["spec"]["metadata"]}
    assert metadata["redisUsername"]["value"] == statestore["username"] == "dapr"
    assert metadata["redisPassword"]["secretKeyRef"] == {
        "name": base_values()["global"]["appSecretsName"],
        "key": statestore["passwordKey"],
    }
    assert component["auth"] == {"secretStore": "kubernetes"}
