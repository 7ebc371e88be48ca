"""Pod Security admission for the app namespaces: they enforce (and warn and audit) the "restricted" level.

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
