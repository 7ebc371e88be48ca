"""A release does not restart the state store: Redis' pod template, and its backup, fetch and restore jobs' pod
templates, carry only what changes when Redis changes — a new app image tag, new digests or a new chart version leave
them byte for byte the same (issue: every staging merge took Redis down through its `app.kubernetes.io/version`
label and `strategy: Recreate`)."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest
import yaml

from tests.chart.chart_support import Rendered, release_values, render
from todo_infra.chart_values import deep_merge
from todo_infra.contracts import app_component_name

Manifest = dict[str, Any]
OTHER_RELEASE = {
    "global": {"imageTag": "sha-9f8e7d6", "imageDigests": {"backend": "sha256:" + "9" * 64}},
}


def state_templates(documents: tuple[tuple[str, Manifest], ...]) -> dict[str, str]:
    """The pod templates of the state store, as YAML text."""
    found = {}
    for _, doc in documents:
        name = doc["metadata"]["name"]
        if doc["kind"] == "Deployment" and name == app_component_name("redis"):
            found[name] = yaml.safe_dump(doc["spec"]["template"], sort_keys=True)
        if doc["kind"] == "CronJob" and name.startswith(app_component_name("redis")):
            found[name] = yaml.safe_dump(doc["spec"]["jobTemplate"], sort_keys=True)
    return found


def service_templates(documents: tuple[tuple[str, Manifest], ...]) -> dict[str, str]:
    return {
        doc["metadata"]["name"]: yaml.safe_dump(doc["spec"]["template"], sort_keys=True)
        for _, doc in documents
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] != app_component_name("redis")
    }


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_a_new_app_release_leaves_the_state_store_s_pod_templates_byte_identical(
    chart: helm.Chart, sets: dict[str, str], environment: str
) -> None:
    rendered = render_release(chart, sets, environment, {})
    other = render_release(chart, sets, environment, OTHER_RELEASE)
    before, after = state_templates(rendered), state_templates(other)
    assert app_component_name("redis") in before and len(before) >= 3, sorted(before)
    assert before == after
    # Seeded: the same change does reach the services' pods (their labels and images follow the release).
    assert service_templates(rendered) != service_templates(other)
    assert any("sha-9f8e7d6" in text for text in service_templates(other).values())


def test_the_state_store_s_pods_carry_no_version_label(staging: Rendered) -> None:
    pods = {
        doc["metadata"]["name"]: (doc["spec"].get("jobTemplate", {}).get("spec") or doc["spec"])["template"]
        for doc in [*staging.of_kind("Deployment"), *staging.of_kind("CronJob")]
        if doc["metadata"]["name"].startswith(app_component_name("redis"))
    }
    assert len(pods) >= 3
    for name, template in pods.items():
        labels = template["metadata"]["labels"]
        assert "app.kubernetes.io/version" not in labels and "helm.sh/chart" not in labels, name
        assert labels["app.kubernetes.io/component"], name


def render_release(
    chart: helm.Chart, sets: dict[str, str], environment: str, overrides: dict[str, Any]
) -> tuple[tuple[str, Manifest], ...]:
    return render(chart, deep_merge(release_values(environment, sets), overrides), environment)
