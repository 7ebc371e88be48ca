"""Rendering the chart the way the app stacks release it, and small lookups over the rendered documents."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm

from preflight.render import Manifest, RenderedRelease, parse_documents, set_string
from tests.synth import Synth
from todo_infra import contracts, services, yamlload
from todo_infra.chart_values import deep_merge
from todo_infra.contracts import APP_RELEASE, app_component_name, app_stack_id
from todo_infra.settings import ENVIRONMENTS

RELEASE_NAME = APP_RELEASE

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "chart"
SERVICES = services.names()  # the one list: chart/values.yaml services: (tests/test_services.py checks it)
# The embedded defaults (cdktf.json) that the synthesized releases carry.
SAMPLE_OWNER = "example-org"
DOMAIN = "example.com"


def cluster_kubernetes_version() -> str:
    """`<minor>.0` for the Kubernetes minor the cluster pins (cdktf.json context `kubernetes_minor_prefix`, e.g.
    "1.35." -> "1.35.0"), so lint and schema validation check the chart against the API the cluster serves."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdktf.json").read_text())["context"]
    prefix = str(context["kubernetes_minor_prefix"])
    return f"{prefix}0"


@dataclass(frozen=True)
class Rendered(RenderedRelease):
    """One environment's render (`base` is values.yaml alone): merged input values and parsed documents."""

    environment: str = ""


def load_values(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yamlload.load((CHART_DIR / name).read_text()) or {}
    return loaded


def stack_sets(synth: Synth) -> dict[str, str]:
    """What each app stack's todo-app release `set`s, read from its synthesized JSON (the image-tag variable
    given a sample value), so the chart is tested with exactly what the stacks release."""
    return {env: set_string(synth.release(app_stack_id(env), RELEASE_NAME)) for env in ENVIRONMENTS}


def release_values(environment: str, sets: Mapping[str, str]) -> dict[str, Any]:
    """values.yaml, then values-<env>.yaml, then the stack's --set keys; `base` is values.yaml alone."""
    values = load_values(contracts.BASE_VALUES)
    if environment != "base":
        values = deep_merge(values, load_values(contracts.values_file(environment)))
        values = deep_merge(values, helm.parse_set_string(sets[environment]))
    return values


def render(chart: helm.Chart, values: dict[str, Any], namespace: str) -> tuple[tuple[str, Manifest], ...]:
    return parse_documents(chart.render(values, name=RELEASE_NAME, namespace=namespace, is_install=True))


def render_environment(
    chart: helm.Chart, environment: str, sets: Mapping[str, str], overrides: Mapping[str, Any] | None = None
) -> Rendered:
    namespace = "default" if environment == "base" else environment
    values = deep_merge(release_values(environment, sets), overrides or {})
    documents = render(chart, values, namespace)
    return Rendered(
        stack=app_stack_id(environment),
        release=RELEASE_NAME,
        namespace=namespace,
        values=values,
        documents=documents,
        environment=environment,
    )


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def app_container(deployment: Manifest) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec(deployment)["containers"]
    assert len(containers) == 1, "the chart renders one container per pod; Dapr injects the sidecar"
    return containers[0]


def fullname(service: str) -> str:
    return app_component_name(service)
