"""Rules the cluster enforces at runtime, which no engine on this machine can run: Pod Security "restricted" and
what Dapr's sidecar injector adds to a pod. They are encoded here from their upstream sources, cited per rule, so
that preflight and the tests judge the pods the cluster will really run (app containers plus injected daprd).

- Pod Security Standards: https://kubernetes.io/docs/concepts/security/pod-security-standards/ — the checks follow
  kubernetes/pod-security-admission v0.36.2, policy/check_*.go (one function below per check).
- Dapr 1.18 sidecar injector: dapr/dapr v1.18.3 pkg/injector/patcher/sidecar_container.go (the daprd
  securityContext), sidecar_volumes.go (the projected Sentry token), pkg/injector/service/config.go (defaults: run as
  non-root and read-only root filesystem on; drop ALL capabilities off unless the chart's
  dapr_sidecar_injector.sidecarDropALLCapabilities is true).
- daprd's built-in Kubernetes secret store: dapr/dapr v1.18.3 pkg/runtime/runtime.go (appendBuiltinSecretStore loads
  it in Kubernetes mode with ignoreErrors off) and components-contrib secretstores/kubernetes (needs the pod's API
  token); without a token daprd exits unless the pod sets dapr.io/disable-builtin-k8s-secret-store ("true"), see
  https://github.com/dapr/docs/issues/5014 and https://github.com/dapr/dapr/issues/4227.
- cert-manager's HTTP-01 solver pod, which runs in the app namespaces: cert-manager v1.21.1
  pkg/issuer/acme/http/pod.go (buildDefaultPod).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from preflight.render import Manifest, RenderedRelease, inline_values
from preflight.report import CheckResult
from preflight.synth import Synthesized
from todo_infra.addons import ADDONS, DAPR, Addon
from todo_infra.contracts import PLATFORM_STACK
from todo_infra.pod_security import LEVEL as PSA_LEVEL
from todo_infra.pod_security import LEVELS, PLATFORM_NAMESPACE_LEVELS
from todo_infra.pod_security import MODES as PSA_MODES

_ALLOWED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret", "image",
}  # fmt: skip
_BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t"}

#: The annotation that keeps daprd from loading its built-in Kubernetes secret store.
DISABLE_BUILTIN_SECRET_STORE = "dapr.io/disable-builtin-k8s-secret-store"


# --- Pod Security "restricted" -------------------------------------------------------------------------------


def _containers(spec: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _context(container: Mapping[str, Any]) -> dict[str, Any]:
    return dict(container.get("securityContext") or {})


def _all_contexts(spec: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, securityContext) of the pod and of each of its containers."""
    pod: list[tuple[str, dict[str, Any]]] = [("pod", dict(spec.get("securityContext") or {}))]
    return pod + [(f"container {c['name']}", _context(c)) for c in _containers(spec)]


def _host_namespaces(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    return [f"spec.{key} is true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]


def _privileged(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    return [f"container {c['name']} is privileged" for c in _containers(spec) if _context(c).get("privileged")]


def _capabilities(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    found = []
    for container in _containers(spec):
        capabilities = _context(container).get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"container {container['name']} does not drop ALL capabilities")
        added = set(capabilities.get("add") or [])
        if added - {"NET_BIND_SERVICE"}:
            found.append(f"container {container['name']} adds capabilities {sorted(added - {'NET_BIND_SERVICE'})}")
        if added - _BASELINE_CAPABILITIES:
            found.append(f"container {container['name']} adds non-default capabilities")
    return found


def _volumes(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    found = []
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= _ALLOWED_VOLUMES:
            found.append(f"volume {volume['name']} is of a restricted type {sorted(kinds - _ALLOWED_VOLUMES)}")
    return found


def _host_ports(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    return [
        f"container {c['name']} uses hostPort {p['hostPort']}"
        for c in _containers(spec)
        for p in c.get("ports") or []
        if p.get("hostPort")
    ]


def _privilege_escalation(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    return [
        f"container {c['name']} does not set allowPrivilegeEscalation: false"
        for c in _containers(spec)
        if _context(c).get("allowPrivilegeEscalation") is not False
    ]


def _run_as_non_root(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    pod = (spec.get("securityContext") or {}).get("runAsNonRoot")
    found = [] if pod in (None, True) else ["spec.securityContext.runAsNonRoot is false"]
    for container in _containers(spec):
        own = _context(container).get("runAsNonRoot")
        if own is False or (own is None and pod is not True):
            found.append(f"container {container['name']} may run as root (runAsNonRoot not true)")
    return found


def _run_as_user(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    return [f"{where} sets runAsUser: 0" for where, context in _all_contexts(spec) if context.get("runAsUser") == 0]


def _seccomp(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    allowed = {"RuntimeDefault", "Localhost"}
    pod = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    found = [] if pod in (None, *allowed) else [f"pod seccompProfile {pod}"]
    for container in _containers(spec):
        own = (_context(container).get("seccompProfile") or {}).get("type")
        if own is not None and own not in allowed:
            found.append(f"container {container['name']} seccompProfile {own}")
        elif own is None and pod not in allowed:
            found.append(f"container {container['name']} has no RuntimeDefault/Localhost seccomp profile")
    return found


def _selinux(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    found = []
    for where, context in _all_contexts(spec):
        options = context.get("seLinuxOptions") or {}
        if options.get("type", "") not in _SELINUX_TYPES or options.get("user") or options.get("role"):
            found.append(f"{where} sets seLinuxOptions {options}")
    return found


def _proc_mount(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    return [
        f"container {c['name']} sets procMount {_context(c)['procMount']}"
        for c in _containers(spec)
        if _context(c).get("procMount") not in (None, "Default")
    ]


def _sysctls(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    names = {s["name"] for s in (spec.get("securityContext") or {}).get("sysctls") or []}
    return [f"unsafe sysctl {name}" for name in sorted(names - _SAFE_SYSCTLS)]


def _app_armor(spec: Mapping[str, Any], annotations: Mapping[str, str]) -> list[str]:
    found = [
        f"AppArmor annotation {key}={value}"
        for key, value in annotations.items()
        if key.startswith("container.apparmor.security.beta.kubernetes.io/")
        and value != "runtime/default"
        and not value.startswith("localhost/")
    ]
    found += [
        f"{where} sets AppArmor profile Unconfined"
        for where, context in _all_contexts(spec)
        if (context.get("appArmorProfile") or {}).get("type") == "Unconfined"
    ]
    return found


def _host_probes(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    found = []
    for container in _containers(spec):
        handlers = [container.get(k) or {} for k in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += list((container.get("lifecycle") or {}).values())
        for handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                if (handler.get(action) or {}).get("host"):
                    found.append(f"container {container['name']} probes or hooks another host")
    return found


def _windows_host_process(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    contexts = [spec.get("securityContext") or {}] + [_context(c) for c in _containers(spec)]
    return [
        "windowsOptions.hostProcess is true" for c in contexts if (c.get("windowsOptions") or {}).get("hostProcess")
    ]


#: Every check of the baseline and restricted levels, by pod-security-admission check id.
RESTRICTED_CHECKS: dict[str, Callable[[Mapping[str, Any], Mapping[str, str]], list[str]]] = {
    "hostNamespaces": _host_namespaces,
    "privileged": _privileged,
    "capabilities": _capabilities,
    "hostPathVolumes+restrictedVolumes": _volumes,
    "hostPorts": _host_ports,
    "appArmorProfile": _app_armor,
    "seLinuxOptions": _selinux,
    "procMount": _proc_mount,
    "seccompProfile": _seccomp,
    "sysctls": _sysctls,
    "windowsHostProcess": _windows_host_process,
    "hostProbesAndHostLifecycle": _host_probes,
    "allowPrivilegeEscalation": _privilege_escalation,
    "runAsNonRoot": _run_as_non_root,
    "runAsUser": _run_as_user,
}


def _baseline_capabilities(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    found = []
    for container in _containers(spec):
        added = set((_context(container).get("capabilities") or {}).get("add") or [])
        if added - _BASELINE_CAPABILITIES:
            found.append(f"container {container['name']} adds {sorted(added - _BASELINE_CAPABILITIES)}")
    return found


def _host_path_volumes(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    return [f"volume {v['name']} is a hostPath" for v in spec.get("volumes") or [] if "hostPath" in v]


def _baseline_seccomp(spec: Mapping[str, Any], _: Mapping[str, str]) -> list[str]:
    return [
        f"{where} seccompProfile Unconfined"
        for where, context in _all_contexts(spec)
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined"
    ]


#: The checks of the baseline level alone (pod-security-admission's baseline policy: the same checks, with the
#: baseline halves of capabilities, volumes and seccomp).
BASELINE_CHECKS: dict[str, Callable[[Mapping[str, Any], Mapping[str, str]], list[str]]] = {
    "hostNamespaces": _host_namespaces,
    "privileged": _privileged,
    "capabilities_baseline": _baseline_capabilities,
    "hostPathVolumes": _host_path_volumes,
    "hostPorts": _host_ports,
    "appArmorProfile": _app_armor,
    "seLinuxOptions": _selinux,
    "procMount": _proc_mount,
    "seccompProfile_baseline": _baseline_seccomp,
    "sysctls": _sysctls,
    "windowsHostProcess": _windows_host_process,
    "hostProbesAndHostLifecycle": _host_probes,
}


def baseline_violations(spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None) -> list[str]:
    """What keeps a pod out of Pod Security "baseline"; empty when it is admitted."""
    return [
        f"{check}: {problem}" for check, rule in BASELINE_CHECKS.items() for problem in rule(spec, annotations or {})
    ]


def level_met(spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None) -> str:
    """The strictest Pod Security level that admits the pod."""
    if not restricted_violations(spec, annotations):
        return "restricted"
    return "baseline" if not baseline_violations(spec, annotations) else "privileged"


def restricted_violations(spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None) -> list[str]:
    """What keeps a pod (spec + annotations) out of Pod Security "restricted"; empty when it is admitted."""
    return [
        f"{check}: {problem}" for check, rule in RESTRICTED_CHECKS.items() for problem in rule(spec, annotations or {})
    ]


# --- Dapr sidecar injection ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InjectorSettings:
    """The sidecar injector settings that decide the daprd container's securityContext (chart keys under
    dapr_sidecar_injector; defaults from dapr/dapr v1.18.3 charts/dapr/charts/dapr_sidecar_injector/values.yaml)."""

    drop_all_capabilities: bool = False
    run_as_non_root: bool = True
    read_only_root_filesystem: bool = True
    run_as_user: int | None = None
    run_as_group: int | None = None
    native_sidecar: bool = False

    @classmethod
    def from_chart_values(cls, values: Mapping[str, Any]) -> InjectorSettings:
        injector = values.get("dapr_sidecar_injector") or {}
        return cls(
            drop_all_capabilities=bool(injector.get("sidecarDropALLCapabilities", False)),
            run_as_non_root=bool(injector.get("sidecarRunAsNonRoot", True)),
            read_only_root_filesystem=bool(injector.get("sidecarReadOnlyRootFilesystem", True)),
            run_as_user=injector.get("sidecarRunAsUser") or None,
            run_as_group=injector.get("sidecarRunAsGroup") or None,
            native_sidecar=bool(injector.get("nativeSidecar", False)),
        )


def has_sidecar(template: Mapping[str, Any]) -> bool:
    annotations: Mapping[str, str] = (template.get("metadata") or {}).get("annotations") or {}
    return annotations.get("dapr.io/enabled") == "true"


def inject(template: Mapping[str, Any], settings: InjectorSettings) -> dict[str, Any]:
    """The pod spec after Dapr 1.18's injector: the daprd container and the projected Sentry token volume."""
    spec: dict[str, Any] = copy.deepcopy(dict(template["spec"]))
    if not has_sidecar(template):
        return spec
    annotations = template["metadata"].get("annotations", {})
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": settings.run_as_non_root,
        "readOnlyRootFilesystem": settings.read_only_root_filesystem,
    }
    if settings.run_as_user:
        context["runAsUser"] = settings.run_as_user
    if settings.run_as_group:
        context["runAsGroup"] = settings.run_as_group
    if annotations.get("dapr.io/sidecar-seccomp-profile-type"):
        context["seccompProfile"] = {"type": annotations["dapr.io/sidecar-seccomp-profile-type"]}
    if settings.drop_all_capabilities:
        context["capabilities"] = {"drop": ["ALL"]}
    port = int(annotations.get("dapr.io/metrics-port", "9090"))
    daprd = {
        "name": "daprd",
        "securityContext": context,
        "ports": [
            {"name": "dapr-http", "containerPort": 3500},
            {"name": "dapr-grpc", "containerPort": 50001},
            {"name": "dapr-internal", "containerPort": 50002},
            {"name": "dapr-metrics", "containerPort": port},
        ],
        "volumeMounts": [
            {"name": "dapr-identity-token", "mountPath": "/var/run/secrets/dapr.io/sentrytoken", "readOnly": True}
        ],
    }
    if settings.native_sidecar:
        spec.setdefault("initContainers", []).append({**daprd, "restartPolicy": "Always"})
    else:
        spec.setdefault("containers", []).append(daprd)
    spec.setdefault("volumes", []).append(
        {
            "name": "dapr-identity-token",
            "projected": {
                "defaultMode": 420,
                "sources": [{"serviceAccountToken": {"expirationSeconds": 7200, "path": "token"}}],
            },
        }
    )
    return spec


def sidecar_start_problem(template: Mapping[str, Any]) -> str | None:
    """Why daprd would exit at startup: its built-in Kubernetes secret store needs the pod's API token."""
    if not has_sidecar(template):
        return None
    annotations = template["metadata"].get("annotations", {})
    if template["spec"].get("automountServiceAccountToken", True) is not False:
        return None
    if annotations.get(DISABLE_BUILTIN_SECRET_STORE) == "true":
        return None
    return (
        "mounts no API token (automountServiceAccountToken: false) but does not set "
        f'{DISABLE_BUILTIN_SECRET_STORE}: "true": daprd would exit at startup'
    )


# --- pods cert-manager starts in the app namespaces ----------------------------------------------------------


def acme_http01_solver_pod() -> dict[str, Any]:
    """The HTTP-01 solver pod cert-manager creates next to each Certificate (default controller flags)."""
    return {
        "metadata": {"annotations": {}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "acmesolver",
                    "ports": [{"name": "http", "containerPort": 8089}],
                    "securityContext": {
                        "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


# --- over a rendered release ---------------------------------------------------------------------------------


def pod_templates(manifests: Iterable[Manifest]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind/name, pod template) of every workload and bare pod in a release."""
    for doc in manifests:
        kind = doc.get("kind")
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            yield f"{kind}/{doc['metadata']['name']}", doc["spec"]["template"]
        elif kind == "CronJob":
            yield f"CronJob/{doc['metadata']['name']}", doc["spec"]["jobTemplate"]["spec"]["template"]
        elif kind == "Pod":
            yield f"Pod/{doc['metadata']['name']}", doc


def platform_pod_security(
    synth: Synthesized,
    addons: Iterable[Addon] = ADDONS,
    levels: Mapping[str, tuple[str, str]] = PLATFORM_NAMESPACE_LEVELS,
) -> tuple[list[list[str]], list[str]]:
    """Every namespace of the add-ons the platform creates enforces, warns and audits its level, and that level is the
    strictest every pod the namespace can run meets (both log shippers counted): not looser, not stricter."""
    rows: list[list[str]] = []
    problems: list[str] = []
    by_namespace: dict[str, list[tuple[str, str]]] = {}
    for addon in addons:
        for pod in addon.pods:
            by_namespace.setdefault(addon.namespace, []).append((f"{addon.release}/{pod.name}", pod.pod_security))
    created = {ns["metadata"]["name"]: ns for ns in synth.resources(PLATFORM_STACK, "kubernetes_namespace_v1").values()}
    for namespace, pods in by_namespace.items():
        if namespace not in created:
            continue  # kube-system: the cluster's own
        labels = created[namespace]["metadata"].get("labels") or {}
        declared = levels.get(namespace, ("", ""))[0]
        unset = [name for name, level in pods if level not in LEVELS]
        problems += [f"{name}: no Pod Security level recorded (todo_infra/addons.py pod_security)" for name in unset]
        needed = max((level for _, level in pods if level in LEVELS), key=LEVELS.index, default=LEVELS[0])
        wrong = [mode for mode in PSA_MODES if labels.get(f"pod-security.kubernetes.io/{mode}") != declared]
        if not declared:
            problems.append(f"namespace {namespace} has no Pod Security level")
        elif wrong:
            problems.append(f"namespace {namespace} does not {'/'.join(wrong)} {declared}")
        elif declared != needed:
            which = "looser" if LEVELS.index(declared) > LEVELS.index(needed) else "stricter"
            rank = LEVELS.index(declared)
            below = [name for name, level in pods if level in LEVELS and LEVELS.index(level) > rank]
            problems.append(
                f"namespace {namespace} enforces {declared}, {which} than its pods need ({needed})"
                + (f": {', '.join(below)} would be refused" if below else "")
            )
        for name, level in pods:
            rows.append([PLATFORM_STACK, f"{namespace}: {name}", declared or "none", level or "?"])
    return rows, problems


def check_runtime(synth: Synthesized, apps: Iterable[RenderedRelease]) -> CheckResult:
    """Every pod in the app namespaces, as the cluster will run it (daprd injected), meets Pod Security
    "restricted", which those namespaces enforce; and every daprd can start."""
    injector = InjectorSettings.from_chart_values(inline_values(synth.release(PLATFORM_STACK, DAPR.release)))
    rows: list[list[str]] = []
    problems: list[str] = []
    for release in apps:
        namespace = synth.namespace(release.namespace)["metadata"]
        labels = namespace.get("labels") or {}
        missing = [mode for mode in PSA_MODES if labels.get(f"pod-security.kubernetes.io/{mode}") != PSA_LEVEL]
        if missing:
            problems.append(f"{release.stack}: namespace {namespace['name']} does not {'/'.join(missing)} {PSA_LEVEL}")
        pods = [*pod_templates(release.manifests), ("Pod/cert-manager HTTP-01 solver", acme_http01_solver_pod())]
        for name, template in pods:
            annotations = (template.get("metadata") or {}).get("annotations") or {}
            found = restricted_violations(inject(template, injector), annotations)
            start = sidecar_start_problem(template)
            problems += [f"{release.stack}: {name}: {problem}" for problem in found]
            if start:
                problems.append(f"{release.stack}: {name}: {start}")
            sidecar = "daprd injected" if has_sidecar(template) else ""
            verdict = "ok" if not found and not start else "FAILED"
            rows.append([release.stack, name, sidecar, verdict])
    platform_rows, platform_problems = platform_pod_security(synth)
    rows += platform_rows
    problems += platform_problems
    return CheckResult(
        name="runtime",
        title=(
            f"Pod Security {PSA_LEVEL} (daprd as Dapr's injector adds it) and sidecar start; add-on namespaces' levels"
        ),
        headers=["stack", "pod", "sidecar / namespace level", "result / pod meets"],
        rows=rows,
        problems=problems,
    )
