"""Node loss takes at most one replica of each Dapr control-plane component: the scheduler's members and the two
replicas of the operator, sentry and injector never share a node (docs/architecture.md, "Node loss").

The Dapr chart cannot be rendered offline (its repository is out of reach), so the template lines that decide
the pods' anti-affinity at the pinned version are encoded here, with their source, and the values are tested
against them; the post-renderer runs as Helm runs it, on text laid out as the chart renders it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from preflight.admission import selects
from preflight.render import inline_values
from tests.synth import Synth
from todo_infra import yamlload
from todo_infra.addons import DAPR, INGRESS_NGINX
from todo_infra.scheduling import DAPR_BUDGETED

HOSTNAME = "kubernetes.io/hostname"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def postrender_path() -> Path:
    path = DAPR.postrender_file
    assert path is not None, "the dapr add-on names no post-renderer"
    return path


POSTRENDER = postrender_path()


def load_postrender() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dapr_anti_affinity", POSTRENDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


postrender = load_postrender()


def dapr_values(synth: Synth) -> dict[str, Any]:
    return inline_values(synth.release("platform", "dapr"))


# --- the chart's templates at v1.18.3, encoded ---------------------------------------------------------------


def scheduler_anti_affinity(values: dict[str, Any]) -> dict[str, Any]:
    """dapr_scheduler_statefulset.yaml, lines 270-292, rendered whatever global.ha.enabled says
    (https://github.com/dapr/dapr/blob/v1.18.3/charts/dapr/charts/dapr_scheduler/templates/dapr_scheduler_statefulset.yaml#L270-L292)."""
    ha = values["global"]["ha"]
    policy, key = ha["podAntiAffinityPolicy"], ha["topologyKey"]
    assert policy in (REQUIRED, "preferredDuringSchedulingIgnoredDuringExecution")  # the chart's own validation
    term = {
        "labelSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["dapr-scheduler-server"]}]},
        "topologyKey": key,
    }
    return {REQUIRED: [term]} if policy == REQUIRED else {policy: [{"weight": 100, "podAffinityTerm": term}]}


def placement_rendered(values: dict[str, Any]) -> bool:
    """dapr_placement_statefulset.yaml, line 1: the placement server exists only with actors on
    (https://github.com/dapr/dapr/blob/v1.18.3/charts/dapr/charts/dapr_placement/templates/dapr_placement_statefulset.yaml#L1)."""
    actors = values["global"].get("actors", {})
    return bool(actors.get("enabled", True)) and actors.get("serviceName", "placement") == "placement"


CHART_DEFAULTS = {
    "global": {
        "ha": {
            "enabled": False,
            "topologyKey": "topology.kubernetes.io/zone",
            "podAntiAffinityPolicy": "preferredDuringSchedulingIgnoredDuringExecution",
        }
    }
}


def one_per_node(anti_affinity: dict[str, Any]) -> bool:
    return any(term["topologyKey"] == HOSTNAME for term in anti_affinity.get(REQUIRED, []))


def test_the_scheduler_members_never_share_a_node(synth: Synth) -> None:
    rendered = scheduler_anti_affinity(dapr_values(synth))
    assert one_per_node(rendered)
    assert selects(rendered[REQUIRED][0]["labelSelector"], {"app": "dapr-scheduler-server"})
    assert dapr_values(synth)["global"]["ha"]["enabled"] is False  # not HA mode: no third operator, sentry, injector


def test_seeded_the_charts_defaults_only_prefer_spreading_by_zone() -> None:
    """What main had: the chart's defaults, a preference by zone — nothing on a single-zone pool."""
    assert not one_per_node(scheduler_anti_affinity(CHART_DEFAULTS))


def test_no_placement_server_and_no_pod_model_for_it(synth: Synth) -> None:
    """Actors are off (the app uses none): the chart renders no placement StatefulSet, and capacity counts none."""
    assert not placement_rendered(dapr_values(synth))
    assert placement_rendered(CHART_DEFAULTS)
    assert "placement" not in {pod.name for pod in DAPR.pods}


def test_the_pod_model_marks_exactly_the_components_kept_apart() -> None:
    """Capacity and node loss place one per node exactly the pods the values (scheduler) and the post-renderer
    (operator, sentry, injector) constrain; the post-renderer's Deployments are the budgeted ones."""
    assert set(postrender.DEPLOYMENTS) == set(DAPR_BUDGETED)
    assert all(app == name for name, app in postrender.DEPLOYMENTS.items())
    constrained = {"scheduler"} | {name.removeprefix("dapr-") for name in postrender.DEPLOYMENTS}
    assert {pod.name for pod in DAPR.pods if pod.one_per_node} == constrained


def test_the_dapr_release_runs_the_post_renderer_it_ships(synth: Synth) -> None:
    releases = synth.resources("platform", "helm_release").values()
    wired = {release["name"]: release["postrender"] for release in releases if "postrender" in release}
    assert set(wired) == {"dapr"}
    assert wired["dapr"]["binary_path"] == "python3"
    (program,) = wired["dapr"]["args"]
    assert (synth.outdir / "stacks" / "platform" / program).read_bytes() == POSTRENDER.read_bytes()
    assert INGRESS_NGINX.postrender_file is None


# --- the post-renderer -------------------------------------------------------------------------------------------


def chart_deployment(name: str, *, ha_anti_affinity: bool = False, affinity: bool = True) -> str:
    """A Deployment laid out as the chart renders the operator, sentry and injector at v1.18.3 (the pod-level
    `affinity:` at 6 spaces, its nodeAffinity, and in HA mode a preferred podAntiAffinity)."""
    lines = [
        f"# Source: dapr/charts/{name}/templates/deployment.yaml",
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        f"  name: {name}",
        "  namespace: dapr-system",
        "  labels:",
        f"    app: {name}",
        "spec:",
        "  replicas: 2",
        "  selector:",
        "    matchLabels:",
        f"      app: {name}",
        "  template:",
        "    metadata:",
        "      labels:",
        f"        app: {name}",
        "    spec:",
        "      containers:",
        f"      - name: {name}",
        "        image: ghcr.io/dapr/dapr:1.18.3",
    ]
    if affinity:
        lines += [
            "      affinity:",
            "        nodeAffinity:",
            "          requiredDuringSchedulingIgnoredDuringExecution:",
            "             nodeSelectorTerms:",
            "                - matchExpressions:",
            "                  - key: kubernetes.io/os",
            "                    operator: In",
            "                    values:",
            "                    - linux",
        ]
    if ha_anti_affinity:
        lines += [
            "        podAntiAffinity:",
            "          preferredDuringSchedulingIgnoredDuringExecution:",
            "          - weight: 100",
            "            podAffinityTerm:",
            "              labelSelector:",
            "                matchExpressions:",
            "                - key: app",
            "                  operator: In",
            "                  values:",
            f"                  - {name}",
            "              topologyKey: topology.kubernetes.io/zone",
        ]
    lines += ["      priorityClassName:", "        todo-platform", ""]
    return "\n".join(lines)


OTHER = (
    "# Source: dapr/charts/dapr_operator/templates/dapr_operator_service.yaml\napiVersion: v1\nkind: Service\n"
    "metadata:\n  name: dapr-api\nspec:\n  selector:\n    app: dapr-operator\n"
)


def stream(*documents: str) -> str:
    return "".join(f"---\n{document}" for document in documents)


def run(text: str) -> subprocess.CompletedProcess[str]:
    """As Helm runs it: the manifests on stdin, the result on stdout."""
    return subprocess.run([sys.executable, str(POSTRENDER)], input=text, capture_output=True, text=True, check=False)


def pod_specs(text: str) -> dict[str, dict[str, Any]]:
    return {
        doc["metadata"]["name"]: doc["spec"]["template"]
        for doc in yamlload.load_all(text)
        if doc and doc["kind"] == "Deployment"
    }


def test_each_deployment_gets_required_anti_affinity_against_its_own_pods_only() -> None:
    source = stream(OTHER, *(chart_deployment(name) for name in DAPR_BUDGETED))
    result = run(source)
    assert result.returncode == 0 and result.stderr == ""
    templates = pod_specs(result.stdout)
    assert set(templates) == set(DAPR_BUDGETED)
    for name, template in templates.items():
        affinity = template["spec"]["affinity"]
        (term,) = affinity["podAntiAffinity"][REQUIRED]
        assert term["topologyKey"] == HOSTNAME
        assert selects(term["labelSelector"], template["metadata"]["labels"])
        others = [t["metadata"]["labels"] for n, t in templates.items() if n != name]
        assert not any(selects(term["labelSelector"], labels) for labels in others)
        assert affinity["nodeAffinity"][REQUIRED]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["linux"]
        assert template["spec"]["priorityClassName"] == "todo-platform"
    # Everything else is passed on byte for byte.
    assert result.stdout.split("---")[1] == source.split("---")[1]
    assert [d for d in yamlload.load_all(result.stdout) if d["kind"] != "Deployment"] == [yamlload.load(OTHER)]


def test_seeded_without_the_post_renderer_the_replicas_may_share_a_node() -> None:
    for template in pod_specs(stream(*(chart_deployment(name) for name in DAPR_BUDGETED))).values():
        assert "podAntiAffinity" not in template["spec"]["affinity"]


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        (
            [chart_deployment("dapr-operator"), chart_deployment("dapr-sidecar-injector")],
            "no Deployment dapr-sentry in the rendered chart "
            "(expected dapr-operator, dapr-sentry, dapr-sidecar-injector)",
        ),
        (
            [chart_deployment(name, ha_anti_affinity=name == "dapr-sentry") for name in DAPR_BUDGETED],
            "Deployment dapr-sentry already has a podAntiAffinity (HA mode?); refusing to add a second",
        ),
        (
            [chart_deployment(name, affinity=name != "dapr-operator") for name in DAPR_BUDGETED],
            "Deployment dapr-operator has 0 pod-level 'affinity:' lines, expected exactly 1",
        ),
    ],
    ids=["a Deployment missing", "HA mode", "a template without affinity"],
)
def test_seeded_a_chart_it_does_not_understand_is_refused_in_one_line(documents: list[str], message: str) -> None:
    result = run(stream(*documents))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"dapr post-renderer: {message}\n"


def test_the_post_renderer_needs_only_the_standard_library() -> None:
    """It runs where Terraform runs, outside the project's virtualenv."""
    imports = {
        line.split()[1].split(".")[0]
        for line in Path(POSTRENDER).read_text().splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= {"__future__", "re", "sys"}
