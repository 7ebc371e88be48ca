#!/usr/bin/env python3
"""Helm post-renderer of the dapr release: the operator, sentry and sidecar injector get REQUIRED pod anti-affinity
on kubernetes.io/hostname, so their two replicas never share a node and losing one node never takes a component down.

The chart (v1.18.3) has no value for it: outside HA mode these Deployments render only a nodeAffinity (the OS), and
in HA mode only a *preferred* anti-affinity
(https://github.com/dapr/dapr/blob/v1.18.3/charts/dapr/charts/dapr_operator/templates/dapr_operator_deployment.yaml#L204-L231,
the same lines in dapr_sentry_deployment.yaml#L252-L279 and dapr_sidecar_injector_deployment.yaml#L261-L288).
Helm runs this program on the rendered manifests (stdin) and installs what it prints
(https://helm.sh/docs/topics/advanced/#post-rendering). It runs where Terraform runs, with the standard library
only, and edits text: each of the three Deployments must carry exactly one pod-level `affinity:` line (6 spaces,
as the chart renders it) and no pod anti-affinity yet. Anything else is refused in one line on stderr, non-zero
exit, and Helm installs nothing. The scheduler's anti-affinity is a chart value (k8s/addons/dapr.yaml).
"""

from __future__ import annotations

import re
import sys

#: Deployment name -> the `app` label its pods carry (the chart's selector labels).
DEPLOYMENTS = {
    "dapr-operator": "dapr-operator",
    "dapr-sentry": "dapr-sentry",
    "dapr-sidecar-injector": "dapr-sidecar-injector",
}
TOPOLOGY_KEY = "kubernetes.io/hostname"
POD_AFFINITY = "      affinity:"
_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_NAME = re.compile(r"^metadata:\n(?:  .*\n)*?  name: ['\"]?([\w.-]+)['\"]?$", re.MULTILINE)


def anti_affinity(app: str) -> str:
    return (
        "        podAntiAffinity:\n"
        "          requiredDuringSchedulingIgnoredDuringExecution:\n"
        "          - labelSelector:\n"
        "              matchLabels:\n"
        f"                app: {app}\n"
        f"            topologyKey: {TOPOLOGY_KEY}\n"
    )


def _edit(document: str, name: str) -> str:
    lines = document.split("\n")
    anchors = [index for index, line in enumerate(lines) if line.rstrip() == POD_AFFINITY]
    if len(anchors) != 1:
        raise ValueError(f"Deployment {name} has {len(anchors)} pod-level 'affinity:' lines, expected exactly 1")
    if any(line.strip() == "podAntiAffinity:" for line in lines):
        raise ValueError(f"Deployment {name} already has a podAntiAffinity (HA mode?); refusing to add a second")
    lines.insert(anchors[0] + 1, anti_affinity(DEPLOYMENTS[name]).rstrip("\n"))
    return "\n".join(lines)


def post_render(stream: str) -> str:
    """The manifests with the three Deployments edited; raises ValueError naming what is wrong."""
    documents = _SEPARATOR.split(stream)
    seen: set[str] = set()
    for position, document in enumerate(documents):
        if not re.search(r"^kind: Deployment[ \t]*$", document, re.MULTILINE):
            continue
        match = _NAME.search(document)
        if match is None or match.group(1) not in DEPLOYMENTS:
            continue
        name = match.group(1)
        if name in seen:
            raise ValueError(f"Deployment {name} appears twice")
        seen.add(name)
        documents[position] = _edit(document, name)
    missing = sorted(set(DEPLOYMENTS) - seen)
    if missing:
        raise ValueError(
            f"no Deployment {', '.join(missing)} in the rendered chart (expected {', '.join(DEPLOYMENTS)})"
        )
    return "---".join(documents)


def main() -> int:
    try:
        sys.stdout.write(post_render(sys.stdin.read()))
    except ValueError as error:
        print(f"dapr post-renderer: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
