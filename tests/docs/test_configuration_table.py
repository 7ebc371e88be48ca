"""docs/configuration.md's settings table is the code's: every `TODO_*` variable the settings read has a row, each row
names the field the variable sets, the default is what the configuration falls back to (cdktf.json's context or the
code's default), and the values a choice allows are the code's. Seeded drifts below."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from todo_infra import local_target
from todo_infra.settings import (
    ALERTING_CHOICES,
    BACKEND_MODES,
    CONTEXT_KEYS,
    CONTEXT_OVERRIDE_ENV,
    DOKS_REGIONS,
    EDGES,
    ENV_OVERRIDES,
    LOG_SHIPPER_CHOICES,
    REQUIRE_ENV,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"
_SPAN = re.compile(r"`([^`]+)`")
#: field -> the values it allows, each of which the table's "allowed" cell names.
CHOICES = {
    "state_backend": BACKEND_MODES,
    "edge": EDGES,
    "log_shipper": LOG_SHIPPER_CHOICES,
    "alerting": ALERTING_CHOICES,
    "target": local_target.TARGETS,
}


def rows(text: str) -> list[list[str]]:
    """The table's rows (variable, field, default, allowed), header and rule excluded."""
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0] == "| variable | field | default | allowed |", table[0]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in table[1:]]


def defaults(context: Mapping[str, Any]) -> dict[str, str]:
    """field -> its default as the table writes it: cdktf.json's context, else what the settings fall back to."""
    settings = load_settings(context, {})
    found = {
        field: json.dumps(value) if isinstance(value, bool | list) else str(value)
        for field, value in context.items()
        if field != "environments"
    }
    found["environments"] = ",".join(context["environments"])
    found |= {"edge": settings.edge, "log_shipper": settings.log_shipper, "alerting": settings.alerting}
    found |= {
        "target": local_target.TARGETS[0],
        "kube_context": local_target.DEFAULT_KUBE_CONTEXT,
        "kubeconfig": local_target.DEFAULT_KUBECONFIG,
    }
    return found


def table_problems(text: str, context: Mapping[str, Any], overrides: Mapping[str, str] = ENV_OVERRIDES) -> list[str]:
    """`overrides`: TODO_* variable -> the field it sets (the settings' ENV_OVERRIDES). The table documents every
    override, the context overlay and the guard; TODO_BREAK_GLASS, the other control variable, records a shell deploy
    and is documented in docs/runbooks/deploy.md."""
    documented = frozenset(overrides) | {CONTEXT_OVERRIDE_ENV, REQUIRE_ENV}
    problems = []
    expected_defaults = defaults(context)
    listed: set[str] = set()
    for variable_cell, field_cell, default_cell, allowed_cell in rows(text):
        variables = [span for span in _SPAN.findall(variable_cell) if span.startswith("TODO_")]
        if variable_cell.startswith("—"):
            variables = []
        listed.update(variables)
        fields = [span for span in _SPAN.findall(field_cell) if re.fullmatch(r"[a-z_]+", span)]
        setting = [v for v in variables if v in overrides]
        if setting and fields != [overrides[v] for v in setting]:
            problems.append(f"{', '.join(setting)} set {[overrides[v] for v in setting]}, the row says {fields}")
        if not variables:
            problems += [f"{f} is not a context key" for f in fields if f not in CONTEXT_KEYS]
            problems += [f"{f} has a variable, the row says it has none" for f in fields if f in overrides.values()]
        shown = _SPAN.findall(default_cell)
        if fields and [expected_defaults.get(f) for f in fields] != shown:
            code = [expected_defaults.get(f) for f in fields]
            problems.append(f"default of {' / '.join(fields)}: the row says {shown}, the code {code}")
        for field in fields:
            allowed = _SPAN.findall(allowed_cell)
            missing = [choice for choice in CHOICES.get(field, ()) if choice not in allowed]
            if field == "region" and " ".join(DOKS_REGIONS) not in allowed:
                missing = [" ".join(DOKS_REGIONS)]
            problems += [f"{field}: the allowed values do not name {choice}" for choice in missing]
    problems += [f"{name} has no row" for name in sorted(documented - listed)]
    problems += [f"{name} has a row but is not a setting" for name in sorted(listed - documented)]
    return problems


def context() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "cdktf.json").read_text())["context"]
    return loaded


def test_the_configuration_table_is_the_codes() -> None:
    assert len(rows(PAGE.read_text())) >= len(ENV_OVERRIDES) - 1  # node_min and node_max share a row
    assert table_problems(PAGE.read_text(), context()) == []


def _seed(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_a_configuration_table_that_drifted_is_caught() -> None:
    text, ctx = PAGE.read_text(), context()
    assert table_problems(_seed(text, "| `region` | `fra1` |", "| `region` | `nyc3` |"), ctx) == [
        "default of region: the row says ['nyc3'], the code ['fra1']"
    ]
    assert table_problems(_seed(text, "| `3` / `5` |", "| `3` / `6` |"), ctx) == [
        "default of node_min / node_max: the row says ['3', '6'], the code ['3', '5']"
    ]
    assert table_problems(_seed(text, "| `TODO_EDGE` | `edge` |", "| `TODO_EDGE` | `edges` |"), ctx) == [
        "TODO_EDGE set ['edge'], the row says ['edges']",
        "default of edges: the row says ['envoy-gateway'], the code [None]",
    ]
    assert table_problems(_seed(text, "sgp1 syd1 tor1", "sgp1 tor1"), ctx) == [
        "region: the allowed values do not name ams3 atl1 blr1 fra1 lon1 nyc1 nyc3 sfo2 sfo3 sgp1 syd1 tor1"
    ]
    without_kubeconfig = "\n".join(line for line in text.splitlines() if not line.startswith("| `TODO_KUBECONFIG`"))
    assert table_problems(without_kubeconfig, ctx) == ["TODO_KUBECONFIG has no row"]
    assert table_problems(_seed(text, "`alloy` or `promtail`", "`alloy`"), ctx) == [
        "log_shipper: the allowed values do not name promtail"
    ]


def test_a_setting_the_code_gains_fails_until_documented() -> None:
    """A new override in the settings, as the next change of todo_infra/settings.py may add it, needs its row."""
    grown = {**ENV_OVERRIDES, "TODO_POOL_LABELS": "node_size"}
    assert table_problems(PAGE.read_text(), context(), grown) == ["TODO_POOL_LABELS has no row"]
