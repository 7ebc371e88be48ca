"""Data protection: Terraform refuses any plan that would destroy what holds the app's data.

Destroying the cluster, a namespace with volumes, or a release that owns a volume claim deletes data that no
apply brings back (Redis, metrics, logs, Grafana, the Dapr scheduler's etcd). `prevent_destroy` makes such a plan
fail instead — replacements included. Taking something down on purpose is a code change: docs/runbooks/rollback.md,
"Data", says how.
"""

from __future__ import annotations

from cdktf import TerraformResource


def protect(*resources: TerraformResource) -> None:
    for resource in resources:
        resource.add_override("lifecycle.prevent_destroy", True)
