"""Pod Security admission: the app namespaces enforce (and warn and audit) the "restricted" level; every namespace of
the add-ons enforces the strictest level all its pods meet (PLATFORM_NAMESPACE_LEVELS).

Labels from https://kubernetes.io/docs/concepts/security/pod-security-admission/. The level's version is pinned to
the cluster's Kubernetes minor, so a cluster upgrade never tightens admission by surprise; preflight's runtime check
proves every pod the app namespaces run (app containers plus the injected daprd) meets the level.
"""

from __future__ import annotations

LEVEL = "restricted"
MODES = ("enforce", "warn", "audit")


def namespace_labels(kubernetes_minor_prefix: str) -> dict[str, str]:
    """`pod-security.kubernetes.io/<mode>` and `<mode>-version` for each mode; "1.35." gives version v1.35."""
    version = f"v{kubernetes_minor_prefix.rstrip('.')}"
    labels: dict[str, str] = {}
    for mode in MODES:
        labels[f"pod-security.kubernetes.io/{mode}"] = LEVEL
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    return labels


#: Pod Security levels, strictest first.
LEVELS = ("restricted", "baseline", "privileged")

#: The level each namespace of the add-ons enforces (and warns and audits), and why: the strictest level every pod
#: the namespace can run meets (todo_infra/addons.py AddonPod.pod_security, both log shippers included). Preflight's
#: runtime check refuses a level looser or stricter than that, and a namespace the platform creates without one.
PLATFORM_NAMESPACE_LEVELS: dict[str, tuple[str, str]] = {
    "cert-manager": ("restricted", "every cert-manager pod runs as non-root, drops ALL, RuntimeDefault seccomp"),
    "dapr-system": (
        "restricted",
        "the control plane meets it once global.seccompProfile is RuntimeDefault (ADDON_VALUES)",
    ),
    "ingress-nginx": ("restricted", "the controller adds only NET_BIND_SERVICE, which restricted allows"),
    "envoy-gateway-system": (
        "restricted",
        "Envoy Gateway's controller and the proxies it creates run as non-root 65532, drop ALL, RuntimeDefault "
        "seccomp, no privilege escalation, and listen on unprivileged ports (listener port + 10000)",
    ),
    "monitoring": (
        "privileged",
        "node-exporter needs hostNetwork, hostPID and hostPath /proc, /sys and / to report the node; Promtail, when "
        "selected, reads hostPath /var/log/pods as root. Alloy (the default shipper), Prometheus, Alertmanager, the "
        "operator, kube-state-metrics and Loki meet restricted, Grafana baseline (its init-chown-data container)",
    ),
}

#: Values an add-on needs to meet its namespace's level, passed with its release (todo_infra/addons.py).
ADDON_VALUES: dict[str, dict[str, object]] = {
    # Dapr 1.18.3 sets a seccomp profile on its control-plane containers only when global.seccompProfile is set
    # (charts/dapr/charts/dapr_operator/templates/dapr_operator_deployment.yaml L90-92 and the same block in the
    # placement, scheduler, sentry and injector templates).
    "dapr": {"global": {"seccompProfile": "RuntimeDefault"}},
}


class UnguardedNamespace(ValueError):
    pass


def platform_namespace_labels(namespace: str, kubernetes_minor_prefix: str) -> dict[str, str]:
    """The Pod Security labels of an add-on namespace: its level in every mode, versioned like the app namespaces'."""
    if namespace not in PLATFORM_NAMESPACE_LEVELS:
        raise UnguardedNamespace(
            f"namespace {namespace} has no Pod Security level: add it to todo_infra/pod_security.py "
            "PLATFORM_NAMESPACE_LEVELS (one of restricted, baseline, privileged, with the reason)"
        )
    level = PLATFORM_NAMESPACE_LEVELS[namespace][0]
    return {
        key: level if not key.endswith("-version") else value
        for key, value in namespace_labels(kubernetes_minor_prefix).items()
    }
