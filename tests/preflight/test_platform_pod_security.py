"""No unguarded namespace: every namespace the platform creates for its add-ons enforces, warns and audits a Pod
Security level, the strictest every pod it can run meets — judged by the same evaluation preflight runs for the app
namespaces (preflight/runtime.py)."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from preflight.render import inline_values
from preflight.runtime import baseline_violations, level_met, platform_pod_security, restricted_violations
from tests.stacks.test_log_shipper import alloy_pod, alloy_values
from tests.synth import Synth
from todo_infra.addons import (
    ADDONS,
    ALLOY,
    CERT_MANAGER,
    DAPR,
    ENVOY_GATEWAY,
    KUBE_PROMETHEUS_STACK,
    PROMTAIL,
    platform_addons,
)
from todo_infra.chart_values import deep_merge
from todo_infra.pod_security import (
    ADDON_VALUES,
    LEVELS,
    MODES,
    PLATFORM_NAMESPACE_LEVELS,
    UnguardedNamespace,
    platform_namespace_labels,
)
from todo_infra.settings import EDGE_ENVOY_GATEWAY, EDGE_INGRESS_NGINX, ENVIRONMENTS


def addon_namespaces(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        ns["metadata"]["name"]: ns
        for ns in synth.resources("platform", "kubernetes_namespace_v1").values()
        if ns["metadata"]["name"] not in ENVIRONMENTS
    }


@pytest.mark.parametrize("which", ["default", "variant"])
def test_every_addon_namespace_enforces_warns_and_audits_its_level(synth: Synth, variant: Synth, which: str) -> None:
    """The default (Envoy Gateway's namespace) and the variant (the retired ingress-nginx edge's)."""
    namespaces = addon_namespaces(synth if which == "default" else variant)
    edge = "envoy-gateway-system" if which == "default" else "ingress-nginx"
    assert set(namespaces) == {"cert-manager", "dapr-system", edge, "monitoring"}
    for name, namespace in namespaces.items():
        labels = namespace["metadata"]["labels"]
        level = PLATFORM_NAMESPACE_LEVELS[name][0]
        for mode in MODES:
            assert labels[f"pod-security.kubernetes.io/{mode}"] == level, name
            assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.35", name


def test_the_levels_are_restricted_except_where_a_pod_cannot_meet_it() -> None:
    assert {name: level for name, (level, _) in PLATFORM_NAMESPACE_LEVELS.items()} == {
        "cert-manager": "restricted",
        "dapr-system": "restricted",
        "ingress-nginx": "restricted",
        "envoy-gateway-system": "restricted",
        "monitoring": "privileged",
    }
    assert all(why.strip() for _, why in PLATFORM_NAMESPACE_LEVELS.values())


@pytest.mark.parametrize("which", ["synth", "variant"])
def test_each_namespace_level_is_exactly_what_its_pods_need(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    rows, problems = platform_pod_security(synth)
    assert problems == []
    # every pod of every add-on the configuration installs: the default's edge is Envoy Gateway, the variant's
    # ingress-nginx (tests/synth.py)
    edge = EDGE_ENVOY_GATEWAY if which == "synth" else EDGE_INGRESS_NGINX
    installed = platform_addons(edge)
    assert len(rows) == sum(len(a.pods) for a in installed if a.namespace in PLATFORM_NAMESPACE_LEVELS)


def test_every_addon_pod_has_a_recorded_level() -> None:
    for addon in ADDONS:
        if addon.namespace in PLATFORM_NAMESPACE_LEVELS:
            assert all(pod.pod_security in LEVELS for pod in addon.pods), addon.release


def test_seeded_monitoring_at_restricted_would_refuse_node_exporter(synth: Synth) -> None:
    levels = {**PLATFORM_NAMESPACE_LEVELS, "monitoring": ("restricted", "seeded")}
    _, problems = platform_pod_security(synth, levels=levels)
    assert problems == ["namespace monitoring does not enforce/warn/audit restricted"]
    relabelled = _with_labels(synth, "monitoring", "restricted")
    _, problems = platform_pod_security(relabelled, levels=levels)
    assert problems == [
        "namespace monitoring enforces restricted, stricter than its pods need (privileged): "
        "kube-prometheus-stack/grafana, kube-prometheus-stack/grafana init, kube-prometheus-stack/node-exporter, "
        "promtail/promtail would be refused"
    ]


def test_seeded_a_namespace_looser_than_its_pods_need(synth: Synth) -> None:
    levels = {**PLATFORM_NAMESPACE_LEVELS, "cert-manager": ("privileged", "seeded")}
    _, problems = platform_pod_security(_with_labels(synth, "cert-manager", "privileged"), levels=levels)
    assert problems == ["namespace cert-manager enforces privileged, looser than its pods need (restricted)"]


def test_seeded_a_pod_without_a_level(synth: Synth) -> None:
    unknown = dataclasses.replace(CERT_MANAGER, pods=(dataclasses.replace(CERT_MANAGER.pods[0], pod_security=""),))
    addons = [unknown if a is CERT_MANAGER else a for a in ADDONS]
    _, problems = platform_pod_security(synth, addons=addons)
    assert problems == ["cert-manager/controller: no Pod Security level recorded (todo_infra/addons.py pod_security)"]


def test_seeded_a_namespace_without_a_level_is_refused_at_synth() -> None:
    with pytest.raises(UnguardedNamespace, match="namespace some-new-addon has no Pod Security level"):
        platform_namespace_labels("some-new-addon", "1.35.")


def _with_labels(synth: Synth, namespace: str, level: str) -> Synth:
    stacks = {**synth.stacks}
    platform = dict(stacks["platform"])
    resources = dict(platform["resource"])
    namespaces = {}
    for key, ns in resources["kubernetes_namespace_v1"].items():
        namespaces[key] = ns
        if ns["metadata"]["name"] == namespace:
            labels = {k: (level if not k.endswith("-version") else v) for k, v in ns["metadata"]["labels"].items()}
            namespaces[key] = {**ns, "metadata": {**ns["metadata"], "labels": labels}}
    resources["kubernetes_namespace_v1"] = namespaces
    platform["resource"] = resources
    stacks["platform"] = platform
    return dataclasses.replace(synth, stacks=stacks)


# --- the evaluation agrees with the recorded levels, on the pods that decide them ----------------------------------

#: node-exporter as prometheus-node-exporter 4.56.1 (kube-prometheus-stack 88.5.3's dependency) renders it: values.yaml
#: hostNetwork: true (L382), hostPID: true (L390), hostRootFsMount.enabled (L396), and the proc, sys and root hostPath
#: volumes of templates/daemonset.yaml.
NODE_EXPORTER = {
    "hostNetwork": True,
    "hostPID": True,
    "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534},
    "containers": [{"name": "node-exporter", "securityContext": {"readOnlyRootFilesystem": True}}],
    "volumes": [
        {"name": "proc", "hostPath": {"path": "/proc"}},
        {"name": "sys", "hostPath": {"path": "/sys"}},
        {"name": "root", "hostPath": {"path": "/"}},
    ],
}
#: Promtail 6.17.1's defaults (values.yaml podSecurityContext runAsUser 0, containerSecurityContext, defaultVolumes).
PROMTAIL_POD = {
    "securityContext": {"runAsUser": 0, "runAsGroup": 0},
    "containers": [
        {
            "name": "promtail",
            "securityContext": {
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
                "allowPrivilegeEscalation": False,
            },
        }
    ],
    "volumes": [
        {"name": "run", "hostPath": {"path": "/run/promtail"}},
        {"name": "containers", "hostPath": {"path": "/var/lib/docker/containers"}},
        {"name": "pods", "hostPath": {"path": "/var/log/pods"}},
    ],
}
#: Grafana 12.11.1's init-chown-data container (values.yaml initChownData.securityContext: root, CHOWN and
#: DAC_OVERRIDE), which kube-prometheus-stack's Grafana runs because its volume is persistent.
GRAFANA_POD = {
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 472,
        "fsGroup": 472,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "initContainers": [
        {
            "name": "init-chown-data",
            "securityContext": {
                "runAsNonRoot": False,
                "runAsUser": 0,
                "seccompProfile": {"type": "RuntimeDefault"},
                "capabilities": {"add": ["CHOWN", "DAC_OVERRIDE"], "drop": ["ALL"]},
            },
        }
    ],
    "containers": [
        {
            "name": "grafana",
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }
    ],
    "volumes": [{"name": "storage", "persistentVolumeClaim": {"claimName": "grafana"}}],
}


#: Envoy Gateway v1.9.0 runs each proxy pod from the EnvoyProxy spec; nothing renders it before the controller does, so
#: the pod is built here as the controller builds it (github.com/envoyproxy/gateway, tag v1.9.0,
#: internal/infrastructure/kubernetes/proxy/resource.go and resource_provider.go):
#: - both containers (envoy, shutdown-manager) take `container.securityContext` when it is set, replacing the default
#:   (expectedEnvoySecurityContext / expectedShutdownManagerSecurityContext, L491-522);
#: - the default is resource.DefaultSecurityContext() (no privilege escalation, drop ALL, not privileged, non-root,
#:   RuntimeDefault seccomp) with runAsUser/runAsGroup 65532 and a writable root filesystem;
#: - the pod's securityContext is `pod.securityContext` as given (resource_provider.go L435), its volumes a Secret
#:   (`envoy` certificates), a ConfigMap (the SDS files) and `pod.volumes`; no host namespace;
#: - `patch` (type StrategicMerge) is applied to the Deployment last.
ENVOY_PROXY_DEFAULT_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "privileged": False,
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _strategic_merge(base: Any, patch: Any) -> Any:
    """A strategic-merge patch as far as a pod spec needs it: maps merge, `containers` merge by name, lists replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                by_name = {c["name"]: c for c in merged.get(key, [])}
                for container in value:
                    by_name[container["name"]] = _strategic_merge(by_name.get(container["name"], {}), container)
                merged[key] = list(by_name.values())
            else:
                merged[key] = _strategic_merge(merged.get(key), value)
        return merged
    return patch


def envoy_proxy_pod(envoy_gateway_values: dict[str, Any]) -> dict[str, Any]:
    """The proxy pod spec Envoy Gateway v1.9.0 runs for the default EnvoyProxy in the chart values."""
    deployment = envoy_gateway_values["config"]["envoyGateway"]["envoyProxy"]["provider"]["kubernetes"][
        "envoyDeployment"
    ]
    container, pod = deployment.get("container") or {}, deployment.get("pod") or {}
    security = container.get("securityContext") or ENVOY_PROXY_DEFAULT_SECURITY_CONTEXT
    spec: dict[str, Any] = {
        "containers": [
            {"name": "envoy", "securityContext": security},
            {"name": "shutdown-manager", "securityContext": security},
        ],
        "volumes": [
            {"name": "certs", "secret": {"secretName": "envoy"}},
            {"name": "sds", "configMap": {"name": "envoy-sds"}},
            *(pod.get("volumes") or []),
        ],
    }
    if pod.get("securityContext"):
        spec["securityContext"] = pod["securityContext"]
    patch = (deployment.get("patch") or {}).get("value") or {}
    template_patch = ((patch.get("spec") or {}).get("template") or {}).get("spec") or {}
    patched: dict[str, Any] = _strategic_merge(spec, template_patch)
    return patched


def test_the_envoy_proxy_as_the_controller_runs_it_meets_its_namespace_level(synth: Synth) -> None:
    values = inline_values(synth.release("platform", ENVOY_GATEWAY.release))
    pod = envoy_proxy_pod(values)
    assert restricted_violations(pod) == []
    assert level_met(pod) == _pod_level(ENVOY_GATEWAY.pods, "proxy") == "restricted"
    # the platform's patch reaches the shutdown-manager without replacing its securityContext
    (sidecar,) = [c for c in pod["containers"] if c["name"] == "shutdown-manager"]
    assert sidecar["securityContext"] == ENVOY_PROXY_DEFAULT_SECURITY_CONTEXT and sidecar["resources"]


def test_seeded_a_proxy_securitycontext_in_the_values_replaces_the_default_and_is_caught(synth: Synth) -> None:
    values = inline_values(synth.release("platform", ENVOY_GATEWAY.release))
    seeded = deep_merge(
        values,
        {
            "config": {
                "envoyGateway": {
                    "envoyProxy": {
                        "provider": {
                            "kubernetes": {"envoyDeployment": {"container": {"securityContext": {"runAsUser": 0}}}}
                        }
                    }
                }
            }
        },
    )
    found = restricted_violations(envoy_proxy_pod(seeded))
    assert any("envoy" in problem and "runAsNonRoot" in problem for problem in found), found
    assert any("shutdown-manager" in problem for problem in found), found


def test_seeded_a_host_network_patch_makes_the_proxy_privileged(synth: Synth) -> None:
    values = copy.deepcopy(inline_values(synth.release("platform", ENVOY_GATEWAY.release)))
    deployment = values["config"]["envoyGateway"]["envoyProxy"]["provider"]["kubernetes"]["envoyDeployment"]
    deployment["patch"]["value"]["spec"]["template"]["spec"]["hostNetwork"] = True
    assert level_met(envoy_proxy_pod(values)) == "privileged"


def _pod_level(addon_pods: tuple[Any, ...], name: str) -> str:
    (pod,) = [pod for pod in addon_pods if pod.name == name]
    level: str = pod.pod_security
    return level


@pytest.mark.parametrize(
    ("spec", "addon_pods", "name"),
    [
        (NODE_EXPORTER, KUBE_PROMETHEUS_STACK.pods, "node-exporter"),
        (PROMTAIL_POD, PROMTAIL.pods, "promtail"),
        (GRAFANA_POD, KUBE_PROMETHEUS_STACK.pods, "grafana"),
        (alloy_pod(alloy_values()), ALLOY.pods, "alloy"),
    ],
    ids=["node-exporter", "promtail", "grafana", "alloy"],
)
def test_the_evaluation_gives_the_recorded_level(spec: dict[str, Any], addon_pods: tuple[Any, ...], name: str) -> None:
    assert level_met(spec) == _pod_level(addon_pods, name)


def test_baseline_names_what_makes_node_exporter_privileged() -> None:
    assert baseline_violations(NODE_EXPORTER) == [
        "hostNamespaces: spec.hostNetwork is true",
        "hostNamespaces: spec.hostPID is true",
        "hostPathVolumes: volume proc is a hostPath",
        "hostPathVolumes: volume sys is a hostPath",
        "hostPathVolumes: volume root is a hostPath",
    ]


def test_seeded_baseline_refuses_a_privileged_container_and_an_added_capability() -> None:
    spec = {
        "containers": [{"name": "x", "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}}]
    }
    assert baseline_violations(spec) == [
        "privileged: container x is privileged",
        "capabilities_baseline: container x adds ['SYS_ADMIN']",
    ]
    assert level_met(spec) == "privileged"
    assert restricted_violations(GRAFANA_POD) and not baseline_violations(GRAFANA_POD)


# --- what the platform passes for the levels -------------------------------------------------------------------


def test_dapr_runs_its_control_plane_with_a_seccomp_profile_and_no_secret_reader(synth: Synth) -> None:
    values = inline_values(synth.release("platform", DAPR.release))
    assert values["global"]["seccompProfile"] == "RuntimeDefault" == ADDON_VALUES["dapr"]["global"]["seccompProfile"]  # type: ignore[index]
    # charts/dapr/charts/dapr_rbac/templates/secret-reader.yaml L1 at v1.18.3: `if .Values.secretReader.enabled`.
    assert values["dapr_rbac"]["secretReader"]["enabled"] is False
