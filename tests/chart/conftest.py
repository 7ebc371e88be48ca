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


@pytest.fixture(scope="session")
def nginx_sets(variant: Synth) -> dict[str, str]:
    """The `set` keys of the variant's app releases: the retired ingress-nginx edge (TODO_EDGE=ingress-nginx)."""
    return stack_sets(variant)


@pytest.fixture(scope="session", params=["staging", "production"])
def nginx_cloud(request: pytest.FixtureRequest, chart: helm.Chart, nginx_sets: dict[str, str]) -> Rendered:
    """Each cloud environment rendered for the ingress-nginx edge."""
    return render_environment(chart, request.param, nginx_sets)


@pytest.fixture(scope="session")
def nginx_base(chart: helm.Chart) -> Rendered:
    """values.yaml alone with the ingress-nginx edge selected (local development on it)."""
    overrides = {
        "ingress": {"edge": "ingress-nginx", "className": "nginx"},
        "networkPolicy": {"ingressNamespace": "ingress-nginx"},
    }
    return render_environment(chart, "base", {}, overrides=overrides)
