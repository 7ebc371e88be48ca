"""The log shipper: Alloy by default, Promtail by one setting (with a warning); the same Loki URL and stream labels;
Alloy's configuration checked against its documented syntax (no Alloy binary is on PyPI, npm or Debian); its pod as
the capacity check counts it and as Pod Security judges it."""

from __future__ import annotations

from typing import Any

import pytest

from preflight.render import inline_values
from preflight.run import log_shipper_warnings
from preflight.runtime import restricted_violations
from tests import alloy_syntax
from tests.synth import Synth
from todo_infra import yamlload
from todo_infra.addons import ALLOY, LOG_SHIPPERS, PROMTAIL, AddonPod
from todo_infra.metrics_catalog import LOG_SHIPPER_LABELS, LOG_STREAM_LABELS
from todo_infra.settings import LOG_SHIPPER_CHOICES

LOKI_PUSH_URL = "http://loki.monitoring.svc.cluster.local:3100/loki/api/v1/push"


def alloy_values() -> dict[str, Any]:
    values: dict[str, Any] = yamlload.load(ALLOY.values_file.read_text())
    return values


def alloy_config() -> str:
    content: str = alloy_values()["alloy"]["configMap"]["content"]
    return content


def released(synth: Synth) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in synth.resources("platform", "helm_release").values()}


# --- selection -------------------------------------------------------------------------------------------------


def test_the_choices_are_the_shippers_alloy_first() -> None:
    assert tuple(LOG_SHIPPERS) == LOG_SHIPPER_CHOICES == ("alloy", "promtail")


def test_the_default_deploys_alloy_and_not_promtail(synth: Synth) -> None:
    releases = released(synth)
    assert ALLOY.release in releases and PROMTAIL.release not in releases
    assert any("loki" in dep for dep in releases[ALLOY.release]["depends_on"])
    assert releases[ALLOY.release]["version"] == "1.11.1"
    assert log_shipper_warnings(synth) == []


def test_promtail_stays_selectable_with_a_one_line_warning(variant: Synth) -> None:
    releases = released(variant)
    assert PROMTAIL.release in releases and ALLOY.release not in releases
    clients = yamlload.load(releases[PROMTAIL.release]["values"][0])["config"]["clients"]
    assert [c["url"] for c in clients] == [LOKI_PUSH_URL]
    (line,) = log_shipper_warnings(variant)
    assert "\n" not in line
    assert "Promtail, which reached end of life on 2026-03-02" in line


# --- Alloy's configuration -------------------------------------------------------------------------------------


def test_the_alloy_configuration_loads() -> None:
    assert alloy_syntax.problems(alloy_config()) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("loki.write.loki.receiver", "loki.write.lokii.receiver", "lokii.receiver refers to no declared component"),
        ("relabel.pods.output", "relabel.pods.targets", "discovery.relabel.pods exports no targets"),
        ('role = "pod"\n  selectors', "selectors", "missing required argument role"),
        ("target_label  = \"node_name\"", "target = \"node_name\"", "unknown argument target"),
        ("loki.write \"loki\" {", "loki.writer \"loki\" {", "unknown component loki.writer"),
        ("  }\n}\n\nloki.source", "  }\n\nloki.source", "syntax: expected }, found the end"),
        ("endpoint {", "endpoints {", "unknown block endpoints"),
    ],
    ids=["typo in a reference", "wrong export", "missing role", "unknown argument", "unknown component",
         "unclosed block", "unknown block"],
)  # fmt: skip
def test_seeded_a_broken_configuration_is_refused(old: str, new: str, problem: str) -> None:
    config = alloy_config()
    assert old in config, old
    broken = config.replace(old, new, 1)
    assert any(problem in found for found in alloy_syntax.problems(broken)), alloy_syntax.problems(broken)


def test_the_pipeline_is_discovery_relabel_source_write_to_loki() -> None:
    components = alloy_syntax.components(alloy_config())
    assert list(components) == [
        "discovery.kubernetes.pods",
        "discovery.relabel.pods",
        "loki.source.kubernetes.pods",
        "loki.write.loki",
    ]
    assert components["discovery.relabel.pods"].references == ["discovery.kubernetes.pods.targets"]
    assert components["loki.source.kubernetes.pods"].references == [
        "discovery.relabel.pods.output",
        "loki.write.loki.receiver",
    ]
    (endpoint,) = components["loki.write.loki"].blocks
    assert endpoint.attributes["url"] == LOKI_PUSH_URL


def test_each_alloy_reads_only_the_pods_of_its_own_node() -> None:
    """A DaemonSet of Alloys each discovering every pod would ship every line once per node."""
    discovery = alloy_syntax.components(alloy_config())["discovery.kubernetes.pods"]
    (selector,) = discovery.blocks
    assert selector.attributes["role"] == "pod"
    assert selector.attributes["field"] == (
        "op",
        "+",
        "spec.nodeName=",
        ("call", "coalesce", [("call", "sys.env", ["HOSTNAME"]), ("ref", "constants.hostname")]),
    )
    # The chart sets HOSTNAME to the node's name (containers/_agent.yaml L35-38 at helm-chart/1.11.1).
    assert alloy_values()["controller"]["type"] == "daemonset"


def _pod_target(**labels: str) -> dict[str, str]:
    return {
        "__meta_kubernetes_namespace": "production",
        "__meta_kubernetes_pod_name": "backend-6d9f8c7b5d-x2x7q",
        "__meta_kubernetes_pod_uid": "0b3c0e0e-0000-4000-8000-000000000001",
        "__meta_kubernetes_pod_container_name": "backend",
        "__meta_kubernetes_pod_node_name": "pool-1-abc12",
        "__meta_kubernetes_pod_controller_name": "backend-6d9f8c7b5d",
        **labels,
    }


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            _pod_target(
                __meta_kubernetes_pod_label_app_kubernetes_io_name="backend",
                __meta_kubernetes_pod_label_app_kubernetes_io_instance="todo-app",
                __meta_kubernetes_pod_label_app_kubernetes_io_component="api",
            ),
            {"app": "backend", "instance": "todo-app", "component": "api", "job": "production/backend"},
        ),
        # No app labels: the controller's name without its pod-template hash, as Promtail's first two rules give.
        (_pod_target(), {"app": "backend", "job": "production/backend"}),
        (_pod_target(__meta_kubernetes_pod_label_app="legacy"), {"app": "legacy", "job": "production/legacy"}),
    ],
    ids=["app.kubernetes.io labels", "controller name", "app label"],
)
def test_alloy_gives_a_pod_the_labels_promtail_gave_it(target: dict[str, str], expected: dict[str, str]) -> None:
    rules = alloy_syntax.components(alloy_config())["discovery.relabel.pods"].blocks
    labels = alloy_syntax.public_labels(alloy_syntax.relabel(rules, target))
    common = {"namespace": "production", "pod": "backend-6d9f8c7b5d-x2x7q", "container": "backend"}
    assert labels == {**common, "node_name": "pool-1-abc12", **expected}
    assert set(labels) <= LOG_SHIPPER_LABELS["alloy"]


def test_alloy_sets_every_label_it_is_said_to_set() -> None:
    rules = alloy_syntax.components(alloy_config())["discovery.relabel.pods"].blocks
    target_labels = {rule.attributes["target_label"] for rule in rules}
    assert {label for label in target_labels if not label.startswith("__")} == LOG_SHIPPER_LABELS["alloy"]


def test_queries_may_use_only_labels_both_shippers_write() -> None:
    assert LOG_SHIPPER_LABELS["alloy"] & LOG_SHIPPER_LABELS["promtail"] == LOG_STREAM_LABELS
    assert {"namespace", "container", "pod", "app"} <= LOG_STREAM_LABELS
    assert not {"stream", "filename"} & LOG_STREAM_LABELS, "the Kubernetes API serves no stream, no file"


# --- Alloy's pod ---------------------------------------------------------------------------------------------------


def chart_containers(values: dict[str, Any]) -> list[str]:
    """The resources keys of the containers the alloy chart 1.11.1 renders into its pod (grafana/alloy tag
    helm-chart/1.11.1, operations/helm/charts/alloy/templates/): controllers/_pod.yaml L31-42 lists
    controller.initContainers, the "alloy" container (containers/_agent.yaml L78-81: alloy.resources), the config
    reloader when configReloader.enabled (containers/_watch.yaml L3, L18-21: configReloader.resources; the chart's
    default is true) and controller.extraContainers."""
    controller = values.get("controller", {})
    keys = [f"controller.initContainers[{i}].resources" for i, _ in enumerate(controller.get("initContainers", []))]
    keys.append("alloy.resources")
    if values.get("configReloader", {}).get("enabled", True):
        keys.append("configReloader.resources")
    keys += [f"controller.extraContainers[{i}].resources" for i, _ in enumerate(controller.get("extraContainers", []))]
    return keys


def model_problems(pod: AddonPod, values: dict[str, Any]) -> list[str]:
    problems = []
    if list(pod.containers) != chart_containers(values):
        problems.append(f"model counts {list(pod.containers)}, the chart renders {chart_containers(values)}")
    # controllers/daemonset.yaml L1: a DaemonSet only for controller.type "daemonset" (the chart's default).
    if pod.daemonset != (values.get("controller", {}).get("type", "daemonset") == "daemonset"):
        problems.append("model and chart disagree on one pod per node")
    return problems


def test_the_alloy_pod_model_is_what_the_chart_renders(synth: Synth) -> None:
    (pod,) = ALLOY.pods
    values = inline_values(released(synth)[ALLOY.release])
    assert model_problems(pod, values) == []
    assert values["controller"]["priorityClassName"] == ALLOY.priority_class  # _pod.yaml L43-45


def test_seeded_the_config_reloader_left_on_is_a_container_the_model_misses() -> None:
    (pod,) = ALLOY.pods
    values = alloy_values()
    values["configReloader"] = {"enabled": True}
    assert model_problems(pod, values) == [
        "model counts ['alloy.resources'], the chart renders ['alloy.resources', 'configReloader.resources']"
    ]


def alloy_pod(values: dict[str, Any]) -> dict[str, Any]:
    """The security-relevant part of the pod the chart renders: pod securityContext from global.podSecurityContext
    (_pod.yaml L18-21), the alloy container's from alloy.securityContext (_agent.yaml L86-89), the volumes: the
    config ConfigMap, hostPaths only when alloy.mounts.varlog/dockercontainers (_pod.yaml L72-88), and
    controller.volumes.extra."""
    alloy = values["alloy"]
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": "alloy"}}]
    mounts = alloy.get("mounts", {})
    if mounts.get("varlog"):
        volumes.append({"name": "varlog", "hostPath": {"path": "/var/log"}})
    if mounts.get("dockercontainers"):
        volumes.append({"name": "dockercontainers", "hostPath": {"path": "/var/lib/docker/containers"}})
    volumes += values.get("controller", {}).get("volumes", {}).get("extra", [])
    return {
        "securityContext": values.get("global", {}).get("podSecurityContext", {}),
        "hostNetwork": values.get("controller", {}).get("hostNetwork", False),
        "containers": [
            {
                "name": "alloy",
                "securityContext": alloy.get("securityContext", {}),
                "ports": [{"name": "http-metrics", "containerPort": 12345}],
            }
        ],
        "volumes": volumes,
    }


def test_alloy_runs_under_pod_security_restricted() -> None:
    assert restricted_violations(alloy_pod(alloy_values())) == []


def test_seeded_alloy_reading_host_files_is_not_restricted() -> None:
    values = alloy_values()
    values["alloy"]["mounts"]["varlog"] = True
    assert restricted_violations(alloy_pod(values)) == [
        "hostPathVolumes+restrictedVolumes: volume varlog is of a restricted type ['hostPath']"
    ]


def test_alloy_reads_pods_and_their_logs_and_nothing_else() -> None:
    rbac = alloy_values()["rbac"]
    read = ["get", "list", "watch"]
    assert rbac["rules"] == [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": read}]
    assert rbac["clusterRules"] == [{"apiGroups": [""], "resources": ["namespaces"], "verbs": read}]
    # Neither list may be empty: the chart's ClusterRole would render `[]` inside its rules (rbac.yaml L47-49).
    assert all(rbac[key] for key in ("rules", "clusterRules"))
