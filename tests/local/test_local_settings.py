"""The local target's settings: the same validation and one-line refusals as the cloud target's, and what it changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from main import configuration_problems, context_from, embedded_context
from todo_infra import chart_values
from todo_infra.contracts import CLUSTER_STACK, PLATFORM_STACK, app_stack_id
from todo_infra.local_target import (
    DEFAULT_KUBE_CONTEXT,
    DEFAULT_KUBECONFIG,
    LOCAL_CLUSTER_ISSUER,
    LOCAL_DOMAIN,
    LOCAL_STATE_PREFIX,
    LOCAL_VALUES,
    TARGETS,
    cluster_issuer_values,
)
from todo_infra.settings import CLUSTER_ISSUER, ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def settings(**environ: str) -> Settings:
    return load_settings(context_from(environ), environ)


def test_the_default_target_is_doks_and_unchanged() -> None:
    cloud = settings()
    assert cloud.local is None
    assert cloud.stack_ids == (CLUSTER_STACK, PLATFORM_STACK, app_stack_id("staging"), app_stack_id("production"))
    assert cloud.cluster_issuer == CLUSTER_ISSUER
    assert cloud.state.backend == embedded_context()["state_backend"] and cloud.state.local_prefix == "terraform"
    assert all(env.overlays == () and env.domain == embedded_context()["domain"] for env in cloud.environments)
    assert settings(TODO_TARGET="doks") == cloud


def test_the_local_target_runs_staging_alone_on_localhost_with_state_and_issuer_of_its_own() -> None:
    local = settings(TODO_TARGET="local")
    assert local.local is not None
    assert (local.local.kube_context, local.local.kubeconfig) == (DEFAULT_KUBE_CONTEXT, DEFAULT_KUBECONFIG)
    assert local.stack_ids == (PLATFORM_STACK, app_stack_id("staging"))
    (env,) = local.environments
    assert (env.name, env.host, env.overlays) == ("staging", f"staging.todo.{LOCAL_DOMAIN}", (LOCAL_VALUES,))
    assert (local.state.backend, local.state.local_prefix) == ("local", LOCAL_STATE_PREFIX)
    assert local.cluster_issuer == LOCAL_CLUSTER_ISSUER
    assert cluster_issuer_values(local, ca_namespace="cert-manager")["type"] == "ca"
    assert "type" not in cluster_issuer_values(settings(), ca_namespace="cert-manager")


def test_the_local_target_takes_the_environment_and_context_it_is_given() -> None:
    local = settings(TODO_TARGET="local", TODO_ENVIRONMENTS="production", TODO_KUBE_CONTEXT="k3d-todo",
                     TODO_KUBECONFIG="/home/dev/.kube/k3d.yaml")  # fmt: skip
    assert [env.name for env in local.environments] == ["production"]
    assert local.local is not None and local.local.kube_context == "k3d-todo"
    assert local.local.kubeconfig == "/home/dev/.kube/k3d.yaml"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TODO_TARGET": "kind"}, "invalid target='kind': expected one of " + ", ".join(TARGETS)),
        ({"TODO_TARGET": "local", "TODO_ENVIRONMENTS": "staging,production"},
         "invalid TODO_ENVIRONMENTS='staging,production': expected exactly one environment on the local target"),
        ({"TODO_TARGET": "local", "TODO_DNS_ON_DIGITALOCEAN": "true"},
         "invalid dns_on_digitalocean=True: expected false on the local target (it has no DNS records)"),
        ({"TODO_KUBE_CONTEXT": "-bad context"}, "invalid kube_context='-bad context': expected a kubeconfig context"),
        ({"TODO_KUBECONFIG": "kubeconfig"}, "invalid kubeconfig='kubeconfig': expected an absolute or ~/ path"),
        ({"TODO_TARGET": "local", "TODO_REGION": "mars1"}, "invalid region='mars1'"),
    ],
)  # fmt: skip
def test_bad_local_settings_are_refused_in_one_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        settings(**environ)
    assert str(refused.value).startswith(message), str(refused.value)
    assert "\n" not in str(refused.value)


def test_main_refuses_a_bad_target_with_one_line_exit_2_and_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "TODO_TARGET": "laptop"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["main.py: invalid target='laptop': expected one of doks, local"]


def test_the_local_values_file_is_checked_against_the_chart_schema_like_every_values_file(tmp_path: Path) -> None:
    """Seeded failure: a values-local.yaml with a stand-in not pinned by digest is refused by the schema check."""
    assert configuration_problems(settings(TODO_TARGET="local")) == []
    for name in ("values.yaml", "values-staging.yaml", "values.schema.json", "Chart.yaml"):
        (tmp_path / name).write_text((chart_values.CHART_DIR / name).read_text())
    (tmp_path / "templates").mkdir()
    (tmp_path / LOCAL_VALUES).write_text("global:\n  standInImage: ghcr.io/stefanprodan/podinfo:6.9.1\n")
    problems = chart_values.values_problems("values-staging.yaml", {}, tmp_path, overlays=(LOCAL_VALUES,))
    assert problems and problems[0].startswith(f"chart/{LOCAL_VALUES}: global.standInImage:"), problems
