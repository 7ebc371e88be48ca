"""Checks of the PromQL the alerts and the dashboards run: it parses (promql-parser, a binding of the Rust parser that
follows Prometheus' grammar), and every series it selects is one a scrape target of the platform produces, matched only
on labels that series has (todo_infra/metrics_catalog.py). Each check returns the problems it finds, so the same
function judges the real queries and the seeded broken ones."""

from __future__ import annotations

import re
from collections.abc import Mapping

import promql_parser

#: Sample values for Grafana's built-in interval variables, so a dashboard query parses as Prometheus receives it.
BUILT_INS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600"}
#: A Grafana variable reference: $name, ${name}, ${name:format} or [[name]] (a name starts with a letter or "_": "$1"
#: in label_replace is PromQL's, not Grafana's).
_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)\]\]")


def substitute(expr: str, variables: Mapping[str, str]) -> tuple[str, list[str]]:
    """`expr` with every Grafana variable replaced by a sample value, and the variables it names that are unknown."""
    unknown: list[str] = []

    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        known = {**BUILT_INS, **variables}
        if name not in known:
            unknown.append(name)
            return "x"
        return known[name]

    return _VARIABLE.sub(value, expr), unknown


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    """Every vector selector of an expression (raises ValueError when it does not parse)."""
    found: list[promql_parser.VectorSelector] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def metric_names(expr: str) -> set[str]:
    return {selector.name for selector in selectors(expr) if selector.name}


def promql_problems(expr: str, known: Mapping[str, frozenset[str]], variables: Mapping[str, str]) -> list[str]:
    """What is wrong with a query: it does not parse, names an unknown variable, reads a series nobody produces, or
    matches a label its series does not have. `known` maps series names to their labels."""
    text, unknown = substitute(expr, variables)
    found = [f"{expr!r}: unknown variable ${name}" for name in unknown]
    try:
        selected = selectors(text)
    except ValueError as error:
        return [*found, f"{expr!r} does not parse: {error}"]
    for selector in selected:
        if not selector.name:
            found.append(f"{expr!r}: a selector without a metric name")
            continue
        if selector.name not in known:
            found.append(f"{expr!r} reads {selector.name}, which no scrape target of the platform produces")
            continue
        for matcher in selector.matchers.matchers:
            if matcher.name not in known[selector.name]:
                found.append(f"{expr!r} matches {selector.name} on {matcher.name}, a label it does not have")
    return found


def stream_selector_problems(expr: str, labels: frozenset[str], variables: Mapping[str, str]) -> list[str]:
    """A log query must be a LogQL stream selector (`{label="value", ...}`, PromQL's matcher syntax) over labels the
    log shipper sets."""
    text, unknown = substitute(expr, variables)
    found = [f"{expr!r}: unknown variable ${name}" for name in unknown]
    try:
        parsed = promql_parser.parse(text)
    except ValueError as error:
        return [*found, f"{expr!r} does not parse as a stream selector: {error}"]
    if not isinstance(parsed, promql_parser.VectorSelector) or parsed.name:
        return [*found, f"{expr!r} is not a stream selector"]
    return found + [
        f"{expr!r} matches on {matcher.name}, a label no log stream has"
        for matcher in parsed.matchers.matchers
        if matcher.name not in labels
    ]
