"""Data protection: Terraform refuses any plan that would destroy what holds the app's data.

Destroying the cluster, a namespace with volumes, or a release that owns a volume claim deletes data that no
apply brings back (Redis, metrics, logs, Grafana, the Dapr scheduler's etcd). `prevent_destroy` makes such a plan
fail instead — replacements included. Taking something down on purpose is a code change: docs/runbooks/teardown.md,
"1. Lift prevent_destroy", says how.
"""

from __future__ import annotations

from collections.abc import Iterable

from cdktf import TerraformResource, TerraformStack


def protect(*resources: TerraformResource) -> None:
    for resource in resources:
        resource.add_override("lifecycle.prevent_destroy", True)


def namespace_resource_id(namespace: str) -> str:
    """The Terraform id of an app namespace: the platform stack's now, the app stack's before (same id in both)."""
    return f"namespace-{namespace}"


def forget_namespaces(stack: TerraformStack, namespaces: Iterable[str], *, also: Iterable[str] = ()) -> None:
    """`removed` blocks (destroy = false) for app namespaces the configuration does not build: `prevent_destroy` lives
    in the configuration, so a namespace dropped from it would otherwise be destroyed with its Secrets and Redis claim.
    Terraform forgets it instead; selecting the environment again needs `terraform import` (docs/runbooks/deploy.md).
    `also`: further resource addresses to forget the same way (the edge not selected)."""
    blocks = [
        {"from": f"kubernetes_namespace_v1.{namespace_resource_id(ns)}", "lifecycle": {"destroy": False}}
        for ns in namespaces
    ]
    blocks += [{"from": address, "lifecycle": {"destroy": False}} for address in also]
    if blocks:
        stack.add_override("removed", blocks)


def release_namespace_to_platform(stack: TerraformStack, namespace: str) -> None:
    """The app stack once created its namespace; the platform stack owns it now (cluster-scoped objects belong to the
    reviewed deploy). A `removed` block makes the app stack forget it without destroying it: on a deployed project
    the first app deploy after the platform has imported the namespace drops it from the app state, and on a new one
    it is a no-op (docs/runbooks/deploy.md, "Upgrade to per-environment identities")."""
    forget_namespaces(stack, [namespace])
