"""Chart values are the only switch: turning a component on renders everything it needs, turning it off leaves no
trace of it anywhere else (no object, selector, route, scope, port or environment variable still pointing at it)."""

from __future__ import annotations

import json
from typing import Any

import helm_python as helm
import pytest

from preflight.render import Manifest
from tests.chart.chart_support import CHART_DIR, SERVICES, fullname, release_values, render
from todo_infra import yamlload

SCHEMA_SERVICES = json.loads((CHART_DIR / "values.schema.json").read_text())["properties"]["services"]["required"]


def rendered_with(chart: helm.Chart, sets: dict[str, str], change: dict[str, Any]) -> list[Manifest]:
    values = release_values("production", sets)
    for dotted, value in change.items():
        node = values
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return [doc for _, doc in render(chart, values, "production")]


def traces(documents: list[Manifest], service: str) -> list[str]:
    """Objects that still name the service: its resources, routes to it, Dapr scopes of its app-id, ports."""
    found = []
    for doc in documents:
        text = json.dumps(doc)
        scopes = doc.get("scopes", [])
        if fullname(service) in text or service in scopes:
            found.append(f"{doc['kind']}/{doc['metadata']['name']}")
    return found


def monitors(documents: list[Manifest]) -> set[str]:
    return {d["metadata"]["name"] for d in documents if d["kind"] == "ServiceMonitor"}


def test_every_service_of_the_schema_has_a_service_monitor_template() -> None:
    """The services map cannot hold another name (values.schema.json), and each of them has its template."""
    assert sorted(SCHEMA_SERVICES) == sorted(SERVICES)
    for service in SERVICES:
        template = (CHART_DIR / "templates" / "monitoring" / f"servicemonitor-{service}.yaml").read_text()
        assert f'"name" "{service}"' in template


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_switch_renders_or_drops_the_service_monitor_and_its_scrape_port(
    chart: helm.Chart, sets: dict[str, str], service: str
) -> None:
    on = rendered_with(chart, sets, {f"services.{service}.metrics.enabled": True})
    off = rendered_with(chart, sets, {f"services.{service}.metrics.enabled": False})
    assert fullname(service) in monitors(on)
    assert fullname(service) not in monitors(off)
    port = release_values("production", sets)["services"][service]["port"]

    def scraped(documents: list[Manifest]) -> set[int]:
        policy = next(d for d in documents if d["metadata"]["name"].endswith("-from-prometheus"))
        return {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}

    assert port in scraped(on) and port not in scraped(off)


@pytest.mark.parametrize("service", SERVICES)
def test_a_disabled_service_leaves_no_trace(chart: helm.Chart, sets: dict[str, str], service: str) -> None:
    enabled = rendered_with(chart, sets, {})
    disabled = rendered_with(chart, sets, {f"services.{service}.enabled": False})
    assert traces(enabled, service), "the service is rendered when enabled"
    assert traces(disabled, service) == []


def test_a_disabled_redis_leaves_no_trace(chart: helm.Chart, sets: dict[str, str]) -> None:
    enabled = rendered_with(chart, sets, {})
    disabled = rendered_with(chart, sets, {"redis.enabled": False})
    assert traces(enabled, "redis") and "statestore" in json.dumps(enabled)
    assert traces(disabled, "redis") == []
    text = json.dumps(disabled)
    assert "statestore" not in text and "DAPR_STATESTORE_NAME" not in text


def test_the_schema_refuses_an_unknown_service(chart: helm.Chart) -> None:
    values = yamlload.load((CHART_DIR / "values.yaml").read_text())
    values["services"]["billing"] = values["services"]["mcp"]
    with pytest.raises(Exception, match="billing"):
        chart.validate_schema(values)
