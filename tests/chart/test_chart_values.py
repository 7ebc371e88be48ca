"""values.schema.json (checked by Helm itself) and the shape of the values files."""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python as helm
import pytest

from tests.chart.chart_support import CHART_DIR, RELEASE_NAME, SERVICES, load_values, release_values
from todo_infra.app_secrets import APP_SECRET_KEYS
from todo_infra.contracts import BASE_VALUES, values_file
from todo_infra.settings import IMAGE_TAG_PATTERN


def _render_error(chart: helm.Chart, overrides: dict[str, Any], sets: dict[str, str]) -> str:
    values = release_values("production", sets)
    for dotted, value in overrides.items():
        node = values
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    with pytest.raises(helm.HelmValuesError) as error:
        chart.render(values, name=RELEASE_NAME, namespace="production")
    return str(error.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"services.worker": {"enabled": True}},
            "additional properties 'worker' not allowed",
        ),
        (
            {"services.backend.replicas": -1},
            "at '/services/backend/replicas': minimum: got -1",
        ),
        (
            {"global.imageTag": "latest"},
            "at '/global/imageTag': 'latest' does not match pattern",
        ),
        (
            {"services.backend.port": "8000"},
            "at '/services/backend/port': got string, want integer",
        ),
        (
            {"services.backend.port": 8000.5},
            "at '/services/backend/port': got number, want integer",
        ),
    ],
    ids=[
        "unknown-service",
        "negative-replicas",
        "malformed-tag",
        "string-port",
        "fractional-port",
    ],
)
def test_schema_rejects_bad_values_with_helms_error(
    chart: helm.Chart, overrides: dict[str, Any], message: str, sets: dict[str, str]
) -> None:
    assert message in _render_error(chart, overrides, sets)


DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_schema_accepts_a_digest_per_service(chart: helm.Chart) -> None:
    chart.validate_schema({"global": {"imageDigests": dict.fromkeys(SERVICES, DIGEST)}})
    chart.validate_schema({"global": {"imageDigests": {}}})


@pytest.mark.parametrize(
    ("digests", "where"),
    [
        ({"backend": DIGEST.upper().replace("SHA256", "sha256")}, "/global/imageDigests/backend"),
        ({"backend": DIGEST[:-1]}, "/global/imageDigests/backend"),
        ({"backend": "sha512:" + "0" * 128}, "/global/imageDigests/backend"),
        ({"backend": DIGEST.removeprefix("sha256:")}, "/global/imageDigests/backend"),
        ({"worker": DIGEST}, "additional properties 'worker' not allowed"),
    ],
    ids=["upper-case", "short", "sha512", "no-algorithm", "unknown-service"],
)
def test_schema_rejects_a_malformed_digest_or_an_unknown_service(
    chart: helm.Chart, digests: dict[str, str], where: str
) -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape(where)):
        chart.validate_schema({"global": {"imageDigests": digests}})


@pytest.mark.parametrize(
    "image", ["docker.io/library/redis:8.6.7-alpine", "docker.io/library/redis@" + DIGEST, "redis:8.6.7@sha256:abc"]
)
def test_schema_requires_redis_to_be_pinned_by_tag_and_digest(chart: helm.Chart, image: str) -> None:
    with pytest.raises(helm.HelmValuesError, match="/redis/image"):
        chart.validate_schema({"redis": {"image": image}})


@pytest.mark.parametrize("tag", ["sha-1a2b3c4", "main-latest", "staging-latest", "v1.2.3", "v2.0.0-rc.1"])
def test_schema_accepts_the_tag_grammar(chart: helm.Chart, tag: str) -> None:
    chart.validate_schema({"global": {"imageTag": tag}})


@pytest.mark.parametrize(
    "tag",
    [
        "sha-1A2B3C4",
        "sha-1a2b3c",
        "sha-1a2b3c4d",
        "1.2.3",
        "v1.2",
        "feature-latest",
        "",
        "v1.0.0+build.7",
    ],
)
def test_schema_rejects_tags_outside_the_grammar(chart: helm.Chart, tag: str) -> None:
    with pytest.raises(helm.HelmValuesError, match="imageTag"):
        chart.validate_schema({"global": {"imageTag": tag}})


GOOD_TAGS = [
    "sha-1a2b3c4",
    "sha-0000000",
    "main-latest",
    "staging-latest",
    "v0.0.0",
    "v1.2.3",
    "v10.20.30",
    "v2.0.0-rc.1",
    "v1.0.0-alpha-2.beta.10",
    "v1.0.0-0A-z",
]
BAD_TAGS = [
    "v1.0.0+build.7",
    "v2.0.0-rc.1+sha.5114f85",
    "v1.0.0+",
    "sha-1A2B3C4",
    "sha-1a2b3c",
    "sha-1a2b3c4d",
    "sha-1a2b3cg",
    "1.2.3",
    "v1.2",
    "v01.2.3",
    "v1.02.3",
    "v1.2.3-",
    "v1.2.3-rc..1",
    "v1.2.3-rc_1",
    "V1.2.3",
    "latest",
    "feature-latest",
    "main-latest-1",
    " main-latest",
    "main-latest\n",
    "",
]


@pytest.mark.parametrize("tag", GOOD_TAGS + BAD_TAGS)
def test_schema_and_settings_agree_on_the_tag_grammar(chart: helm.Chart, tag: str) -> None:
    """values.schema.json (Helm's Go regexp) and todo_infra.settings (Python, fullmatch as the settings use it)
    accept exactly the same tags, so a tag the stacks accept is never rejected at release time and vice versa."""
    expected = tag in GOOD_TAGS
    assert (re.fullmatch(IMAGE_TAG_PATTERN, tag) is not None) is expected, "todo_infra.settings.IMAGE_TAG_PATTERN"
    try:
        chart.validate_schema({"global": {"imageTag": tag}})
        schema_accepts = True
    except helm.HelmValuesError:
        schema_accepts = False
    assert schema_accepts is expected, "chart/values.schema.json global.imageTag"


def test_schema_rejects_a_secret_key_the_stacks_do_not_create(
    chart: helm.Chart,
) -> None:
    with pytest.raises(helm.HelmValuesError, match="secretKeys"):
        chart.validate_schema({"services": {"backend": {"secretKeys": ["AWS_SECRET_ACCESS_KEY"]}}})


def test_schema_secret_key_list_is_the_stack_list() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert tuple(schema["definitions"]["appSecretKey"]["enum"]) == APP_SECRET_KEYS


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict) and node:
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: node}


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_environment_files_hold_only_deltas(environment: str) -> None:
    base = _leaves(load_values(BASE_VALUES))
    delta = _leaves(load_values(values_file(environment)))
    assert delta, "an environment file with no deltas"
    for key, value in delta.items():
        assert key in base, f"{key} is not a values.yaml key"
        assert base[key] != value, f"{key} repeats the values.yaml default"
