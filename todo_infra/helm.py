"""What every `helm_release` of this repo shares, written once.

Releases wait for readiness and roll back atomically when they fail (a half-applied release never stays),
and keep 10 revisions of history so `helm rollback` can reach any of the last 10 (docs/architecture.md, "Releases").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from cdktf import AssetType, Fn, ITerraformDependable, TerraformAsset, Token
from cdktf_cdktf_provider_helm.release import Release
from constructs import Construct

HISTORY_LIMIT = 10


def local_chart(scope: Construct, path: Path) -> str:
    """Copy a chart folder into the stack's assets, so `cdktf.out/stacks/<stack>` plans on its own."""
    return TerraformAsset(scope, "chart", path=str(path), type=AssetType.DIRECTORY).path


def values_document(values: Mapping[str, Any]) -> str:
    """A values document as YAML, with every Terraform expression in it rendered as a JSON string.

    Terraform substitutes an expression into the YAML text as is, so `receiver: ${local.x}` whose value is "null"
    would read as YAML null (and "true" or "8080" as a boolean or a number). jsonencode() makes every substituted
    value a quoted, escaped YAML string.
    """

    def quoted(node: Any) -> Any:
        if isinstance(node, str) and Token.is_unresolved(node):
            return Fn.jsonencode(node)
        if isinstance(node, Mapping):
            return {key: quoted(value) for key, value in node.items()}
        if isinstance(node, list | tuple):
            return [quoted(value) for value in node]
        return node

    return yaml.safe_dump(quoted(dict(values)), sort_keys=False)


def helm_release(
    scope: Construct,
    *,
    name: str,
    chart: str,
    namespace: str,
    values: Sequence[str],
    timeout: int,
    depends_on: Sequence[ITerraformDependable],
    **chart_source: Any,
) -> Release:
    """A release with the repo's policy; `chart_source` is `repository`/`version` for remote charts."""
    return Release(
        scope,
        "release",
        name=name,
        chart=chart,
        namespace=namespace,
        values=list(values),
        timeout=timeout,
        depends_on=list(depends_on),
        atomic=True,
        cleanup_on_fail=True,
        wait=True,
        max_history=HISTORY_LIMIT,
        **chart_source,
    )
