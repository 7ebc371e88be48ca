"""Dapr boundaries between the app-ids (docs/architecture.md, "Dapr sidecars"): service-invocation access control,
pub/sub topic scoping and the app API tokens, rendered from what chart/values.yaml declares and judged as daprd 1.18
judges them (tests/chart/dapr_access.py). Each check has a seeded fault that turns it red."""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import pytest

from tests.chart.chart_support import Rendered, load_values, release_values, render
from tests.chart.crd_schemas import crd_errors
from tests.chart.dapr_access import (
    HTTP_VERBS,
    Caller,
    dapr_apps,
    invocation_problems,
    may_invoke,
    normalize_method,
    pubsub_metadata,
    pubsub_problems,
    token_problems,
)
from todo_infra.app_secrets import DAPR_APP_TOKEN_PREFIX, dapr_app_token_secret
from todo_infra.contracts import BASE_VALUES
from todo_infra.release import app_stack_secrets, dapr_app_ids

#: A declared invocation to seed the checks with: the first two Dapr app-ids of values.yaml, one calling the other.
_APPS = dapr_apps(load_values(BASE_VALUES))
CALLER, CALLEE, BYSTANDER = _APPS[0], _APPS[1], _APPS[2]
OPERATION = {"name": "/internal/refresh", "httpVerb": ["POST"]}


def configurations(env: Rendered | list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """app-id -> the Configuration its sidecar names in dapr.io/config."""
    documents = env.manifests if isinstance(env, Rendered) else env
    by_name = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Configuration"}
    found = {}
    for deployment in (d for d in documents if d["kind"] == "Deployment"):
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        if annotations.get("dapr.io/enabled") == "true":
            found[annotations["dapr.io/app-id"]] = by_name.get(annotations["dapr.io/config"])
    return {app: config for app, config in found.items() if config is not None}


def with_invoker(sets: dict[str, str], environment: str = "production", **invoker: Any) -> dict[str, Any]:
    values = release_values(environment, sets)
    values["services"][CALLEE]["dapr"]["invokers"] = [{"appId": CALLER, "operations": [OPERATION], **invoker}]
    return values


def documents(chart: helm.Chart, values: dict[str, Any], namespace: str = "production") -> list[dict[str, Any]]:
    return [doc for _, doc in render(chart, values, namespace)]


# --- service invocation ----------------------------------------------------------------------------------------------


def test_the_app_ids_come_from_values(rendered: Rendered) -> None:
    """The lists below are values.yaml's, not typed here: the same app-ids the app stack writes tokens for."""
    assert dapr_apps(rendered.values) == list(dapr_app_ids())
    assert len(_APPS) >= 3, "the seeded cases need a caller, a callee and a bystander"


def test_every_sidecar_reads_its_own_configuration_with_default_deny(rendered: Rendered) -> None:
    configs = configurations(rendered)
    assert sorted(configs) == dapr_apps(rendered.values)
    assert len({id(c) for c in configs.values()}) == len(configs), "one Configuration per app-id"
    trust = rendered.values["dapr"]["accessControl"]["trustDomain"]
    for app, config in configs.items():
        assert config["metadata"]["name"] == f"{rendered.values['dapr']['config']['name']}-{app}"
        access = config["spec"]["accessControl"]
        assert (access["defaultAction"], access["trustDomain"]) == ("deny", trust)
        assert trust == "public"  # Dapr's default, what Sentry issues without a Configuration naming another
        assert crd_errors(config) == [], app


def test_no_invocation_reaches_any_app_as_values_declare_none(rendered: Rendered) -> None:
    """The app's specification documents no service invocation, so values declare no invoker: every call of every
    app-id, from this namespace or another, to every route (subscription routes first) is refused."""
    assert all(not rendered.values["services"][app]["dapr"]["invokers"] for app in dapr_apps(rendered.values))
    assert invocation_problems(configurations(rendered), rendered.values, rendered.namespace) == []
    routes = [
        (a, s["route"]) for a in dapr_apps(rendered.values) for s in rendered.values["services"][a]["subscriptions"]
    ]
    assert routes, "the subscription routes are what this protects"
    configs = configurations(rendered)
    for callee, route in routes:
        for caller in dapr_apps(rendered.values):
            assert not may_invoke(configs[callee], Caller(caller, rendered.namespace), route, "POST")


def test_a_declared_invoker_reaches_only_its_methods_and_verbs(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = with_invoker(sets)
    docs = documents(chart, values)
    configs = configurations(docs)
    assert invocation_problems(configs, values, "production") == []
    callee = configs[CALLEE]
    assert crd_errors(callee) == []
    (policy,) = callee["spec"]["accessControl"]["policies"]
    assert policy == {
        "appId": CALLER,
        "defaultAction": "deny",
        "trustDomain": "public",
        "namespace": "production",
        "operations": [{"name": "/internal/refresh", "httpVerb": ["POST"], "action": "allow"}],
    }
    here = Caller(CALLER, "production")
    assert may_invoke(callee, here, "/internal/refresh", "POST")
    assert may_invoke(callee, here, "/INTERNAL/refresh/now", "POST")  # Dapr lowercases; a name covers paths below
    assert not may_invoke(callee, here, "/internal/refresh", "GET")
    assert not may_invoke(callee, here, "/internal", "POST")
    assert not may_invoke(callee, Caller(BYSTANDER, "production"), "/internal/refresh", "POST")
    assert not may_invoke(callee, Caller(CALLER, "staging"), "/internal/refresh", "POST")  # same app-id, other env
    assert not may_invoke(callee, Caller(CALLER, "production", "elsewhere"), "/internal/refresh", "POST")
    for other in set(configs) - {CALLEE}:
        assert not any(may_invoke(configs[other], here, "/internal/refresh", v) for v in HTTP_VERBS), other


def test_seeded_an_undeclared_caller_is_caught(chart: helm.Chart, sets: dict[str, str]) -> None:
    """A policy added to the rendered Configuration for an app-id values do not declare."""
    values = with_invoker(sets)
    configs = configurations(documents(chart, values))
    policies = configs[CALLEE]["spec"]["accessControl"]["policies"]
    policies.append({**copy.deepcopy(policies[0]), "appId": BYSTANDER})
    problems = invocation_problems(configs, values, "production")
    assert f"production/{BYSTANDER} may call POST /internal/refresh on {CALLEE}, undeclared" in problems


def test_seeded_a_shared_allow_all_configuration_is_caught(production: Rendered) -> None:
    """The chart as it was: one Configuration without accessControl for every sidecar."""
    configs = {app: {"spec": {"metric": {"enabled": True}}} for app in configurations(production)}
    problems = invocation_problems(configs, production.values, "production")
    route = production.values["services"][_APPS[-1]]["subscriptions"][0]["route"]
    assert f"production/{CALLER} may call POST {route} on {_APPS[-1]}, undeclared" in problems
    assert f"other-namespace/{CALLER} may call POST {route} on {_APPS[-1]}, undeclared" in problems


def test_seeded_a_policy_with_a_misspelt_app_id_is_caught(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = with_invoker(sets)
    configs = configurations(documents(chart, values))
    configs[CALLEE]["spec"]["accessControl"]["policies"][0]["appId"] = CALLER + "x"
    problems = invocation_problems(configs, values, "production")
    assert f"{CALLEE}: a policy names app-id {CALLER + 'x'!r}, which is no Dapr app of this release" in problems
    assert f"{CALLER} is declared to call POST /internal/refresh on {CALLEE} but is refused" in problems


def test_seeded_a_policy_without_its_namespace_is_refused_by_daprd(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = with_invoker(sets)
    configs = configurations(documents(chart, values))
    del configs[CALLEE]["spec"]["accessControl"]["policies"][0]["namespace"]
    assert invocation_problems(configs, values, "production")[0].startswith(f"{CALLEE}: daprd refuses")


@pytest.mark.parametrize(
    ("invoker", "message"),
    [
        (
            {"appId": "backnd"},
            f'services.{CALLEE}.dapr.invokers: app-id "backnd" has no Dapr sidecar in this release (allowed: ',
        ),
        (
            {"operations": [{"name": "/dapr", "httpVerb": ["POST"]}]},
            f'services.{CALLEE}.dapr.invokers: {CALLER} may not call "/dapr": it reaches "/dapr"',
        ),
    ],
    ids=["misspelt app-id", "the sidecar's own routes"],
)
def test_the_chart_refuses_a_bad_invoker(
    chart: helm.Chart, sets: dict[str, str], invoker: dict[str, Any], message: str
) -> None:
    with pytest.raises(Exception) as raised:
        render(chart, with_invoker(sets, **invoker), "production")
    assert message in str(raised.value)


def test_the_chart_refuses_an_invoker_of_a_subscription_route(chart: helm.Chart, sets: dict[str, str]) -> None:
    """Dapr forwards an invocation with the app token attached, so an operation covering a subscription route would
    let the caller deliver forged events; a name above the route covers it too."""
    values = release_values("production", sets)
    subscriber = next(a for a in dapr_apps(values) if values["services"][a]["subscriptions"])
    route = values["services"][subscriber]["subscriptions"][0]["route"]
    other = next(a for a in dapr_apps(values) if a != subscriber)
    for name in (route, route.rsplit("/", 1)[0] or route, route + "/x"):
        values["services"][subscriber]["dapr"]["invokers"] = [
            {"appId": other, "operations": [{"name": name, "httpVerb": ["POST"]}]}
        ]
        with pytest.raises(Exception, match="a route only the app's own sidecar may call"):
            render(chart, values, "production")


def test_the_chart_refuses_a_caller_listed_twice(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = with_invoker(sets)
    values["services"][CALLEE]["dapr"]["invokers"] *= 2
    with pytest.raises(Exception, match=f'app-id "{CALLER}" is listed twice'):
        render(chart, values, "production")


@pytest.mark.parametrize(
    "operation",
    [
        {"name": "/internal/*", "httpVerb": ["POST"]},
        {"name": "/Internal", "httpVerb": ["POST"]},
        {"name": "/x", "httpVerb": ["*"]},
    ],
    ids=["wildcard", "upper case", "any verb"],
)
def test_the_schema_refuses_wildcards_and_names_dapr_would_lowercase(
    chart: helm.Chart, sets: dict[str, str], operation: dict[str, Any]
) -> None:
    values = release_values("production", sets)
    values["services"][CALLEE]["dapr"]["invokers"] = [{"appId": CALLER, "operations": [operation]}]
    with pytest.raises(Exception, match="invokers"):
        chart.validate_schema(values)


# --- pub/sub -------------------------------------------------------------------------------------------------------


def test_each_app_publishes_and_subscribes_only_to_its_declared_topics(rendered: Rendered) -> None:
    pubsub = rendered.get("Component", rendered.values["dapr"]["pubsub"]["name"])
    assert pubsub_problems(pubsub, rendered.values, extra_topics=["some-other-topic"]) == []
    assert crd_errors(pubsub) == []


def test_the_scoping_metadata_is_what_daprd_parses(production: Rendered, staging: Rendered) -> None:
    """The declaration of values.yaml as the production component spells it (Dapr's `app=topic,topic;app=` format),
    and staging's with its own topic names."""
    assert {
        k: v for k, v in pubsub_metadata(production.get("Component", "pubsub")).items() if "opics" in k or "copes" in k
    } == {
        "allowedTopics": "notifications,task-events",
        "protectedTopics": "notifications,task-events",
        "publishingScopes": "backend=task-events;mcp=task-events;notification=notifications;sse-gateway=",
        "subscriptionScopes": "backend=;mcp=;notification=task-events;sse-gateway=notifications,task-events",
    }
    staging_metadata = pubsub_metadata(staging.get("Component", "pubsub"))
    assert staging_metadata["allowedTopics"] == "staging-notifications,staging-task-events"
    assert "notification=staging-notifications" in staging_metadata["publishingScopes"]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("publishingScopes", None, "is declared to publish"),
        ("subscriptionScopes", None, "is declared to subscribe"),
        ("allowedTopics", "task-events", "is declared to publish 'notifications' but is refused"),
        ("publishingScopes", "backend=task-events,notifications", "backend may publish 'notifications', undeclared"),
    ],
    ids=["no publishing scopes", "no subscription scopes", "a topic left out", "an undeclared publisher"],
)
def test_seeded_a_topic_without_its_scope_is_caught(
    production: Rendered, field: str, value: str | None, problem: str
) -> None:
    pubsub = copy.deepcopy(production.get("Component", "pubsub"))
    items = [i for i in pubsub["spec"]["metadata"] if i["name"] != field]
    if value is not None:
        items.append({"name": field, "value": value})
    pubsub["spec"]["metadata"] = items
    assert any(problem in p for p in pubsub_problems(pubsub, production.values, ["some-other-topic"])), problem


def test_seeded_without_protected_topics_an_unlisted_app_would_use_any_topic(production: Rendered) -> None:
    """protectedTopics makes a topic unusable by an app-id no scope grants it; without it and without the app in the
    scopes, daprd allows everything."""
    pubsub = copy.deepcopy(production.get("Component", "pubsub"))
    silent = next(a for a in dapr_apps(production.values) if not production.values["services"][a]["dapr"]["publishes"])
    for item in pubsub["spec"]["metadata"]:
        if item["name"] == "publishingScopes":
            item["value"] = ";".join(e for e in item["value"].split(";") if not e.startswith(f"{silent}="))
    assert pubsub_problems(pubsub, production.values) == []  # still refused: protectedTopics covers every topic
    pubsub["spec"]["metadata"] = [i for i in pubsub["spec"]["metadata"] if i["name"] != "protectedTopics"]
    assert any(p.startswith(f"{silent} may publish") for p in pubsub_problems(pubsub, production.values))


def test_the_chart_refuses_a_publish_of_an_unknown_topic(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = release_values("production", sets)
    values["services"][CALLER]["dapr"]["publishes"] = ["taskEvent"]
    with pytest.raises(Exception, match=f'services.{CALLER}.dapr.publishes: topic key "taskEvent" is not in'):
        render(chart, values, "production")


def test_the_chart_refuses_a_publisher_without_the_pubsub_component(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = release_values("production", sets)
    publisher = next(a for a in dapr_apps(values) if values["services"][a]["dapr"]["publishes"])
    values["services"][publisher]["dapr"]["components"] = ["statestore"]
    with pytest.raises(Exception, match=f"services.{publisher}: publishes or subscribes without the pubsub component"):
        render(chart, values, "production")


# --- app tokens ----------------------------------------------------------------------------------------------------


def test_every_sidecar_sends_its_own_token_and_its_app_holds_it(rendered: Rendered) -> None:
    token_env = rendered.values["dapr"]["appToken"]["env"]
    assert token_env == "APP_API_TOKEN"  # what the app reads (docs/architecture.md, "Dapr sidecars")
    assert rendered.values["dapr"]["appToken"]["secretPrefix"] == DAPR_APP_TOKEN_PREFIX
    assert token_problems(rendered.of_kind("Deployment"), token_env, app_stack_secrets()) == []
    annotated = {
        d["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-token-secret"]
        for d in rendered.of_kind("Deployment")
        if "dapr.io/app-token-secret" in d["spec"]["template"]["metadata"].get("annotations", {})
    }
    assert annotated == {dapr_app_token_secret(app) for app in dapr_apps(rendered.values)}


@pytest.mark.parametrize("fault", ["annotation removed", "shared secret", "app without the token", "unwritten secret"])
def test_seeded_a_token_fault_is_caught(production: Rendered, fault: str) -> None:
    deployments = copy.deepcopy(production.of_kind("Deployment"))
    sidecars = [
        d for d in deployments if d["spec"]["template"]["metadata"].get("annotations", {}).get("dapr.io/enabled")
    ]
    first, second = sidecars[0]["spec"]["template"], sidecars[1]["spec"]["template"]
    written = list(app_stack_secrets())
    if fault == "annotation removed":
        del first["metadata"]["annotations"]["dapr.io/app-token-secret"]
    elif fault == "shared secret":
        second["metadata"]["annotations"]["dapr.io/app-token-secret"] = first["metadata"]["annotations"][
            "dapr.io/app-token-secret"
        ]
    elif fault == "app without the token":
        first["spec"]["containers"][0]["env"] = [
            e for e in first["spec"]["containers"][0]["env"] if e["name"] != "APP_API_TOKEN"
        ]
    else:
        written.remove(first["metadata"]["annotations"]["dapr.io/app-token-secret"])
    assert token_problems(deployments, "APP_API_TOKEN", written) != []


@pytest.mark.parametrize(
    ("method", "normalized"),
    [
        # Go's path.Clean, then daprd's own rules (pkg/messaging/method/normalize.go at v1.18.3)
        ("/api/../dapr/subscribe", "/dapr/subscribe"),
        ("api/../../dapr", "dapr"),
        ("//a//b/", "/a/b"),
        ("..", ""),
        ("", ""),
        ("a?b", None),
        ("a#b", None),
        ("x\x01y", None),
    ],
)
def test_methods_are_normalized_as_daprd_normalizes_them(method: str, normalized: str | None) -> None:
    assert normalize_method(method) == normalized


def test_seeded_a_traversal_to_a_subscription_route_is_judged_on_the_cleaned_path() -> None:
    """A policy that admits a caller on /api is no way to /dapr/...: daprd cleans the method before its check."""
    configuration = {
        "spec": {
            "accessControl": {
                "defaultAction": "deny",
                "trustDomain": "public",
                "policies": [
                    {
                        "appId": "backend",
                        "namespace": "staging",
                        "trustDomain": "public",
                        "defaultAction": "deny",
                        "operations": [{"name": "/api", "httpVerb": ["POST"], "action": "allow"}],
                    }
                ],
            }
        }
    }
    caller = Caller("backend", "staging", "public")
    assert may_invoke(configuration, caller, "/api/tasks", "POST")
    assert not may_invoke(configuration, caller, "/api/../dapr/task-events", "POST")
    assert not may_invoke(configuration, caller, "/api?x=/dapr", "POST")  # refused outright
