"""`python3 dev.py local up|down`: the plan it prints, and its one-line refusals when kind or Docker is missing.

kind and a Docker daemon are not available where the suite runs, so nothing here creates a cluster: the commands are
run with a PATH of fake tools (shell scripts in a temporary folder) and must refuse before doing anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from todo_infra import local_cluster as lc
from todo_infra.chart_values import base_values
from todo_infra.local_target import DEFAULT_KUBE_CONTEXT, LOCAL_VALUES

ROOT = Path(__file__).resolve().parents[2]


def fake_tools(folder: Path, **scripts: str) -> Path:
    """Executable shell scripts named after tools; a script body of "" just succeeds."""
    folder.mkdir(exist_ok=True)
    for name, body in scripts.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return folder


def local(tmp_path: Path, *args: str, tools: dict[str, str]) -> subprocess.CompletedProcess[str]:
    folder = fake_tools(tmp_path / "bin", **tools)
    return subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), "local", *args],
        cwd=ROOT,
        env={"PATH": str(folder), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


DAEMON_DOWN = 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1'


@pytest.mark.parametrize("action", ["up", "down"])
@pytest.mark.parametrize(
    ("tools", "refusal"),
    [
        ({"docker": ""}, f"dev.py: local needs {lc.REQUIRED_TOOLS['kind']}: 'kind' is not on PATH"),
        ({"kind": "", "kubectl": ""}, f"dev.py: local needs {lc.REQUIRED_TOOLS['docker']}: 'docker' is not on PATH"),
        (
            {"kind": "", "kubectl": "", "docker": DAEMON_DOWN},
            "dev.py: local needs a running Docker daemon: docker info failed (Cannot connect to the Docker daemon at "
            "unix:///var/run/docker.sock.)",
        ),
    ],
)
def test_local_refuses_in_one_line_when_kind_or_docker_is_missing(
    tmp_path: Path, action: str, tools: dict[str, str], refusal: str
) -> None:
    result = local(tmp_path, action, tools=tools)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [refusal]
    assert result.stdout == ""


def test_local_up_also_needs_kubectl(tmp_path: Path) -> None:
    result = local(tmp_path, "up", tools={"kind": "", "docker": ""})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"dev.py: local needs {lc.UP_TOOLS['kubectl']}: 'kubectl' is not on PATH"]


@pytest.mark.parametrize("args", [[], ["sideways"], ["up", "down"], ["up", "--dry-run", "--dry-run"]])
def test_local_refuses_unknown_arguments_with_its_usage(tmp_path: Path, args: list[str]) -> None:
    result = local(tmp_path, *args, tools={})
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"dev.py: {lc.USAGE}, not ")


def test_local_up_dry_run_prints_the_pinned_plan_without_any_tool(tmp_path: Path) -> None:
    result = local(tmp_path, "up", "--dry-run", tools={})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(". ", 1)[0] for line in lines] == ["1", "2", "3", "4", "5"]
    assert lines[0].endswith(" ".join(lc.CREATE_CLUSTER))
    assert f"--image {lc.KIND_NODE_IMAGE} --config k8s/local/kind-cluster.yaml" in lines[0]
    assert "main.py" in lines[1]
    assert lines[2].endswith("deploy platform app-staging --skip-synth --auto-approve")
    assert lines[3].endswith(" ".join(lc.WAIT_DEPLOYMENTS)) and "--all-namespaces" in lines[3]


def test_local_down_dry_run_deletes_the_kind_cluster_and_the_local_state(tmp_path: Path) -> None:
    result = local(tmp_path, "down", "--dry-run", tools={})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"1. delete the kind cluster {lc.KIND_CLUSTER}: kind delete cluster --name {lc.KIND_CLUSTER}",
        "2. remove the local target's state files (terraform.local.*.tfstate*)",
    ]


def test_the_kind_context_is_the_local_target_s_default() -> None:
    assert lc.KIND_CONTEXT == DEFAULT_KUBE_CONTEXT
    assert lc.local_environ({"TODO_TARGET": "doks", "HOME": "/h"}) == {
        "TODO_TARGET": "local",
        "TODO_KUBE_CONTEXT": lc.KIND_CONTEXT,
        "HOME": "/h",
    }


def test_throwaway_secrets_are_random_and_the_digests_are_the_stand_in_s() -> None:
    services = tuple(base_values()["services"])
    digest = lc.stand_in_digest()
    values = lc.secret_values(["image_digests", "database_url", "openai_api_key", "redpanda_brokers"], digest, services)
    assert json.loads(values["TF_VAR_image_digests"]) == dict.fromkeys(services, digest)
    assert values["TF_VAR_redpanda_brokers"] == "kafka.invalid:9092"
    assert len(values["TF_VAR_database_url"]) >= 32 and values["TF_VAR_database_url"] != values["TF_VAR_openai_api_key"]
    again = lc.secret_values(["database_url"], digest, services)
    assert again["TF_VAR_database_url"] != values["TF_VAR_database_url"]


def test_the_stand_in_digest_is_read_from_values_local_and_refused_without_one(tmp_path: Path) -> None:
    assert lc.stand_in_digest().startswith("sha256:") and len(lc.stand_in_digest()) == 71
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / LOCAL_VALUES).write_text("global:\n  standInImage: ghcr.io/stefanprodan/podinfo:6.9.1\n")
    with pytest.raises(ValueError, match=r"names no global\.standInImage pinned by digest"):
        lc.stand_in_digest(tmp_path)


def test_docker_refusal_when_the_client_runs_but_the_daemon_does_not() -> None:
    def run(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        assert command[:2] == ["docker", "info"]
        return subprocess.CompletedProcess(command, 1, "", "error during connect: no daemon\n")

    assert (
        lc.docker_refusal(run)
        == "local needs a running Docker daemon: docker info failed (error during connect: no daemon)"
    )

    def answers(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 0, "28.1.1\n", "")

    assert lc.docker_refusal(answers) is None
