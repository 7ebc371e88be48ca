"""Dapr components (docs/architecture.md, "Dapr components"): the real pubsub.kafka / state.redis metadata, scopes
and Subscriptions."""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import pytest

from tests.chart.chart_support import Rendered, fullname, release_values, render
from tests.chart.crd_schemas import crd_errors
from tests.chart.dapr_metadata import component_problems, load_metadata
from tests.chart.service_facts import with_dapr


def _metadata(component: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("secretKeyRef")) for item in component["spec"]["metadata"]}


def _app_ids_with_sidecar(env: Rendered) -> set[str]:
    annotations = [d["spec"]["template"]["metadata"].get("annotations", {}) for d in env.of_kind("Deployment")]
    return {a["dapr.io/app-id"] for a in annotations if a.get("dapr.io/enabled") == "true"}


def test_pubsub_is_kafka_with_scram_sha_256_over_tls(rendered: Rendered) -> None:
    pubsub = rendered.get("Component", "pubsub")
    assert (pubsub["spec"]["type"], pubsub["spec"]["version"]) == ("pubsub.kafka", "v1")
    metadata = _metadata(pubsub)
    assert metadata["authType"] == "password"
    assert metadata["saslMechanism"] == "SHA-256"
    assert metadata["disableTls"] == "false"
    assert metadata["maxMessageBytes"] == "1048576"
    assert metadata["brokers"] == {"name": "app-secrets", "key": "REDPANDA_BROKERS"}
    assert metadata["saslUsername"] == {
        "name": "app-secrets",
        "key": "REDPANDA_USERNAME",
    }
    assert metadata["saslPassword"] == {
        "name": "app-secrets",
        "key": "REDPANDA_PASSWORD",
    }
    assert "topics" not in metadata
    assert pubsub["auth"] == {"secretStore": "kubernetes"}


def test_consumer_groups_are_per_environment_and_per_app(staging: Rendered, production: Rendered) -> None:
    groups = [_metadata(env.get("Component", "pubsub"))["consumerGroup"] for env in (staging, production)]
    assert groups == ["staging-{appID}", "production-{appID}"]


def test_statestore_points_at_the_rendered_redis(rendered: Rendered) -> None:
    statestore = rendered.get("Component", "statestore")
    assert (statestore["spec"]["type"], statestore["spec"]["version"]) == (
        "state.redis",
        "v1",
    )
    metadata = _metadata(statestore)
    assert metadata["redisHost"] == "todo-app-redis:6379"
    redis = rendered.get("Service", fullname("redis"))
    assert f"{redis['metadata']['name']}:{redis['spec']['ports'][0]['port']}" == metadata["redisHost"]
    assert metadata["redisPassword"] == {"name": "app-secrets", "key": "REDIS_PASSWORD"}


def test_components_are_scoped_to_the_app_ids_that_use_them(rendered: Rendered) -> None:
    assert rendered.get("Component", "pubsub")["scopes"] == [
        "backend",
        "mcp",
        "notification",
        "sse-gateway",
    ]
    assert rendered.get("Component", "statestore")["scopes"] == [
        "backend",
        "notification",
    ]
    sidecars = _app_ids_with_sidecar(rendered)
    for component in rendered.of_kind("Component"):
        assert set(component["scopes"]) <= sidecars
    assert "frontend" not in sidecars


def test_subscriptions_use_the_environment_topics_and_their_own_scope(staging: Rendered, production: Rendered) -> None:
    for env, prefix in ((staging, "staging-"), (production, "")):
        subscriptions = {
            (s["scopes"][0], s["spec"]["topic"], s["spec"]["routes"]["default"]) for s in env.of_kind("Subscription")
        }
        assert subscriptions == {
            ("notification", f"{prefix}task-events", "/dapr/task-events"),
            ("sse-gateway", f"{prefix}task-events", "/dapr/task-events"),
            ("sse-gateway", f"{prefix}notifications", "/dapr/notifications"),
        }
        pubsub = env.get("Component", "pubsub")
        for subscription in env.of_kind("Subscription"):
            assert subscription["apiVersion"] == "dapr.io/v2alpha1"
            assert subscription["spec"]["pubsubname"] == pubsub["metadata"]["name"]
            assert set(subscription["scopes"]) <= set(pubsub["scopes"])


def test_every_dapr_sidecar_names_a_configuration_in_its_namespace(rendered: Rendered) -> None:
    """A sidecar reads only a Configuration from its own namespace, named by dapr.io/config: each must be rendered
    by this release (which puts everything in the release namespace)."""
    configurations = rendered.names("Configuration")
    sidecars = [
        d
        for d in rendered.of_kind("Deployment")
        if d["spec"]["template"]["metadata"].get("annotations", {}).get("dapr.io/enabled") == "true"
    ]
    assert {d["metadata"]["name"] for d in sidecars} == {fullname(s) for s in with_dapr(rendered.values)} != set()
    for deployment in sidecars:
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations.get("dapr.io/config") in configurations, deployment["metadata"]["name"]
    for doc in rendered.of_kind("Configuration"):
        assert "namespace" not in doc["metadata"]


def test_configuration_enables_metrics_and_sampled_tracing_without_an_exporter(rendered: Rendered) -> None:
    configurations = rendered.of_kind("Configuration")
    assert configurations
    for configuration in configurations:
        assert configuration["apiVersion"] == "dapr.io/v1alpha1"
        spec = {k: v for k, v in configuration["spec"].items() if k != "accessControl"}  # test_chart_dapr_access.py
        assert spec == {"metric": {"enabled": True}, "tracing": {"samplingRate": "1"}}


def test_configuration_exports_otel_traces_when_an_endpoint_is_set(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = release_values("production", sets)
    values["dapr"]["config"]["tracing"] = {
        "samplingRate": "0.25",
        "otel": {
            "endpointAddress": "otel-collector.monitoring.svc.cluster.local:4317",
            "isSecure": False,
            "protocol": "grpc",
        },
    }
    documents = [doc for _, doc in render(chart, values, "production")]
    configurations = [doc for doc in documents if doc["kind"] == "Configuration"]
    assert configurations
    for configuration in configurations:
        assert configuration["spec"]["tracing"] == {
            "samplingRate": "0.25",
            "otel": {
                "endpointAddress": "otel-collector.monitoring.svc.cluster.local:4317",
                "isSecure": False,
                "protocol": "grpc",
            },
        }
        assert crd_errors(configuration) == []


def test_no_configuration_without_a_sidecar(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = release_values("production", sets)
    for service in values["services"].values():
        service["dapr"]["enabled"] = False
    assert [doc for _, doc in render(chart, values, "production") if doc["kind"] == "Configuration"] == []


# --- the components as Dapr reads them: components-contrib metadata, and names only where scoped -------------


def test_components_are_valid_for_components_contrib(cloud: Rendered) -> None:
    for component in cloud.of_kind("Component"):
        metadata = load_metadata(component["spec"]["type"])
        assert component_problems(component, metadata) == [], component["metadata"]["name"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "saslMechanism", "value": "SCRAM-SHA-256"}, "saslMechanism: 'SCRAM-SHA-256' is not one of"),
        ({"name": "maxMessageBytes", "value": "1MB"}, "maxMessageBytes: '1MB' is not a number"),
        ({"name": "disableTLS", "value": "false"}, "unknown metadata field 'disableTLS'"),
        ({"name": "authType", "value": "scram"}, "authType 'scram' selects no authentication profile"),
        ({"name": "saslPassword", "remove": True}, "required metadata field 'saslPassword' is missing"),
    ],
    ids=["value not allowed", "not a number", "misspelt field", "unknown auth type", "required field missing"],
)
def test_component_metadata_check_refuses_seeded_faults(
    production: Rendered, change: dict[str, Any], problem: str
) -> None:
    pubsub = copy.deepcopy(production.get("Component", "pubsub"))
    items = [item for item in pubsub["spec"]["metadata"] if item["name"] != change["name"]]
    if not change.get("remove"):
        items.append({"name": change["name"], "value": change["value"]})
    pubsub["spec"]["metadata"] = items
    problems = component_problems(pubsub, load_metadata("pubsub.kafka"))
    assert any(p.startswith(problem) for p in problems), problems


def test_component_names_reach_only_the_app_ids_in_their_scopes(rendered: Rendered) -> None:
    components = {c["metadata"]["name"]: set(c["scopes"]) for c in rendered.of_kind("Component")}
    setting = {"DAPR_PUBSUB_NAME": "pubsub", "DAPR_STATESTORE_NAME": "statestore"}
    seen = set()
    for deployment in rendered.of_kind("Deployment"):
        app_id = deployment["spec"]["template"]["metadata"].get("annotations", {}).get("dapr.io/app-id")
        for env in deployment["spec"]["template"]["spec"]["containers"][0].get("env", []):
            if env["name"] in setting or env["name"].endswith("_TOPIC"):
                component = setting.get(env["name"], "pubsub")
                assert app_id in components[component], f"{app_id} gets {env['name']} but is not in its scopes"
                seen.add((app_id, env["name"]))
    assert ("backend", "DAPR_STATESTORE_NAME") in seen and ("mcp", "DAPR_PUBSUB_NAME") in seen
    assert ("mcp", "DAPR_STATESTORE_NAME") not in seen and ("sse-gateway", "DAPR_STATESTORE_NAME") not in seen


@pytest.mark.parametrize(("component", "timeout"), [("statestore", "5s"), ("pubsub", "20s")])
def test_a_sidecar_starts_while_its_backing_service_is_down(rendered: Rendered, component: str, timeout: str) -> None:
    """ignoreErrors: daprd keeps running without the component instead of exiting, and its hot-reload reconciler
    re-queues every component missing from its store each 60 s, so the component loads once Redis / the brokers
    answer (dapr/dapr v1.18.3: pkg/runtime/processor/components.go `processComponents`;
    pkg/runtime/hotreload/reconciler/reconciler.go `defaultReconcileInterval`, loader/operator/resource.go `List`;
    HotReload on by default in pkg/config/configuration.go). initTimeout bounds each attempt (default 5s,
    pkg/runtime/processor/processor.go)."""
    spec = rendered.get("Component", component)["spec"]
    assert spec["ignoreErrors"] is True
    assert spec["initTimeout"] == timeout


def test_a_component_may_still_be_made_fatal(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = release_values("production", sets)
    values["dapr"]["statestore"].update(ignoreErrors=False, initTimeout="30s")
    (spec,) = [doc["spec"] for _, doc in render(chart, values, "production") if doc["metadata"]["name"] == "statestore"]
    assert (spec["ignoreErrors"], spec["initTimeout"]) == (False, "30s")


def test_seeded_an_init_timeout_that_is_no_duration_is_refused(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = release_values("production", sets)
    values["dapr"]["pubsub"]["initTimeout"] = "twenty seconds"
    with pytest.raises(Exception, match="initTimeout"):
        render(chart, values, "production")
