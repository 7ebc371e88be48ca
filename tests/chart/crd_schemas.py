"""Validation of the custom resources the charts render, without a Kubernetes API server.

Upstream CRD files stay out of the repo. With the workplace's upstream data at hand (tests/upstream.py), every kind
is validated against its CRD's `openAPIV3Schema` there. Without it, the kinds that registry packages model
(ServiceMonitor, PodMonitor, PrometheusRule, ClusterIssuer, Certificate and the Gateway API kinds: the npm packages
@kubernetes-models/prometheus-operator, @kubernetes-models/cert-manager and @kubernetes-models/gateway-api) are
validated with those; the Dapr kinds cannot be, and the tests that need them skip with the one reason tests/skips.py
lists.

Kubernetes structural schemas are close to, but not exactly, JSON Schema; the conversions below are applied in
memory: `nullable` allows null, leading RE2 inline flags move before the anchor, CEL rules are not checked, and
objects are strict unless `x-kubernetes-preserve-unknown-fields`.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.upstream import MISSING_REASON, upstream_dir
from todo_infra import yamlload

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / ".venv" / "bin" / "node"
REGISTRY_VALIDATOR = Path(__file__).resolve().parent / "validate_custom_resources.mjs"
#: Kinds the registry packages model, validated even without the upstream CRD files.
REGISTRY_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("cert-manager.io/v1", "ClusterIssuer"),
    ("cert-manager.io/v1", "Certificate"),
    ("gateway.networking.k8s.io/v1", "GatewayClass"),
    ("gateway.networking.k8s.io/v1", "Gateway"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"),
}

_LEADING_INLINE_FLAG = re.compile(r"^\^(\(\?[a-zA-Z]+\))")


def _convert(node: Any) -> Any:
    """Return a JSON-Schema-compatible, strict copy of one openAPIV3Schema node."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _convert(value) for key, value in node.items() if key != "x-kubernetes-validations"}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    pattern = out.get("pattern")
    if isinstance(pattern, str):
        out["pattern"] = _LEADING_INLINE_FLAG.sub(r"\1^", pattern)
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


@cache
def _upstream_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> validator, for every served version of every upstream CRD (empty without them)."""
    root = upstream_dir()
    validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    if root is None:
        return validators
    for path in sorted((root / "crds").glob("*.yaml")):
        for crd in yamlload.load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", False):
                    continue
                schema = _convert(version["schema"]["openAPIV3Schema"])
                validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
                validator_cls.check_schema(schema)
                validators[(f"{group}/{version['name']}", kind)] = validator_cls(schema)
    return validators


def registry_errors(documents: Sequence[dict[str, Any]]) -> list[list[str] | None]:
    """Errors per document from the registry packages' models (None for a kind they do not model), in one run."""
    result = subprocess.run(
        [str(NODE), str(REGISTRY_VALIDATOR)],
        input=json.dumps(list(documents)),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"the registry validator failed: {result.stderr[-1500:]}"
    return [None if item.get("unsupported") else list(item["errors"]) for item in json.loads(result.stdout)]


def can_validate(api_version: str, kind: str) -> bool:
    return (api_version, kind) in _upstream_validators() or (api_version, kind) in REGISTRY_KINDS


def crd_errors(document: dict[str, Any]) -> list[str]:
    """Schema violations of one custom resource (empty when valid), by the best source at hand."""
    validator = _upstream_validators().get((document["apiVersion"], document["kind"]))
    if validator is not None:
        return [
            f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(document)
        ]
    (errors,) = registry_errors([document])
    if errors is None:
        pytest.skip(MISSING_REASON)  # a Dapr kind without the upstream CRDs: named in the run's summary
    return errors
