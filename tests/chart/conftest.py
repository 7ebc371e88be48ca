"""Fixtures for the chart tests: the chart is loaded once and each environment rendered once per session."""

from __future__ import annotations

from collections.abc import Iterator

import helm_python as helm
import pytest

from tests.chart.chart_support import CHART_DIR, Rendered, render_environment, stack_sets
from tests.synth import Synth


@pytest.fixture(scope="session")
def chart() -> Iterator[helm.Chart]:
    loaded = helm.Chart.load(CHART_DIR)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def sets(synth: Synth) -> dict[str, str]:
    """The `set` keys of each app stack's release, from the synthesized stacks."""
    return stack_sets(synth)


@pytest.fixture(scope="session")
def base(chart: helm.Chart, sets: dict[str, str]) -> Rendered:
    return render_environment(chart, "base", sets)


@pytest.fixture(scope="session")
def staging(chart: helm.Chart, sets: dict[str, str]) -> Rendered:
    return render_environment(chart, "staging", sets)


@pytest.fixture(scope="session")
def production(chart: helm.Chart, sets: dict[str, str]) -> Rendered:
    return render_environment(chart, "production", sets)


@pytest.fixture(scope="session", params=["base", "staging", "production"])
def rendered(request: pytest.FixtureRequest) -> Rendered:
    """Each environment in turn (for checks that hold everywhere)."""
    result: Rendered = request.getfixturevalue(request.param)
    return result


@pytest.fixture(scope="session", params=["staging", "production"])
def cloud(request: pytest.FixtureRequest) -> Rendered:
    """The two cloud environments in turn."""
    result: Rendered = request.getfixturevalue(request.param)
    return result
