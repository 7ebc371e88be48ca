"""Checks of a dashboard as Grafana receives it (its JSON): it is the model grafana-foundation-sdk's types describe,
every datasource it references is one the platform provisions, and every query is checked by tests/promql_checks.py.
Each check returns the problems it finds, so the same function judges the real dashboards and seeded broken ones."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from preflight.synth import Synthesized
from tests.promql_checks import promql_problems, stream_selector_problems
from todo_infra.dashboards import terraform_value
from todo_infra.dashboards.grafana import LOKI_TYPE, PROMETHEUS_TYPE, Provisioning

_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")
#: What a query variable stands for while its queries are checked (any label value does).
SAMPLE_VALUE = "sample"

plugins.register_default_plugins()


def panels(model: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows and the panels inside collapsed rows included."""
    for panel in model.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variables(model: Mapping[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = model.get("templating", {}).get("list", [])
    return found


def sample_values(model: Mapping[str, Any]) -> dict[str, str]:
    """A value per dashboard variable: a custom variable's first option, a sample for the others."""
    values = {}
    for variable in variables(model):
        query = variable.get("query", "")
        first = query.split(",")[0].strip() if variable.get("type") == "custom" and isinstance(query, str) else ""
        values[variable["name"]] = first or SAMPLE_VALUE
    return values


def sdk_problems(text: str) -> list[str]:
    """The JSON is what grafana-foundation-sdk's types describe: decoding it into the SDK's Dashboard model (panel
    options and queries into their typed classes) and encoding it again gives the same JSON, so no field is unknown
    to the model; every panel type and every query has a typed model of its own."""
    original = json.loads(text)
    model = Dashboard.from_json(original)
    found = []
    again = json.loads(json.dumps(model, cls=JSONEncoder))
    if again != original:
        found.append(f"{original.get('uid')}: the SDK's model does not hold the JSON as it is (unknown fields)")
    for panel in model.panels or []:
        if panel.type_val != "row" and cogruntime.panelcfg_config(panel.type_val) is None:
            found.append(f"panel {getattr(panel, 'title', '')!r}: panel type {panel.type_val!r} has no SDK model")
        for target in getattr(panel, "targets", None) or []:
            if isinstance(target, cogruntime.UnknownDataquery):
                found.append(f"panel {panel.title!r}: a query the SDK has no model for: {target.data}")
    return found


def _datasource_problem(where: str, ref: Any, grafana: Provisioning) -> list[str]:
    provisioned = {(source.type, source.uid) for source in grafana.datasources}
    if not isinstance(ref, dict) or (ref.get("type"), ref.get("uid")) not in provisioned:
        return [f"{where}: datasource {ref} is not one the platform provisions ({sorted(provisioned)})"]
    return []


def problems(
    model: Mapping[str, Any],
    *,
    known: Mapping[str, frozenset[str]],
    log_labels: frozenset[str],
    grafana: Provisioning,
) -> list[str]:
    """Datasource references, variables and every query of a dashboard (its JSON, parsed)."""
    uid = model.get("uid")
    samples = sample_values(model)
    found: list[str] = []
    for variable in variables(model):
        if variable.get("type") != "query":
            continue
        where = f"{uid} variable {variable['name']}"
        found += _datasource_problem(where, variable.get("datasource"), grafana)
        match = _LABEL_VALUES.match(variable.get("query", ""))
        if not match:
            found.append(f"{where}: not a label_values(<selector>, <label>) query")
            continue
        found += promql_problems(match["selector"], known, samples)
        names = {name for name in known if match["selector"].startswith(name + "{")}
        if names and not any(match["label"] in known[name] for name in names):
            found.append(f"{where}: reads the label {match['label']}, which its series do not have")
    ids = [panel.get("id") for panel in panels(model)]
    if len(ids) != len(set(ids)) or None in ids:
        found.append(f"{uid}: panel ids are not unique: {ids}")
    for panel in panels(model):
        if panel.get("type") == "row":
            continue
        where = f"{uid} panel {panel.get('id')} {panel.get('title')!r}"
        found += _datasource_problem(where, panel.get("datasource"), grafana)
        for target in panel.get("targets", []):
            ref = target.get("datasource", panel.get("datasource"))
            found += _datasource_problem(where, ref, grafana)
            kind = ref.get("type") if isinstance(ref, dict) else None
            if kind == PROMETHEUS_TYPE:
                found += [f"{where}: {problem}" for problem in promql_problems(target["expr"], known, samples)]
            elif kind == LOKI_TYPE:
                found += [
                    f"{where}: {problem}" for problem in stream_selector_problems(target["expr"], log_labels, samples)
                ]
    return found


def synthesized(synth: Synthesized) -> dict[str, dict[str, Any]]:
    """The dashboards the platform stack provisions, by uid: the JSON of each ConfigMap as Grafana reads it."""
    found = {}
    for config_map in synth.resources("platform", "kubernetes_config_map_v1").values():
        for text in config_map["data"].values():
            model = json.loads(terraform_value(text))
            found[model["uid"]] = model
    return found
