#!/usr/bin/env python3
"""The checks e2e.yml makes on the local target after `python3 dev.py local up`, the ones a human would make
(docs/architecture.md, "Local target"). Every name comes from the project's one source (the chart's values, the
contracts), so the checks follow the chart. Each check reads the cluster through kubectl (and the edge through curl),
judges what it read in a pure function (tested offline against fixtures, tests/local/test_e2e_checks.py), and prints
one line per problem; exit 1 when there is any.

    e2e_checks.py ca FILE | pods | ingress CA_FILE | state | pubsub | prometheus | backup
    e2e_checks.py redis-identity > BEFORE_JSON; e2e_checks.py upgraded TAG BEFORE_JSON

Run from the repository root with the project's Python (.venv/bin/python): it imports todo_infra.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from todo_infra.addons import CERT_MANAGER  # noqa: E402
from todo_infra.chart_values import base_values  # noqa: E402
from todo_infra.contracts import app_component_name  # noqa: E402
from todo_infra.local_cluster import HTTPS_PORT, KIND_CONTEXT  # noqa: E402
from todo_infra.local_target import LOCAL_CLUSTER_ISSUER, LOCAL_ENVIRONMENT  # noqa: E402

NAMESPACE = LOCAL_ENVIRONMENT
#: Where the local CA issuer's root lives: cert-manager's namespace (the platform sets clusterIssuer.caNamespace to it).
CA_NAMESPACE = CERT_MANAGER.namespace
MONITORING = "monitoring"
PROMETHEUS = "kube-prometheus-stack-prometheus:9090"
DAPR_HTTP_PORT = 3500
#: The stand-in broker of the pub/sub check (Redpanda Cloud is outside the cluster): Redis streams on the app's Redis.
E2E_PUBSUB = "e2e-pubsub"
#: Go's net/http 404 body: the stand-in (podinfo) answered, not the edge (whose own 404 is an HTML page).
UPSTREAM_NOT_FOUND = "404 page not found"
#: The backup script's line for a snapshot it accepted (chart/files/redis-backup.sh: redis-check-rdb read it through
#: and the key floor held).
_BACKED_UP = re.compile(
    r"^backup accepted: redis-(?P<stamp>[0-9]{8}T[0-9]{6}Z)[.]rdb [(](?P<keys>[0-9]+) keys, (?P<size>[0-9]+) bytes;",
    re.M,
)


def kubectl(*args: str) -> list[str]:
    return ["kubectl", "--context", KIND_CONTEXT, *args]


def run(command: Sequence[str], stdin: str | None = None) -> str:
    result = subprocess.run(list(command), input=stdin, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"e2e: {' '.join(command[:6])} ... failed: {result.stderr.strip()[-300:]}")
    return result.stdout


def services() -> dict[str, Any]:
    found: dict[str, Any] = base_values()["services"]
    return {name: spec for name, spec in found.items() if spec["enabled"]}


def app_host() -> str:
    """The host the local target's app release sets (todo_infra/chart_values.py: <host_prefix>.<domain>)."""
    from main import context_from  # noqa: PLC0415
    from todo_infra.settings import load_settings  # noqa: PLC0415

    environ = {"TODO_TARGET": "local"}
    settings = load_settings(context_from(environ), environ)
    return settings.environments[0].host


# --- judgments (pure) ---------------------------------------------------------------------------------------------


def judge_pods(pods: Mapping[str, Any], dapr_apps: Sequence[str]) -> list[str]:
    """Every running pod Ready; every pod of a Dapr-enabled service with a ready daprd; no service without a pod."""
    problems, seen = [], set()
    for pod in pods["items"]:
        name = pod["metadata"]["name"]
        if pod["metadata"].get("ownerReferences", [{}])[0].get("kind") == "Job":
            continue  # backup Jobs run to completion
        statuses = {c["name"]: c for c in pod.get("status", {}).get("containerStatuses", [])}
        if not statuses or not all(c.get("ready") for c in statuses.values()):
            problems.append(f"pod {name} is not Ready ({pod.get('status', {}).get('phase')})")
        component = pod["metadata"].get("labels", {}).get("app.kubernetes.io/component", "")
        seen.add(component)
        if component in dapr_apps and not statuses.get("daprd", {}).get("ready"):
            problems.append(f"pod {name} of {component} has no ready daprd sidecar")
    problems += [f"no pod of {app}" for app in dapr_apps if app not in seen]
    return problems


def judge_route(path: str, service: str, status: int, body: str) -> str | None:
    """One ingress route through the edge: the stand-in of `service` answered (its info JSON names its pod), or at
    least an upstream answered (Go's 404 text: the stand-in has no handler for that path, but the edge routed it)."""
    if status == 200:
        try:
            hostname = str(json.loads(body).get("hostname", ""))
        except (ValueError, AttributeError):
            return f"{path}: 200 but not the stand-in's JSON"
        expected = app_component_name(service)
        return None if hostname.startswith(f"{expected}-") else f"{path}: answered by {hostname!r}, not {expected}"
    if status == 404 and body.strip() == UPSTREAM_NOT_FOUND:
        return None
    return f"{path}: HTTP {status} from the edge, not from {service} ({body.strip()[:80]!r})"


def judge_targets(targets: Mapping[str, Any], namespace: str, monitored: Sequence[str]) -> list[str]:
    """Prometheus scrapes every ServiceMonitor'd service of the namespace, and every such target is up."""
    found: dict[str, list[str]] = {}
    for target in targets["data"]["activeTargets"]:
        labels = target.get("labels", {})
        if labels.get("namespace") == namespace:
            found.setdefault(labels.get("service", ""), []).append(target.get("health", ""))
    problems = []
    for service in monitored:
        health = found.get(app_component_name(service), [])
        if not health:
            problems.append(f"Prometheus has no target for {app_component_name(service)}")
        elif any(h != "up" for h in health):
            problems.append(f"{app_component_name(service)}: targets {health}, not all up")
    return problems


def judge_rules(rules: Mapping[str, Any], expected: Sequence[str]) -> list[str]:
    loaded = {
        rule["name"] for group in rules["data"]["groups"] for rule in group["rules"] if rule.get("type") == "alerting"
    }
    return [f"alert {name} is not loaded by Prometheus" for name in expected if name not in loaded]


def prometheus_rule_alerts(rules: Mapping[str, Any]) -> list[str]:
    """The alert names of the app's PrometheusRule objects (kubectl get prometheusrule -o json)."""
    return [r["alert"] for item in rules["items"] for g in item["spec"]["groups"] for r in g["rules"] if "alert" in r]


def judge_backup(log: str) -> str | None:
    match = _BACKED_UP.search(log)
    if match is None:
        return f"the backup job wrote no backup: {log.strip()[-200:]!r}"
    return None if int(match["size"]) > 0 else f"backup redis-{match['stamp']}.rdb is empty"


def judge_redis_identity(before: Mapping[str, Any], after: Mapping[str, Any]) -> str | None:
    """The Redis pod survived the upgrade: same pod, no container restart."""
    if before["uid"] != after["uid"]:
        return f"Redis was restarted by the upgrade: pod {before['name']} became {after['name']}"
    if before["restarts"] != after["restarts"]:
        return f"Redis' container restarted during the upgrade ({before['restarts']} -> {after['restarts']})"
    return None


def redis_identity(pods: Mapping[str, Any]) -> dict[str, Any]:
    (pod,) = [p for p in pods["items"] if p["metadata"]["name"].startswith(app_component_name("redis") + "-")
              and p["metadata"].get("ownerReferences", [{}])[0].get("kind") == "ReplicaSet"]  # fmt: skip
    restarts = sum(c.get("restartCount", 0) for c in pod["status"].get("containerStatuses", []))
    return {"name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"], "restarts": restarts}


def judge_upgraded(pods: Mapping[str, Any], tag: str, apps: Sequence[str]) -> list[str]:
    """Every service runs the upgraded release: its pods carry app.kubernetes.io/version = the new tag."""
    versions: dict[str, set[str]] = {}
    for pod in pods["items"]:
        labels = pod["metadata"].get("labels", {})
        versions.setdefault(labels.get("app.kubernetes.io/component", ""), set()).add(
            labels.get("app.kubernetes.io/version", "")
        )
    return [f"{app} runs {sorted(versions.get(app, set()))}, not {tag}" for app in apps if versions.get(app) != {tag}]


def e2e_pubsub_component(namespace: str, scopes: Sequence[str]) -> str:
    """A Dapr pubsub.redis Component on the app's Redis (Redis streams), scoped to the publishing app."""
    redis, statestore = base_values()["redis"], base_values()["dapr"]["statestore"]
    return json.dumps({
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": E2E_PUBSUB, "namespace": namespace},
        "spec": {
            "type": "pubsub.redis",
            "version": "v1",
            "metadata": [
                {"name": "redisHost", "value": f"{app_component_name('redis')}:{redis['port']}"},
                # the same Redis ACL user and password as the state store (chart/templates/dapr/statestore.yaml)
                {"name": "redisUsername", "value": statestore["username"]},
                {"name": "redisPassword",
                 "secretKeyRef": {"name": base_values()["global"]["appSecretsName"], "key": statestore["passwordKey"]}},
            ],
        },
        "auth": {"secretStore": "kubernetes"},
        "scopes": list(scopes),
    })  # fmt: skip


# --- the checks (they read the cluster) ---------------------------------------------------------------------------


def _json(*args: str) -> Any:
    return json.loads(run(kubectl(*args, "-o", "json")))


def _exec(deployment: str, container: str, *command: str) -> str:
    return run(kubectl("exec", "--namespace", NAMESPACE, f"deployment/{deployment}", "-c", container, "--", *command))


def _redis_cli(*command: str) -> str:
    """redis-cli in the Redis container as the state store's ACL user (the `default` user may only ping and snapshot);
    the password comes from the container's REDISCLI_AUTH (app-secrets), never from an argument."""
    user = base_values()["dapr"]["statestore"]["username"]
    return _exec(app_component_name("redis"), "redis", "redis-cli", "--user", user, *command)


def check_pods() -> list[str]:
    dapr_apps = [name for name, spec in services().items() if spec["dapr"]["enabled"]]
    return judge_pods(_json("get", "pods", "--namespace", NAMESPACE), dapr_apps)


def check_ingress(ca_file: str) -> list[str]:
    host, problems = app_host(), []
    for route in base_values()["ingress"]["routes"]:
        path, service = route["path"], route["service"]
        url = f"https://{host}:{HTTPS_PORT}{path}"
        resolve = f"{host}:{HTTPS_PORT}:127.0.0.1"
        curl = ["curl", "--silent", "--show-error", "--cacert", ca_file, "--resolve", resolve]
        out = run([*curl, "--write-out", "\n%{http_code}", url])
        body, _, status = out.rpartition("\n")
        problem = judge_route(path, service, int(status), body)
        if problem:
            problems.append(problem)
    return problems


def check_state() -> list[str]:
    """A state write and read through the backend's sidecar, and the key in Redis."""
    store = base_values()["dapr"]["statestore"]["name"]
    value = f"e2e-{int(time.time())}"
    backend = app_component_name("backend")
    url = f"http://localhost:{DAPR_HTTP_PORT}/v1.0/state/{store}"
    _exec(backend, "backend", "curl", "-sf", "-X", "POST", "-H", "Content-Type: application/json", url,
          "-d", json.dumps([{"key": "e2e", "value": value}]))  # fmt: skip
    read = _exec(backend, "backend", "curl", "-sf", f"{url}/e2e").strip()
    problems = [] if read == json.dumps(value) else [f"state read back {read!r}, wrote {value!r}"]
    keys = _redis_cli("--scan", "--pattern", "*e2e*").split()
    return problems + ([] if any(k.endswith("||e2e") for k in keys) else [f"no Dapr key for e2e in Redis: {keys}"])


def check_pubsub() -> list[str]:
    """Publish through the backend's sidecar on the Redis-streams stand-in broker; read the message from the stream."""
    topic = base_values()["topics"]["taskEvents"]
    backend = app_component_name("backend")
    run(kubectl("apply", "-f", "-"), e2e_pubsub_component(NAMESPACE, ["backend"]))
    run(kubectl("rollout", "restart", "--namespace", NAMESPACE, f"deployment/{backend}"))
    run(kubectl("rollout", "status", "--namespace", NAMESPACE, f"deployment/{backend}", "--timeout=300s"))
    marker = f"e2e-{int(time.time())}"
    url = f"http://localhost:{DAPR_HTTP_PORT}/v1.0/publish/{E2E_PUBSUB}/{topic}"
    _exec(backend, "backend", "curl", "-sf", "-X", "POST", "-H", "Content-Type: application/json", url,
          "-d", json.dumps({"marker": marker}))  # fmt: skip
    stream = _redis_cli("XRANGE", topic, "-", "+")
    return [] if marker in stream else [f"the message {marker} is not in the Redis stream {topic}"]


def check_prometheus() -> list[str]:
    proxy = f"/api/v1/namespaces/{MONITORING}/services/{PROMETHEUS}/proxy/api/v1"
    monitored = [name for name, spec in services().items() if spec["metrics"]["enabled"]]
    problems = judge_targets(json.loads(run(kubectl("get", "--raw", f"{proxy}/targets"))), NAMESPACE, monitored)
    expected = prometheus_rule_alerts(_json("get", "prometheusrule", "--namespace", NAMESPACE))
    if not expected:
        problems.append(f"no PrometheusRule alerts in {NAMESPACE}")
    return problems + judge_rules(json.loads(run(kubectl("get", "--raw", f"{proxy}/rules"))), expected)


def check_backup() -> list[str]:
    job = f"e2e-backup-{int(time.time())}"
    run(kubectl("create", "job", "--namespace", NAMESPACE, job, f"--from=cronjob/{app_component_name('redis-backup')}"))
    run(kubectl("wait", "--namespace", NAMESPACE, f"job/{job}", "--for=condition=Complete", "--timeout=300s"))
    problem = judge_backup(run(kubectl("logs", "--namespace", NAMESPACE, f"job/{job}", "--all-containers")))
    return [problem] if problem else []


def main(argv: Sequence[str]) -> int:
    checks: dict[str, Callable[..., list[str]]] = {
        "pods": check_pods,
        "ingress": check_ingress,
        "state": check_state,
        "pubsub": check_pubsub,
        "prometheus": check_prometheus,
        "backup": check_backup,
    }
    if argv[:1] == ["ca"] and len(argv) == 2:
        secret = _json("get", "secret", "--namespace", CA_NAMESPACE, f"{LOCAL_CLUSTER_ISSUER}-root")
        Path(argv[1]).write_bytes(base64.b64decode(secret["data"]["ca.crt"]))  # a public certificate
        return 0
    if argv[:1] == ["redis-identity"]:
        print(json.dumps(redis_identity(_json("get", "pods", "--namespace", NAMESPACE))))
        return 0
    if argv[:1] == ["upgraded"] and len(argv) == 3:
        before = json.loads(Path(argv[2]).read_text())
        pods = _json("get", "pods", "--namespace", NAMESPACE)
        problems = judge_upgraded(pods, argv[1], list(services()))
        problem = judge_redis_identity(before, redis_identity(pods))
        problems += [problem] if problem else []
    elif argv[:1] and argv[0] in checks:
        problems = checks[argv[0]](*argv[1:])
    else:
        print(
            f"usage: e2e_checks.py {'|'.join(checks)} [ARG] | redis-identity | upgraded TAG BEFORE_JSON",
            file=sys.stderr,
        )
        return 2
    for problem in problems:
        print(f"e2e {argv[0]}: {problem}", file=sys.stderr)
    print(f"e2e {argv[0]}: {'FAILED' if problems else 'ok'} (namespace {NAMESPACE})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
