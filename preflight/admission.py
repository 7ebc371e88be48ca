"""The platform's ValidatingAdmissionPolicies, applied offline the way the API server applies them.

A policy applies to a request when its `matchConstraints` select the namespace (label selector) and the resource and
operation, and every `matchConditions` expression is true; it then admits the request only if every `validations`
expression is true (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/). The
expressions are CEL; cel-python evaluates them here with the variables the API server binds (`object`, `oldObject`,
`request`, `namespaceObject`). Only what the repo's policies use is modelled: `matchExpressions` with `Exists`, and
`resourceRules` by group, resource and operation.

Preflight uses it to prove that everything an app release installs is admitted in its namespace (a green pull request
must deploy), and the tests to prove what the boundary refuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import celpy
from celpy.adapter import json_to_cel

from preflight.render import Manifest


@dataclass(frozen=True)
class Admission:
    """One admission request: who, what, where."""

    username: str
    operation: str
    group: str
    resource: str
    namespace: Manifest
    object: Manifest | None
    old_object: Manifest | None = None

    @property
    def name(self) -> str:
        return str(((self.object or self.old_object) or {}).get("metadata", {}).get("name", ""))

    def variables(self) -> dict[str, Any]:
        request = {
            "userInfo": {"username": self.username},
            "operation": self.operation,
            "namespace": self.namespace["metadata"]["name"],
            "name": self.name,
            "resource": {"group": self.group, "resource": self.resource},
        }
        return {
            "request": request,
            "object": self.object,
            "oldObject": self.old_object,
            "namespaceObject": self.namespace,
        }


@cache
def _program(expression: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(expression))


def evaluate(expression: str, variables: Mapping[str, Any]) -> bool:
    bound = {name: json_to_cel(value) for name, value in variables.items() if value is not None}
    return bool(_program(expression).evaluate(bound))


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics: matchLabels, and matchExpressions with In, NotIn, Exists, DoesNotExist
    (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#resources-that-support-set-based-requirements)."""
    if not all(labels.get(key) == value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        held = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }
        if operator not in held:
            raise ValueError(f"label selector operator {operator} is not a Kubernetes one")
        if not held[operator]:
            return False
    return True


def _selects_namespace(constraints: Mapping[str, Any], namespace: Manifest) -> bool:
    return selects(constraints.get("namespaceSelector") or {}, namespace["metadata"].get("labels") or {})


def _matches_resource(constraints: Mapping[str, Any], request: Admission) -> bool:
    return any(
        request.group in rule.get("apiGroups", [])
        and request.resource in rule.get("resources", [])
        and request.operation in rule.get("operations", [])
        for rule in constraints.get("resourceRules", [])
    )


def refusals(policy: Manifest, request: Admission) -> list[str]:
    """The messages of the policy's validations that refuse the request (none: admitted, or not in its scope)."""
    spec = policy["spec"]
    constraints = spec.get("matchConstraints", {})
    if not (_selects_namespace(constraints, request.namespace) and _matches_resource(constraints, request)):
        return []
    variables = request.variables()
    if not all(evaluate(c["expression"], variables) for c in spec.get("matchConditions", [])):
        return []
    return [
        f"{policy['metadata']['name']}: {v.get('message') or v.get('messageExpression')}"
        for v in spec.get("validations", [])
        if not evaluate(v["expression"], variables)
    ]


def policies(documents: Sequence[Manifest]) -> list[Manifest]:
    """The policies that have a Deny binding among the documents."""
    denying = {
        doc["spec"]["policyName"]
        for doc in documents
        if doc.get("kind") == "ValidatingAdmissionPolicyBinding" and "Deny" in doc["spec"].get("validationActions", [])
    }
    return [d for d in documents if d.get("kind") == "ValidatingAdmissionPolicy" and d["metadata"]["name"] in denying]
