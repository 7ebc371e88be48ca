"""Deployments and Services of the services (and Redis): images, secrets, Dapr sidecars, probes, resources,
security context, selectors."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from preflight.render import SAMPLE_IMAGE_DIGEST
from preflight.runtime import pod_templates
from tests.chart.chart_support import (
    SAMPLE_OWNER,
    SERVICES,
    Rendered,
    app_container,
    fullname,
    pod_spec,
)
from todo_infra.app_secrets import (
    APP_SECRET_KEYS,
    APP_SECRETS_NAME,
    BACKUP_SPACES_SECRET_NAME,
    BACKUP_SPACES_VARIABLES,
    DAPR_APP_TOKEN_KEY,
    GHCR_PULL_SECRET_NAME,
    dapr_app_token_secret,
)
from todo_infra.chart_values import SAMPLE_IMAGE_TAG
from todo_infra.release import dapr_app_ids
from todo_infra.trees import walk

SEED_PORTS = {"frontend": 3000, "backend": 8000, "mcp": 8001, "sse-gateway": 8003}


def _secret_refs(node: object) -> list[dict[str, str]]:
    """Every secretKeyRef in a document: Kubernetes env refs and Dapr component metadata refs alike."""
    return [item["secretKeyRef"] for item in walk(node) if isinstance(item, dict) and "secretKeyRef" in item]


def test_images_come_from_ghcr_with_the_release_tag_and_the_verified_digest(cloud: Rendered) -> None:
    """The stacks set a digest per service: pods pull exactly that build; the tag stays for people."""
    for service in SERVICES:
        container = app_container(cloud.get("Deployment", fullname(service)))
        assert container["imagePullPolicy"] == "Always"
        expected = f"ghcr.io/{SAMPLE_OWNER}/hackathon-todo/{service}:{SAMPLE_IMAGE_TAG}@{SAMPLE_IMAGE_DIGEST}"
        assert container["image"] == expected
    assert cloud.values["global"]["imageDigests"] == dict.fromkeys(SERVICES, SAMPLE_IMAGE_DIGEST)


def test_every_container_the_chart_runs_is_pinned_by_digest(cloud: Rendered) -> None:
    images = [c["image"] for doc in cloud.of_kind("Deployment") for c in doc["spec"]["template"]["spec"]["containers"]]
    assert len(images) == len(SERVICES) + 1  # and Redis
    assert all(re.search(r"@sha256:[0-9a-f]{64}$", image) for image in images), images


def test_base_values_render_without_any_set(base: Rendered) -> None:
    container = app_container(base.get("Deployment", fullname("backend")))
    assert container["image"] == "ghcr.io/example-org/hackathon-todo/backend:main-latest"
    assert base.get("HTTPRoute", "todo-app")["spec"]["hostnames"] == ["todo.localhost"]


def _pod_templates(env: Rendered) -> dict[str, dict[str, Any]]:
    """kind/name -> pod spec of every workload the chart renders (preflight's own walk of the manifests)."""
    return {name: template["spec"] for name, template in pod_templates(env.manifests)}


def test_every_pod_names_its_environments_priority_class(
    staging: Rendered, production: Rendered, base: Rendered
) -> None:
    """Production's pods outrank staging's when nodes are short; the classes come from the platform stack."""
    for env in (staging, production):
        specs = _pod_templates(env)
        assert len(specs) >= 6
        assert {name: spec.get("priorityClassName") for name, spec in specs.items()} == dict.fromkeys(
            specs, f"todo-{env.environment}"
        )
    assert not any("priorityClassName" in spec for spec in _pod_templates(base).values())


def test_every_service_pulls_with_the_ghcr_secret(rendered: Rendered) -> None:
    for service in SERVICES:
        spec = pod_spec(rendered.get("Deployment", fullname(service)))
        assert spec["imagePullSecrets"] == [{"name": GHCR_PULL_SECRET_NAME}]


def test_service_ports_match_the_seed(rendered: Rendered) -> None:
    for service, port in SEED_PORTS.items():
        ports = rendered.get("Service", fullname(service))["spec"]["ports"]
        assert ports == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
        container_ports = app_container(rendered.get("Deployment", fullname(service)))["ports"]
        assert container_ports == [{"name": "http", "containerPort": port, "protocol": "TCP"}]


def test_every_secret_key_ref_names_a_secret_the_stacks_write_and_a_known_key(
    rendered: Rendered,
) -> None:
    """Each reference points at a Secret an app stack writes, and at a key that Secret has."""
    known = {APP_SECRETS_NAME: set(APP_SECRET_KEYS), BACKUP_SPACES_SECRET_NAME: set(BACKUP_SPACES_VARIABLES)}
    known |= {dapr_app_token_secret(app_id): {DAPR_APP_TOKEN_KEY} for app_id in dapr_app_ids()}
    refs = [ref for doc in rendered.manifests for ref in _secret_refs(doc)]
    assert len(refs) >= 10
    for ref in refs:
        assert ref["key"] in known[ref["name"]], ref
    assert rendered.values["redis"]["backup"]["offsite"]["secretName"] == BACKUP_SPACES_SECRET_NAME


def test_each_service_reads_only_the_secrets_it_declares(production: Rendered) -> None:
    """Least privilege: per-service key sets; Kafka credentials reach only the Dapr component, never a pod."""
    expected = {
        "frontend": {"FRONTEND_DATABASE_URL", "BETTER_AUTH_SECRET"},
        "backend": {"DATABASE_URL", "BETTER_AUTH_SECRET", "OPENAI_API_KEY"},
        "mcp": {"DATABASE_URL"},
        "notification": {"DATABASE_URL"},
        "sse-gateway": {"BETTER_AUTH_SECRET"},
    }
    for service, keys in expected.items():
        refs = _secret_refs(production.get("Deployment", fullname(service)))
        assert {ref["key"] for ref in refs if ref["name"] == APP_SECRETS_NAME} == keys, service
        # and its own Dapr app token, nobody else's (tests/chart/test_chart_dapr_access.py)
        tokens = {ref["name"] for ref in refs} - {APP_SECRETS_NAME}
        assert tokens == ({dapr_app_token_secret(service)} if service in dapr_app_ids() else set()), service
    for doc in production.of_kind("Deployment"):
        assert not {ref["key"] for ref in _secret_refs(doc)} & {
            "REDPANDA_USERNAME",
            "REDPANDA_PASSWORD",
        }


def test_no_manifest_contains_a_secret_value(rendered: Rendered) -> None:
    assert rendered.of_kind("Secret") == []
    for doc in rendered.of_kind("Deployment"):
        for container in pod_spec(doc)["containers"]:
            for env in container.get("env", []):
                if env["name"] in APP_SECRET_KEYS:
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], env["name"]
    for component in rendered.of_kind("Component"):
        for item in component["spec"]["metadata"]:
            if item["name"] in {
                "brokers",
                "saslUsername",
                "saslPassword",
                "redisPassword",
            }:
                assert "value" not in item and "secretKeyRef" in item, item["name"]
    credential_shapes = re.compile(r"postgres(ql)?://|\bsk-[A-Za-z0-9]{8,}|\"auths\"|dockerconfigjson|BEGIN [A-Z ]*KEY")
    text = "\n".join(repr(doc) for doc in rendered.manifests)
    assert credential_shapes.search(text) is None


def test_dapr_sidecars_have_annotations_and_explicit_requests(
    rendered: Rendered,
) -> None:
    for service in ("backend", "mcp", "notification", "sse-gateway"):
        deployment = rendered.get("Deployment", fullname(service))
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["dapr.io/enabled"] == "true"
        assert annotations["dapr.io/app-id"] == service
        assert annotations["dapr.io/app-port"] == str(app_container(deployment)["ports"][0]["containerPort"])
        assert annotations["dapr.io/enable-metrics"] == "true"
        assert annotations["dapr.io/metrics-port"] == "9090"
        for key in ("cpu-request", "memory-request", "cpu-limit", "memory-limit"):
            assert annotations[f"dapr.io/sidecar-{key}"], key


def test_topics_reach_the_services_per_environment(base: Rendered, staging: Rendered, production: Rendered) -> None:
    expected = [
        (staging, "staging-task-events", "staging-notifications"),
        (production, "task-events", "notifications"),
        (base, "task-events", "notifications"),
    ]
    for env, task_events, notifications in expected:
        for service in ("backend", "mcp", "notification", "sse-gateway"):
            variables = {
                e["name"]: e.get("value") for e in app_container(env.get("Deployment", fullname(service)))["env"]
            }
            assert variables["TASK_EVENTS_TOPIC"] == task_events
            assert variables["NOTIFICATIONS_TOPIC"] == notifications
            assert variables["DAPR_PUBSUB_NAME"] == "pubsub"


@pytest.mark.parametrize("service", [*SERVICES, "redis"])
def test_probes_resources_and_restricted_security_context(rendered: Rendered, service: str) -> None:
    deployment = rendered.get("Deployment", fullname(service))
    spec = pod_spec(deployment)
    container = app_container(deployment)
    assert container["readinessProbe"] and container["livenessProbe"]
    for section in ("requests", "limits"):
        assert set(container["resources"][section]) == {"cpu", "memory"}
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] >= 10000
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_read_only_root_filesystems_get_writable_scratch_dirs(
    rendered: Rendered,
) -> None:
    frontend = rendered.get("Deployment", fullname("frontend"))
    mounts = {m["mountPath"] for m in app_container(frontend)["volumeMounts"]}
    assert mounts == {"/tmp", "/app/.next/cache"}
    volumes = {v["name"] for v in pod_spec(frontend)["volumes"] if "emptyDir" in v}
    assert {m["name"] for m in app_container(frontend)["volumeMounts"]} == volumes


def test_selectors_match_pod_labels_and_services_select_their_pods(
    rendered: Rendered,
) -> None:
    for deployment in rendered.of_kind("Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), deployment["metadata"]["name"]
        assert "app.kubernetes.io/version" not in selector
        service = rendered.get("Service", deployment["metadata"]["name"])
        assert service["spec"]["selector"] == selector
        others = [d for d in rendered.of_kind("Deployment") if d is not deployment]
        assert not any(selector.items() <= d["spec"]["template"]["metadata"]["labels"].items() for d in others)


def test_replicas_are_spread_across_nodes(rendered: Rendered) -> None:
    for service in SERVICES:
        deployment = rendered.get("Deployment", fullname(service))
        (constraint,) = pod_spec(deployment)["topologySpreadConstraints"]
        assert constraint["topologyKey"] == "kubernetes.io/hostname"
        assert constraint["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_redis_keeps_state_on_a_volume_with_aof(rendered: Rendered) -> None:
    redis = rendered.get("Deployment", fullname("redis"))
    assert redis["spec"]["replicas"] == 1
    assert redis["spec"]["strategy"] == {"type": "Recreate"}
    command = " ".join(app_container(redis)["args"])
    assert "--appendonly yes" in command and "--dir /data" in command
    data = [m for m in app_container(redis)["volumeMounts"] if m["mountPath"] == "/data"]
    assert len(data) == 1
    (volume,) = [v for v in pod_spec(redis)["volumes"] if v["name"] == data[0]["name"]]
    assert volume["persistentVolumeClaim"]["claimName"] == fullname("redis")
    pvc = rendered.get("PersistentVolumeClaim", fullname("redis"))
    assert pvc["spec"]["storageClassName"] == "do-block-storage-retain"
    assert pvc["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    service = rendered.get("Service", fullname("redis"))
    assert service["spec"]["ports"][0]["port"] == 6379


def _redis_container(env: Rendered) -> dict[str, Any]:
    return app_container(env.get("Deployment", fullname("redis")))


def _probe_commands(container: dict[str, Any]) -> list[list[str]]:
    return [
        container[probe]["exec"]["command"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe")
        if "exec" in container.get(probe, {})
    ]


def test_redis_password_is_never_a_command_line_argument(rendered: Rendered) -> None:
    """Arguments are world-readable in /proc/<pid>/cmdline: the password goes through a config file, not argv."""
    container = _redis_container(rendered)
    script = "\n".join([*container["command"], *container["args"]])
    assert "--requirepass" not in script
    assert re.search(r"requirepass\s+\"?\$", script) is None
    (server_line,) = [line for line in script.splitlines() if "redis-server" in line]
    assert "REDIS_PASSWORD" not in server_line and "REDISCLI_AUTH" not in server_line
    for command in _probe_commands(container):
        assert re.search(r"(^|\s)-a(\s|$)|--pass\b", " ".join(command)) is None, command


def test_redis_readiness_pings_with_rediscli_auth_from_the_secret(rendered: Rendered) -> None:
    container = _redis_container(rendered)
    assert "redis-cli" in " ".join(container["readinessProbe"]["exec"]["command"])
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    expected = {"name": APP_SECRETS_NAME, "key": "REDIS_PASSWORD"}  # required: not optional
    rotation = {"name": APP_SECRETS_NAME, "key": "REDIS_PASSWORD_ROTATION"}
    assert refs == {"REDIS_PASSWORD": expected, "REDISCLI_AUTH": expected, "REDIS_PASSWORD_ROTATION": rotation}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert "/redis.conf" in " ".join(container["args"]) and mount["mountPath"] in " ".join(container["args"])
    (volume,) = [v for v in pod_spec(rendered.get("Deployment", fullname("redis")))["volumes"] if v["name"] == "config"]
    assert volume["emptyDir"]["medium"] == "Memory"


def _fake_tool(folder: Path, name: str, body: str) -> None:
    tool = folder / name
    tool.write_text(f"#!/bin/sh\n{body}\n")
    tool.chmod(0o755)


def _run_redis_start(production: Rendered, tmp_path: Path, password: str | None) -> tuple[list[str], str, str, int]:
    """Run the rendered container command with /bin/sh and a stand-in redis-server that records its argv, its
    environment and the config file it was given; returns (argv, config text, environment, config file mode)."""
    container = _redis_container(production)
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")["mountPath"]
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(
        bin_dir,
        "redis-server",
        f'printf "%s\\n" "$@" > {out}/argv; env > {out}/env; cat "$1" > {out}/conf; stat -c %a "$1" > {out}/mode',
    )
    command = [*container["command"], *(arg.replace(mount, str(config_dir)) for arg in container["args"])]
    environment = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    if password is not None:
        environment |= {"REDIS_PASSWORD": password, "REDISCLI_AUTH": password, "REDIS_PASSWORD_ROTATION": ""}
    subprocess.run(command, env=environment, check=True, timeout=30)
    return (
        (out / "argv").read_text().splitlines(),
        (out / "conf").read_text(),
        (out / "env").read_text(),
        int((out / "mode").read_text(), 8),
    )


@pytest.mark.skipif(shutil.which("sha256sum") is None or not Path("/bin/sh").exists(), reason="needs a POSIX shell")
@pytest.mark.parametrize("password", ["s3cr3t-Pa55", 'we"ird \\ pa$$ %s `x` \\n'])
def test_redis_start_writes_the_password_s_hash_to_a_private_config_file(
    production: Rendered, tmp_path: Path, password: str
) -> None:
    """Each ACL user gets the password as its SHA-256 (`#<hex>`): any byte of it is safe, none reaches argv or the
    file in clear (tests/chart/test_chart_redis_acl.py loads the file into a real redis-server)."""
    argv, config, environment, mode = _run_redis_start(production, tmp_path, password)
    assert all(password not in arg for arg in argv) and password not in config
    assert argv[0].endswith("/redis.conf")
    assert " ".join(argv[1:]) == (
        "--port 6379 --dir /data --appendonly yes --appendfsync everysec --protected-mode yes --maxmemory 96mb "
        "--maxmemory-policy noeviction"
    )
    digest = "#" + hashlib.sha256(password.encode()).hexdigest()
    users = config.splitlines()
    assert [line.split()[1] for line in users] == ["default", "dapr"]
    assert all(f" {digest} " in line for line in users)
    assert mode == stat.S_IRUSR | stat.S_IWUSR
    assert "REDIS_PASSWORD=" not in environment and "REDISCLI_AUTH=" not in environment


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs a POSIX shell")
@pytest.mark.parametrize("password", ["s3cr3t", ""])
def test_redis_readiness_probe_authenticates_through_the_environment(
    production: Rendered, tmp_path: Path, password: str
) -> None:
    """redis-cli gets the password from REDISCLI_AUTH, never argv; an empty one is not sent at all."""
    (command,) = _probe_commands(_redis_container(production))
    _fake_tool(tmp_path, "redis-cli", f'printf "%s\\n" "$@" > {tmp_path}/argv; env > {tmp_path}/env; echo PONG')
    environment = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "REDISCLI_AUTH": password}
    subprocess.run(command, env=environment, check=True, timeout=30)
    argv = (tmp_path / "argv").read_text().splitlines()
    assert "-a" not in argv and (not password or all(password not in arg for arg in argv))
    seen = [line for line in (tmp_path / "env").read_text().splitlines() if line.startswith("REDISCLI_AUTH=")]
    assert seen == ([f"REDISCLI_AUTH={password}"] if password else [])
