"""The runtime contract no engine here can run (Kubernetes Pod Security admission, Dapr's sidecar injector, daprd's
start-up), encoded in preflight/runtime.py from the upstream sources it cites: the repo passes it, and each rule
fails on a seeded case."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from preflight.render import RenderedRelease, inline_values
from preflight.runtime import (
    DISABLE_BUILTIN_SECRET_STORE,
    InjectorSettings,
    check_runtime,
    has_sidecar,
    inject,
    pod_templates,
    restricted_violations,
    sidecar_start_problem,
)
from tests.chart.service_facts import with_dapr
from tests.synth import Synth
from todo_infra.contracts import app_component_name


def app(apps: list[RenderedRelease], stack: str) -> RenderedRelease:
    return next(release for release in apps if release.stack == stack)


def platform_injector(synth: Synth) -> InjectorSettings:
    return InjectorSettings.from_chart_values(inline_values(synth.release("platform", "dapr")))


def dapr_templates(release: RenderedRelease) -> list[tuple[str, dict[str, Any]]]:
    return [(name, template) for name, template in pod_templates(release.manifests) if has_sidecar(template)]


def test_runtime_check_passes_on_the_repo(synth: Synth, apps: list[RenderedRelease]) -> None:
    result = check_runtime(synth, apps)
    assert result.ok, result.problems
    assert {row[1] for row in result.rows} >= {"Deployment/todo-app-backend", "Pod/cert-manager HTTP-01 solver"}


def test_every_dapr_pod_can_start_its_sidecar(apps: list[RenderedRelease]) -> None:
    """daprd loads a built-in Kubernetes secret store that needs the pod's API token (dapr/docs issue 5014): a pod
    either mounts the token or disables that store. Reverting the chart's annotation fails here."""
    for release in apps:
        templates = dapr_templates(release)
        assert (
            {name for name, _ in templates}
            == {f"Deployment/{app_component_name(s)}" for s in with_dapr(release.values)}
            != set()
        ), release.stack
        for name, template in templates:
            assert sidecar_start_problem(template) is None, f"{release.stack} {name}: {sidecar_start_problem(template)}"


def test_a_dapr_pod_without_token_or_the_annotation_would_crash(apps: list[RenderedRelease]) -> None:
    _, template = dapr_templates(app(apps, "app-staging"))[0]
    broken = copy.deepcopy(template)
    del broken["metadata"]["annotations"][DISABLE_BUILTIN_SECRET_STORE]
    problem = sidecar_start_problem(broken)
    assert problem is not None and "daprd would exit at startup" in problem
    broken["spec"]["automountServiceAccountToken"] = True
    assert sidecar_start_problem(broken) is None, "a mounted token is the other way to start"


def test_the_platform_makes_injected_sidecars_drop_all_capabilities(synth: Synth) -> None:
    settings = platform_injector(synth)
    assert settings.drop_all_capabilities is True
    assert settings.run_as_non_root and settings.read_only_root_filesystem and not settings.native_sidecar


def test_the_injected_daprd_meets_restricted_only_with_drop_all(synth: Synth, apps: list[RenderedRelease]) -> None:
    _, template = dapr_templates(app(apps, "app-production"))[0]
    annotations = template["metadata"]["annotations"]
    injected = inject(template, platform_injector(synth))
    daprd = next(c for c in injected["containers"] if c["name"] == "daprd")
    assert daprd["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert restricted_violations(injected, annotations) == []
    chart_default = inject(template, InjectorSettings())
    assert restricted_violations(chart_default, annotations) == [
        "capabilities: container daprd does not drop ALL capabilities"
    ]


def test_app_namespaces_enforce_warn_and_audit_restricted(synth: Synth) -> None:
    for namespace in ("staging", "production"):
        labels = synth.namespace(namespace)["metadata"]["labels"]
        for mode in ("enforce", "warn", "audit"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
            assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.35"


def test_a_namespace_without_the_labels_fails_the_check(synth: Synth, apps: list[RenderedRelease]) -> None:
    stacks = copy.deepcopy(synth.stacks)
    namespace = stacks["platform"]["resource"]["kubernetes_namespace_v1"]["namespace-staging"]
    del namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
    result = check_runtime(dataclasses.replace(synth, stacks=stacks), apps)
    assert result.problems == ["app-staging: namespace staging does not enforce restricted"]


SEEDED: dict[str, tuple[dict[str, Any], str]] = {
    "privileged": ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}, "privileged"),
    "host network": ({"hostNetwork": True}, "hostNamespaces"),
    "hostPath volume": ({"volumes": [{"name": "v", "hostPath": {"path": "/"}}]}, "hostPathVolumes"),
    "nfs volume": ({"volumes": [{"name": "v", "nfs": {"server": "s", "path": "/"}}]}, "restrictedVolumes"),
    "host port": ({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]}, "hostPorts"),
    "escalation allowed": (
        {"containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": True}}]},
        "allowPrivilegeEscalation",
    ),
    "root user": ({"securityContext": {"runAsUser": 0}}, "runAsUser"),
    "root allowed": ({"securityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
    "unconfined seccomp": (
        {"containers": [{"name": "c", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}]},
        "seccompProfile",
    ),
    "added capability": (
        {"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]},
        "capabilities",
    ),
    "unsafe sysctl": ({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}, "sysctls"),
    "proc mount": ({"containers": [{"name": "c", "securityContext": {"procMount": "Unmasked"}}]}, "procMount"),
    "selinux user": ({"securityContext": {"seLinuxOptions": {"user": "root"}}}, "seLinuxOptions"),
    "probe on another host": (
        {"containers": [{"name": "c", "livenessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}}}]},
        "hostProbesAndHostLifecycle",
    ),
}


def _merged(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(base)
    for key, value in change.items():
        if key == "containers":
            spec["containers"][0] = {**spec["containers"][0], **value[0]}
            spec["containers"][0]["securityContext"] = {
                **base["containers"][0].get("securityContext", {}),
                **value[0].get("securityContext", {}),
            }
        elif key == "securityContext":
            spec["securityContext"] = {**spec.get("securityContext", {}), **value}
        else:
            spec[key] = value
    return spec


@pytest.mark.parametrize("case", SEEDED)
def test_each_restricted_rule_refuses_its_seeded_case(apps: list[RenderedRelease], case: str) -> None:
    _, template = next(pod_templates(app(apps, "app-staging").manifests))
    assert restricted_violations(template["spec"]) == [], "the seeded case must start from an admitted pod"
    change, check = SEEDED[case]
    violations = restricted_violations(_merged(template["spec"], change))
    assert violations, case
    assert any(check in violation.split(":", 1)[0] for violation in violations), violations
