"""What the chart's values say about each service (the one list: chart/values.yaml `services:`, todo_infra/services.py),
so the chart tests compute what a render must contain instead of restating the services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def enabled(values: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The services a release with these (merged) values renders."""
    return {name: service for name, service in values["services"].items() if service["enabled"]}


def with_dapr(values: Mapping[str, Any]) -> set[str]:
    return {name for name, service in enabled(values).items() if service["dapr"]["enabled"]}


def with_metrics(values: Mapping[str, Any]) -> set[str]:
    return {name for name, service in enabled(values).items() if service["metrics"]["enabled"]}


def autoscaled(values: Mapping[str, Any]) -> set[str]:
    return {name for name, service in enabled(values).items() if service["autoscaling"]["enabled"]}
