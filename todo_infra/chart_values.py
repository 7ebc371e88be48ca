"""The values each app release installs, checked by Helm's own schema validation before anything is written.

Helm merges values.yaml, values-<env>.yaml and the release's `set` keys and checks the result against
chart/values.schema.json only at install time — too late for a green pull request. Synth and preflight run the
same check (helm-python-sdk embeds Helm's engine) and name, for each violation, the file the bad key comes from.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from todo_infra.contracts import APP_PRIORITIES, BASE_VALUES, EDGE_NAMESPACES, GATEWAY_NAME
from todo_infra.settings import EDGE_ENVOY_GATEWAY, ConfigError, Environment, Settings

CHART_DIR = Path(__file__).resolve().parent.parent / "chart"
#: Stands in for the image tag where only a deploy names it (production has no default; plans get sha-<7>).
SAMPLE_IMAGE_TAG = "sha-1a2b3c4"
#: One violation in Helm's schema error: "- at '/global': additional properties 'x' not allowed".
_VIOLATION = re.compile(r"^- at '(?P<pointer>[^']*)': (?P<message>.*)$")
_EXTRA = re.compile(r"additional propert(?:y|ies) (?P<names>.+?) not allowed")


def chart_sets(settings: Settings, env: Environment, *, image_tag: str) -> dict[str, str]:
    """The keys an app release `set`s over its values files: what differs per deploy or comes from settings."""
    return {
        "global.priorityClassName": APP_PRIORITIES[env.name].name,
        "global.imageTag": image_tag,
        "global.imageOwner": settings.ghcr_owner,
        "ingress.host": env.host,
        "ingress.edge": settings.edge,
        "ingress.className": settings.ingress_class,
        "ingress.gateway.name": GATEWAY_NAME,
        "ingress.gateway.namespace": EDGE_NAMESPACES[EDGE_ENVOY_GATEWAY],
        "networkPolicy.ingressNamespace": EDGE_NAMESPACES[settings.edge],
        "ingress.clusterIssuer": settings.cluster_issuer,
        # The environment's own backup bucket: its key reaches no other environment's backups. None on the local
        # target: its backups stay on the cluster's volume (no Spaces).
        "redis.backup.offsite.bucket": settings.backup.bucket_for(env.name) if settings.local is None else "",
        "redis.backup.offsite.endpoint": settings.backup.endpoint,
    }


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of -f files and --set: maps merge recursively, anything else is replaced."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def nested(sets: Mapping[str, str]) -> dict[str, Any]:
    """`a.b.c=value` set keys as the nested map Helm builds from them."""
    tree: dict[str, Any] = {}
    for dotted, value in sets.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return tree


def _load(path: Path) -> dict[str, Any]:
    """A values file as a map ({} when absent or empty); a YAML error is refused in one line with its position."""
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"chart/{path.name}" + (f":{mark.line + 1}:{mark.column + 1}" if mark else "")
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
        if context and start and mark and start.line != mark.line:
            problem += f" ({context} from line {start.line + 1})"
        raise ConfigError.saying(f"{where}: not valid YAML: {problem}") from None
    return loaded if isinstance(loaded, dict) else {}


def _replicas_under_hpa(values_file: str, environment: Mapping[str, Any], merged: Mapping[str, Any]) -> list[str]:
    """A `replicas:` an environment's values file sets for a service its HPA scales would be silently ignored (the
    Deployment omits it): refused, naming where the count belongs."""
    problems = []
    services = environment.get("services")
    for name, service in (services if isinstance(services, Mapping) else {}).items():
        scaled = _at(merged, ["services", name, "autoscaling"]).get("enabled") is True
        if scaled and isinstance(service, Mapping) and "replicas" in service:
            problems.append(
                f"chart/{values_file}: services.{name}.replicas: ignored while services.{name}.autoscaling.enabled is "
                f"true (the HPA sets the count): remove it, or change autoscaling.minReplicas/maxReplicas"
            )
    return problems


def _schema_node(schema: Mapping[str, Any], keys: list[str]) -> Mapping[str, Any]:
    """The part of values.schema.json that describes the value at `keys` ({} where the schema says nothing)."""
    node: Mapping[str, Any] = schema
    for key in [*keys, None]:
        while isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            target: Any = schema
            for part in node["$ref"][2:].split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            node = target if isinstance(target, Mapping) else {}
        if key is None:
            break
        if key.isdigit() and isinstance(node.get("items"), Mapping):
            node = node["items"]
        else:
            child = node.get("properties", {}).get(key)
            node = child if isinstance(child, Mapping) else {}
    return node


def _unknown_key(name: str, keys: list[str], chart_dir: Path) -> str:
    """Helm's "additional property not allowed", said with what the schema allows there: suggestions come from
    chart/values.schema.json (never from the file being checked, which holds the unknown key itself)."""
    schema = json.loads((chart_dir / "values.schema.json").read_text())
    allowed = [key for key in _schema_node(schema, keys).get("properties", {}) if key != name]
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f", did you mean {close[0]!r}?" if close else ""
    if keys in (["services"], ["global", "imageDigests"]):
        return (
            f"unknown service {name!r}{hint} (chart/values.schema.json lists the services; a new one is added with "
            f"`python3 dev.py add-service NAME --port N`, which writes it there and in chart/values.yaml: "
            f"docs/adding-a-service.md)"
        )
    place = ".".join(keys) or "the top level"
    return f"unknown key {name!r}{hint} (chart/values.schema.json lists the keys allowed at {place})"


@cache
def base_values() -> dict[str, Any]:
    """chart/values.yaml as committed: the services, the metrics contract, the alerts' thresholds."""
    return _load(CHART_DIR / BASE_VALUES)


def _holds(document: Mapping[str, Any], keys: list[str]) -> bool:
    node: Any = document
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True


def _at(document: Mapping[str, Any], keys: list[str]) -> Mapping[str, Any]:
    node: Any = document
    for key in keys:
        node = node.get(key, {}) if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else {}


def values_problems(
    values_file: str, sets: Mapping[str, str], chart_dir: Path = CHART_DIR, overlays: Sequence[str] = ()
) -> list[str]:
    """One line per schema violation of the values a release installs: `chart/<file>: <key path>: <what>`.
    `overlays` are values files layered over `values_file` (the local target's values-local.yaml)."""
    import helm_python as helm  # noqa: PLC0415  (Helm's engine, loaded only when values are checked)

    for required in (BASE_VALUES, values_file, *overlays):
        if not (chart_dir / required).is_file():
            return [f"chart/{required}: missing: every configured environment needs its chart/values-<env>.yaml"]
    try:
        sources = [
            *((f"chart/{name}", _load(chart_dir / name)) for name in (BASE_VALUES, values_file, *overlays)),
            ("the app stack's set keys", nested(sets)),
        ]
    except ConfigError as error:
        return [str(error)]
    merged: dict[str, Any] = {}
    for _, document in sources:
        merged = deep_merge(merged, document)
    chart = helm.Chart.load(chart_dir)
    try:
        chart.validate_schema(merged)
    except Exception as error:
        lines = str(error).splitlines()
    else:
        return _replicas_under_hpa(values_file, sources[1][1], merged)
    finally:
        chart.close()
    problems = []
    for line in lines:
        match = _VIOLATION.match(line.strip())
        if not match:
            continue
        keys = [key for key in match["pointer"].split("/") if key]
        message = match["message"]
        extra = _EXTRA.search(message)
        culprit = keys
        if extra:
            name = extra["names"].split(",")[0].strip(" '")
            culprit = [*keys, name]
            message = _unknown_key(name, keys, chart_dir)
        where = next((name for name, document in reversed(sources) if _holds(document, culprit)), "chart values")
        problems.append(f"{where}: {'.'.join(culprit) or '(top level)'}: {message}")
    return problems or [f"chart values: {' '.join(lines)[:300]}"]
