"""Rotation reaches the pods (docs/runbooks/deploy.md, "Rotate an app secret"): every pod template carries the
revision of each Secret its containers or its Dapr sidecar read (annotation checksum/<secret>), the app stack sets
those revisions from the Secrets' own revision variables, and a new revision of one Secret changes exactly the pod
templates of the workloads that read it — Redis and its state-store clients together."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest
import yaml

from tests.chart.chart_support import Rendered, pod_spec, release_values, render
from tests.synth import Synth
from todo_infra.app_secrets import APP_SECRETS_NAME, BACKUP_SPACES_SECRET_NAME, DAPR_APP_TOKEN_PREFIX
from todo_infra.contracts import app_component_name, app_stack_id
from todo_infra.release import app_stack_secrets, secret_revision_sets
from todo_infra.secrets import revision_variable_name

Manifest = dict[str, Any]
RELEASE = "todo-app"


def pod_templates(documents: tuple[tuple[str, Manifest], ...]) -> dict[str, str]:
    """Every long-running workload's pod template as YAML text (Deployments; CronJobs start new pods, which read the
    Secret afresh on each run)."""
    return {
        doc["metadata"]["name"]: yaml.safe_dump(doc["spec"]["template"], sort_keys=True)
        for _, doc in documents
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
    }


def secrets_read(workload: Manifest, rendered: Rendered) -> set[str]:
    """The Secrets a Deployment's pod reads: its containers' secretKeyRefs and envFrom, its secret volumes, and, for a
    pod with a Dapr sidecar, the secretKeyRefs of the Dapr components scoped to its app-id."""
    spec = pod_spec(workload)
    found: set[str] = set()
    for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                found.add(ref["name"])
        found |= {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
    found |= {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
    app_id = annotations.get("dapr.io/app-id") if annotations.get("dapr.io/enabled") == "true" else None
    if app_id:
        for component in rendered.of_kind("Component"):
            if app_id in component.get("scopes", []):
                for item in component["spec"].get("metadata", []):
                    if "secretKeyRef" in item:
                        found.add(item["secretKeyRef"]["name"])
    return found


def test_each_pod_template_carries_the_revision_of_exactly_the_secrets_it_reads(cloud: Rendered) -> None:
    revisions = cloud.values["global"]["secretRevisions"]
    for workload in cloud.of_kind("Deployment"):
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        carried = {key.removeprefix("checksum/") for key in annotations if key.startswith("checksum/")}
        read = secrets_read(workload, cloud)
        assert carried == read & set(revisions), workload["metadata"]["name"]
        for secret in carried:
            assert annotations[f"checksum/{secret}"] == str(revisions[secret])


def rolled(chart: helm.Chart, sets: dict[str, str], before: dict[str, str], after: dict[str, str]) -> set[str]:
    """The workloads whose pod template differs between two renders of production with these Secret revisions."""
    values = release_values("production", sets)
    templates = []
    for revisions in (before, after):
        values["global"]["secretRevisions"] = revisions
        templates.append(pod_templates(render(chart, values, "production")))
    return {name for name, text in templates[1].items() if templates[0][name] != text}


def readers(rendered: Rendered, secret: str) -> set[str]:
    return {w["metadata"]["name"] for w in rendered.of_kind("Deployment") if secret in secrets_read(w, rendered)}


@pytest.mark.parametrize("secret", app_stack_secrets())
def test_a_new_revision_rolls_exactly_the_workloads_that_read_the_secret(
    chart: helm.Chart, sets: dict[str, str], production: Rendered, secret: str
) -> None:
    revisions = dict(production.values["global"]["secretRevisions"])
    changed = rolled(chart, sets, revisions, {**revisions, secret: "1234567"})
    assert changed == readers(production, secret)
    if secret == APP_SECRETS_NAME:
        # Redis and every state-store client roll together on a new REDIS_PASSWORD
        statestore = production.get("Component", production.values["dapr"]["statestore"]["name"])
        clients = {app_component_name(app_id) for app_id in statestore["scopes"]}
        assert {app_component_name("redis"), *clients} <= changed
    if secret == BACKUP_SPACES_SECRET_NAME:
        assert changed == set()  # only the backup CronJobs read it, and each run reads it afresh
    if secret.startswith(DAPR_APP_TOKEN_PREFIX):
        # a rotated app token rolls its own app-id's pods only (daprd and the app read it at start)
        assert changed == {app_component_name(secret.removeprefix(DAPR_APP_TOKEN_PREFIX))}


def test_seeded_a_chart_without_revisions_rolls_nothing_on_a_rotation(
    chart: helm.Chart, sets: dict[str, str], production: Rendered
) -> None:
    """The check above against the chart as it was (no revision reaches a pod template): a rotated app-secrets
    changes no pod template, so it rolls none of the workloads that read it and the check fails."""
    assert rolled(chart, sets, {}, {}) != readers(production, APP_SECRETS_NAME)


def test_the_app_stack_sets_every_secrets_revision_from_its_own_variable(synth: Synth) -> None:
    for environment in ("staging", "production"):
        stack = app_stack_id(environment)
        release = synth.release(stack, RELEASE)
        given = {item["name"]: item["value"] for item in release["set"]}
        assert {k: v for k, v in given.items() if k.startswith("global.secretRevisions.")} == secret_revision_sets()
        variables = synth.stacks[stack]["variable"]
        for name in app_stack_secrets():
            assert revision_variable_name(name) in variables, name
