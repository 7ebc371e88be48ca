"""Dapr Components checked against the metadata files components-contrib publishes for each component
(`<type>/<name>/metadata.yaml`: fields, types, allowed values, required fields per authentication profile), the way
manifests are checked against CRD schemas. The files are upstream data (tests/upstream.py), read at v1.18.4, the
components-contrib version Dapr 1.18 pins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.upstream import upstream
from todo_infra import yamlload

#: Metadata daprd itself reads for every pub/sub component, whatever its type (dapr/dapr v1.18.3 pkg/scopes/scopes.go,
#: used by pkg/runtime/processor/pubsub/pubsub.go): comma-separated topics, and `app=topic,topic;app=` scopes. They are
#: not in components-contrib's metadata files.
PUBSUB_RUNTIME_FIELDS = ("allowedTopics", "protectedTopics", "publishingScopes", "subscriptionScopes")
_GO_DURATION = re.compile(r"^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def metadata_file(component_type: str) -> Path:
    """pubsub.kafka -> the upstream copy of pubsub/kafka/metadata.yaml."""
    kind, name = component_type.split(".", 1)
    return upstream("dapr", f"{kind}-{name}-metadata.yaml")


def load_metadata(component_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yamlload.load(metadata_file(component_type).read_text())
    return loaded


def _value_problem(field: Mapping[str, Any], value: str) -> str | None:
    allowed = field.get("allowedValues")
    if allowed and value not in allowed:
        return f"{value!r} is not one of {allowed}"
    kind = field.get("type", "string")
    if kind == "number" and not re.fullmatch(r"-?[0-9]+([.][0-9]+)?", value):
        return f"{value!r} is not a number"
    if kind == "bool" and value not in ("true", "false"):
        return f"{value!r} is not true/false"
    if kind == "duration" and not (_GO_DURATION.fullmatch(value) or value.isdigit()):
        return f"{value!r} is not a duration"
    return None


def component_problems(component: Mapping[str, Any], metadata: Mapping[str, Any]) -> list[str]:
    """What the component sets that its metadata file does not allow; empty when it is valid."""
    spec = component["spec"]
    expected = (f"{metadata['type']}.{metadata['name']}", metadata["version"])
    if (spec["type"], spec["version"]) != expected:
        return [f"{spec['type']}/{spec['version']} is not the component {expected[0]}/{expected[1]}"]
    given = {item["name"]: item for item in spec.get("metadata", [])}
    auth_type = given.get("authType", {}).get("value")
    profiles = [*metadata.get("builtinAuthenticationProfiles", []), *metadata.get("authenticationProfiles", [])]

    def selects(profile: Mapping[str, Any]) -> bool:
        discriminator = [f for f in profile["metadata"] if f["name"] == "authType"]
        return not discriminator or auth_type in discriminator[0].get("allowedValues", [])

    chosen = [p for p in profiles if selects(p)]
    fields = {f["name"]: f for f in metadata.get("metadata", [])}
    for profile in chosen:
        fields.update({f["name"]: f for f in profile["metadata"]})
    if "actorStateStore" in metadata.get("capabilities", []):
        # "If actorStateStore is present, the metadata key actorStateStore can be used" (the metadata file).
        fields["actorStateStore"] = {"name": "actorStateStore", "type": "bool"}
    if metadata["type"] == "pubsub":
        fields.update({name: {"name": name, "type": "string"} for name in PUBSUB_RUNTIME_FIELDS})
    problems = []
    if auth_type is not None and not any("authType" in {f["name"] for f in p["metadata"]} for p in chosen):
        problems.append(f"authType {auth_type!r} selects no authentication profile")
    for name, item in given.items():
        if name not in fields:
            problems.append(f"unknown metadata field {name!r}")
        elif "value" in item:
            problem = _value_problem(fields[name], str(item["value"]))
            if problem:
                problems.append(f"{name}: {problem}")
    for name, field in fields.items():
        if field.get("required") and name not in given:
            problems.append(f"required metadata field {name!r} is missing")
    return problems
