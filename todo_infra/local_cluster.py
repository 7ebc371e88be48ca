"""`python3 dev.py local up|down [--dry-run]`: the local target on a kind cluster. Standard library only.
See docs/architecture.md, "Local target", and docs/operating.md, "Run it locally".

`up` creates the kind cluster (kind pinned by version, its node image by digest), synthesizes the local target's
stacks (TODO_TARGET=local, the kind cluster's context), deploys the platform and the app with throwaway secret values
generated in this process (never written anywhere: the stand-in services read none of them), waits for every
Deployment, and prints the app's URL and how to reach Grafana. `down` deletes the kind cluster and the local target's
state files. Both refuse in one line when kind or Docker is missing; `--dry-run` prints the steps instead.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from todo_infra.contracts import PLATFORM_STACK, app_stack_id
from todo_infra.deploy_inputs import missing_inputs
from todo_infra.local_target import LOCAL, LOCAL_ENVIRONMENT, LOCAL_STATE_PREFIX, LOCAL_VALUES
from todo_infra.secret_revisions import DIGEST_KEY_ENV

ROOT = Path(__file__).resolve().parent.parent
#: kind, pinned: v0.31.0 and the node image its release names as default (pkg/apis/config/defaults/image.go at the
#: tag), Kubernetes 1.35.0: the minor cdktf.json pins for DOKS (kubernetes_minor_prefix), so the chart is installed on
#: the minor production runs. The workflow installs the same version (`go install`, checked by the Go checksum DB).
KIND_VERSION = "v0.31.0"
KIND_NODE_IMAGE = "kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f"
KIND_CLUSTER = "hackathon-todo"
#: kind names the kubeconfig context of cluster X "kind-X".
KIND_CONTEXT = f"kind-{KIND_CLUSTER}"
KIND_CONFIG = ROOT / "k8s" / "local" / "kind-cluster.yaml"
#: Where the edge answers on the host (kind-cluster.yaml maps the edge's NodePorts to these loopback ports).
HTTPS_PORT = 8443
HTTP_PORT = 8080
#: Seconds `kubectl wait` gives each namespace's Deployments.
WAIT_SECONDS = 600
#: Throwaway values for the app secrets a stand-in never reads, where a random string would not do.
PLACEHOLDERS = {"redpanda_brokers": "kafka.invalid:9092", "redpanda_sasl_mechanism": "SCRAM-SHA-256"}
#: What local up and down need on PATH, with where to get it.
REQUIRED_TOOLS = {
    "docker": "Docker (https://docs.docker.com/get-docker/)",
    "kind": f"kind {KIND_VERSION} (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)",
}
UP_TOOLS = {**REQUIRED_TOOLS, "kubectl": "kubectl (https://kubernetes.io/docs/tasks/tools/)"}


def local_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The configuration of the stacks `local up` deploys: the local target on the kind cluster's context. A TODO_*
    setting the operator chose is kept (the same validation refuses a bad one)."""
    env = dict(environ)
    env.update(TODO_TARGET=LOCAL, TODO_KUBE_CONTEXT=KIND_CONTEXT)
    return env


def stack_ids(environment: str = LOCAL_ENVIRONMENT) -> list[str]:
    return [PLATFORM_STACK, app_stack_id(environment)]


def app_url(host: str) -> str:
    """The app through the edge's NodePort, which kind maps to the host's loopback (hosts end in .localhost)."""
    return f"https://{host}:{HTTPS_PORT}/"


#: The stand-in's digest, read from chart/values-local.yaml (global.standInImage).
_STAND_IN = re.compile(r"^\s*standInImage:\s*\S+@(?P<digest>sha256:[0-9a-f]{64})\s*$", re.MULTILINE)


def stand_in_digest(root: Path = ROOT) -> str:
    match = _STAND_IN.search((root / "chart" / LOCAL_VALUES).read_text())
    if match is None:
        raise ValueError(f"chart/{LOCAL_VALUES} names no global.standInImage pinned by digest")
    return match["digest"]


def grafana_hint(namespace: str = "monitoring") -> str:
    """How to reach Grafana (docs/runbooks/monitoring.md, "Reach Grafana, Prometheus and Alertmanager")."""
    return (
        f"Grafana: kubectl --context {KIND_CONTEXT} -n {namespace} port-forward svc/kube-prometheus-stack-grafana "
        f"3000:80, then http://localhost:3000 as admin, password: kubectl --context {KIND_CONTEXT} -n {namespace} get "
        "secret grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d"
    )


@dataclass(frozen=True)
class Step:
    """One step of `local up` or `down`: what it does, and the command (empty: done in dev.py itself)."""

    says: str
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.says}: {' '.join(self.command)}" if self.command else self.says


def missing_tool(tools: Mapping[str, str], which: Callable[[str], str | None] = shutil.which) -> str | None:
    """The one-line refusal for the first tool not on PATH, or None."""
    for name, what in tools.items():
        if which(name) is None:
            return f"local needs {what}: {name!r} is not on PATH"
    return None


def docker_refusal(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> str | None:
    """None when the Docker daemon answers; else the one-line refusal (the client alone is not enough for kind)."""
    try:
        result = run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"local needs a running Docker daemon: docker info failed ({error})"
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1][:160]
        return f"local needs a running Docker daemon: docker info failed ({reason})"
    return None


#: The app stacks' variable of the per-service digests (todo_infra/release.py IMAGE_DIGESTS, which needs cdktf).
IMAGE_DIGESTS = "image_digests"


def secret_values(variables: Sequence[str], digest: str, services: Sequence[str]) -> dict[str, str]:
    """TF_VAR_<name> for the stacks' variables that have no value: throwaway secrets (random, kept for the cluster
    only), and every service's image digest set to the stand-in's (the chart runs global.standInImage)."""
    values = {}
    for name in variables:
        if name == IMAGE_DIGESTS:
            values[f"TF_VAR_{name}"] = json.dumps(dict.fromkeys(services, digest))
        else:
            values[f"TF_VAR_{name}"] = PLACEHOLDERS.get(name) or secrets.token_urlsafe(24)
    return values


CREATE_CLUSTER = (
    *("kind", "create", "cluster", "--name", KIND_CLUSTER, "--image", KIND_NODE_IMAGE),
    *("--config", str(KIND_CONFIG.relative_to(ROOT)), "--wait", "120s"),
)
WAIT_DEPLOYMENTS = (
    *("kubectl", "--context", KIND_CONTEXT, "wait", "--all-namespaces", "--for=condition=Available"),
    *("deployment", "--all", f"--timeout={WAIT_SECONDS}s"),
)


def deploy_inputs(
    stacks: Mapping[str, Mapping[str, Any]],
    environ: Mapping[str, str],
    services: Sequence[str],
    digest: str,
    saved: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What the deploy of the local stacks needs besides `environ`: a throwaway value for every variable without one
    and a digest key for the write-only secrets' revisions. `saved` holds the values an earlier `local up` made for
    this cluster (local_inputs_file()): they are reused, so a second `local up` (an upgrade) changes no secret, no
    revision and so no pod that reads one (Redis above all); only what is still missing is made anew, at random."""
    missing = missing_inputs(stacks, environ)
    kept = {name: value for name, value in (saved or {}).items() if name in missing}
    variables = [name.removeprefix("TF_VAR_") for name in missing if name.startswith("TF_VAR_") and name not in kept]
    found = {**kept, **secret_values(variables, digest, services)}
    if DIGEST_KEY_ENV in missing and DIGEST_KEY_ENV not in found:
        found[DIGEST_KEY_ENV] = secrets.token_hex(32)
    return found


def local_inputs_file(root: Path = ROOT) -> Path:
    """The throwaway inputs of the kind cluster's deploys (0600, beside the local state; `local down` deletes it)."""
    return root / f"{LOCAL_STATE_PREFIX}.inputs.tfstate.json"


def load_inputs(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save_inputs(path: Path, inputs: Mapping[str, str]) -> None:
    """Written 0600 from the start (never world-readable, not even for a moment)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(dict(inputs), file, indent=2, sort_keys=True)
    path.chmod(0o600)


def up_steps(python: str, cdktf: str) -> list[Step]:
    """The steps of `local up`, in order (dev.py runs them; --dry-run prints them)."""
    stacks = stack_ids()
    return [
        Step(
            f"create the kind cluster {KIND_CLUSTER} (kind {KIND_VERSION}; skipped when it exists)",
            CREATE_CLUSTER,
        ),
        Step("synthesize the local target's stacks", (python, "main.py"), {"TODO_TARGET": LOCAL}),
        Step(
            "deploy the platform, then the app (throwaway secrets generated in this process)",
            (cdktf, "deploy", *stacks, "--skip-synth", "--auto-approve"),
        ),
        Step(
            "wait for every Deployment in every namespace",
            WAIT_DEPLOYMENTS,
        ),
        Step(f"print the app's URL (https://<host>:{HTTPS_PORT}/) and how to reach Grafana"),
    ]


def down_steps() -> list[Step]:
    return [
        Step(f"delete the kind cluster {KIND_CLUSTER}", ("kind", "delete", "cluster", "--name", KIND_CLUSTER)),
        Step(f"remove the local target's state files ({LOCAL_STATE_PREFIX}.*.tfstate*)"),
    ]


def local_state_files(root: Path = ROOT) -> list[Path]:
    return sorted(root.glob(f"{LOCAL_STATE_PREFIX}.*.tfstate*"))


def cluster_exists(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> bool:
    result = run(["kind", "get", "clusters"], capture_output=True, text=True, check=False)
    return KIND_CLUSTER in result.stdout.split()


USAGE = "usage: python3 dev.py local up|down [--dry-run]"


def parse(args: Sequence[str]) -> tuple[str, bool] | str:
    """(action, dry_run), or the one-line refusal."""
    rest = [arg for arg in args if arg != "--dry-run"]
    if len(rest) != 1 or rest[0] not in ("up", "down") or len(args) - len(rest) > 1:
        return f"{USAGE}, not {' '.join(args) or 'nothing'!r}"
    return rest[0], len(rest) != len(args)
