"""Validators for the custom resources the chart renders, built from the upstream CRD copies.

Kubernetes structural schemas are close to, but not exactly, JSON Schema; the conversions listed in
tests/schemas/crds/README.md are applied here, in memory, so the copies stay byte-for-byte upstream.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRD_DIR = Path(__file__).resolve().parents[1] / "schemas" / "crds"

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
def _validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> validator, for every served version of every CRD copy."""
    validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd:
                continue
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", False):
                    continue
                schema = _convert(version["schema"]["openAPIV3Schema"])
                validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
                validator_cls.check_schema(schema)
                validators[(f"{group}/{version['name']}", kind)] = validator_cls(schema)
    return validators


def has_crd_schema(api_version: str, kind: str) -> bool:
    return (api_version, kind) in _validators()


def crd_errors(document: dict[str, Any]) -> list[str]:
    """Schema violations of one custom resource (empty when valid)."""
    validator = _validators()[(document["apiVersion"], document["kind"])]
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}" for error in validator.iter_errors(document)
    ]
