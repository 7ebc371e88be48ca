"""The environment identities, evaluated as Kubernetes RBAC decides: each passes on the rendered chart and each
widening a reviewer could miss is caught, naming who can do what (docs/architecture.md, "Environment isolation")."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from preflight.access import (
    Authorizer,
    Request,
    builtin_cluster_roles,
    check_access,
    expectations,
    kind_to_resource,
    released_resources,
)
from preflight.render import RenderedRelease
from preflight.report import CheckResult
from preflight.run import platform_namespaces
from tests.synth import Synth
from todo_infra import access as access_module
from todo_infra.access import DEPLOYER, IDENTITIES, READER, Rule

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def namespaces(synth: Synth) -> dict[str, Manifest]:
    """The app namespaces as the platform creates them (their labels and annotations select the admission policies)."""
    return synth.namespace_objects(("staging", "production"))


def run_check(access: RenderedRelease, apps: list[RenderedRelease], namespaces: dict[str, Manifest]) -> CheckResult:
    return check_access(
        [access],
        apps,
        namespaces=[app.namespace for app in apps],
        other_namespaces=platform_namespaces(),
        namespace_objects=namespaces,
    )


def checked(
    access: RenderedRelease, apps: list[RenderedRelease], namespaces: dict[str, Manifest], *extra: Manifest
) -> list[str]:
    widened = dataclasses.replace(access, documents=(*access.documents, *(("seeded.yaml", doc) for doc in extra)))
    return run_check(widened, apps, namespaces).problems


def binding(kind: str, role_kind: str, role: str, subject: Manifest, namespace: str | None = None) -> Manifest:
    metadata: Manifest = {"name": "seeded"} | ({"namespace": namespace} if namespace else {})
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [subject],
    }


STAGING_DEPLOYER = {"kind": "ServiceAccount", "name": DEPLOYER.name, "namespace": "staging"}


def test_every_identity_holds_every_expectation_on_the_rendered_chart(
    access: RenderedRelease, apps: list[RenderedRelease], namespaces: dict[str, Manifest]
) -> None:
    result = run_check(access, apps, namespaces)
    assert result.ok, result.problems
    assert [row[0] for row in result.rows] == [
        *(f"{ns}/{identity.name}" for ns in ("production", "staging") for identity in IDENTITIES),
        "environment boundary",
    ]
    assert result.figures["expectations"] > 500


def test_the_chart_renders_per_namespace_identities_and_nothing_cluster_scoped(access: RenderedRelease) -> None:
    kinds = {(doc["kind"], doc["metadata"].get("namespace")) for doc in access.manifests}
    for namespace in ("staging", "production"):
        for kind in ("ServiceAccount", "Secret", "Role", "RoleBinding", "ConfigMap"):
            assert (kind, namespace) in kinds
    assert not {kind for kind, _ in kinds} & {"ClusterRole", "ClusterRoleBinding", "Namespace"}
    tokens = [doc for doc in access.manifests if doc["kind"] == "Secret"]
    assert {doc["type"] for doc in tokens} == {"kubernetes.io/service-account-token"}
    assert all("data" not in doc and "stringData" not in doc for doc in tokens), "Kubernetes fills the token"
    assert {doc["metadata"]["name"] for doc in tokens} == {f"{i.name}-token-1" for i in IDENTITIES}
    for doc in tokens:
        assert doc["metadata"]["annotations"]["kubernetes.io/service-account.name"] in {i.name for i in IDENTITIES}


def test_the_platform_facts_are_the_names_the_app_release_compares(access: RenderedRelease) -> None:
    facts = [doc for doc in access.manifests if doc["kind"] == "ConfigMap"]
    assert {doc["metadata"]["name"] for doc in facts} == {access_module.PLATFORM_FACTS}
    # the default edge's class: Envoy Gateway's GatewayClass
    assert all(doc["data"] == {"ingressClass": "envoy", "clusterIssuer": "letsencrypt-prod"} for doc in facts)


@pytest.mark.parametrize(
    ("seeded", "expected"),
    [
        (
            binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", STAGING_DEPLOYER),
            "staging/todo-deployer can get secrets in production",
        ),
        (
            binding("RoleBinding", "ClusterRole", "edit", STAGING_DEPLOYER, "production"),
            "staging/todo-deployer can list secrets in production",
        ),
        (
            binding("RoleBinding", "ClusterRole", "admin", STAGING_DEPLOYER, "staging"),
            "staging/todo-deployer can create rolebindings.rbac.authorization.k8s.io in staging",
        ),
        (
            binding("ClusterRoleBinding", "ClusterRole", "view", {"kind": "Group", "name": "system:serviceaccounts"}),
            "staging/todo-reader can get configmaps in production",
        ),
        (
            binding(
                "RoleBinding",
                "ClusterRole",
                "view",
                {"kind": "User", "name": "system:serviceaccount:staging:todo-reader"},
                "production",
            ),
            "staging/todo-reader can get configmaps in production",
        ),
    ],
    ids=["cluster-admin", "edit-in-production", "admin-in-own-namespace", "view-for-all-accounts", "view-by-user"],
)
def test_a_widened_binding_is_caught(
    access: RenderedRelease,
    apps: list[RenderedRelease],
    namespaces: dict[str, Manifest],
    seeded: Manifest,
    expected: str,
) -> None:
    assert expected in checked(access, apps, namespaces, seeded)


def test_a_reader_role_that_reads_secrets_is_caught(
    access: RenderedRelease, apps: list[RenderedRelease], namespaces: dict[str, Manifest]
) -> None:
    widened = copy.deepcopy(access)
    for doc in widened.manifests:
        if doc["kind"] == "Role" and doc["metadata"]["name"] == READER.name:
            doc["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})
    problems = checked(widened, apps, namespaces)
    assert "staging/todo-reader can get secrets in staging" in problems
    assert "production/todo-reader can get secrets in production" in problems


def test_a_deployer_missing_a_kind_the_app_release_installs_is_caught(
    access: RenderedRelease, apps: list[RenderedRelease], namespaces: dict[str, Manifest]
) -> None:
    narrowed = copy.deepcopy(access)
    for doc in narrowed.manifests:
        if doc["kind"] == "Role" and doc["metadata"]["name"] == DEPLOYER.name:
            doc["rules"] = [r for r in doc["rules"] if "cronjobs" not in r["resources"]]
    assert "staging/todo-deployer cannot create cronjobs.batch in staging" in checked(narrowed, apps, namespaces)


def test_the_deployer_rules_cover_exactly_what_the_app_release_installs(
    apps: list[RenderedRelease], nginx_apps: list[RenderedRelease]
) -> None:
    """The table in todo_infra/access.py is derived by hand from the chart: a kind the chart adds must be added. Both
    edges' releases: HTTPRoutes, ReferenceGrants and Certificates on the default one, Ingresses on ingress-nginx."""
    granted = {(rule.group, resource) for rule in DEPLOYER.rules for resource in rule.resources}
    released = released_resources([*apps, *nginx_apps])
    assert released <= granted
    stated = {(group, resource) for group, resources in access_module.RELEASED.items() for resource in resources}
    assert stated == released, "RELEASED lists a kind the chart no longer installs, or misses one it does"


def test_no_identity_rule_uses_a_wildcard_or_an_escalation_verb() -> None:
    for identity in IDENTITIES:
        for rule in identity.rules:
            assert isinstance(rule, Rule)
            assert "*" not in (rule.group, *rule.resources, *rule.verbs)
            assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule.verbs)
            assert "serviceaccounts/token" not in rule.resources and "pods/exec" not in rule.resources


@pytest.mark.parametrize(
    ("kind", "resource"),
    [
        ("NetworkPolicy", "networkpolicies"),
        ("Ingress", "ingresses"),
        ("Configuration", "configurations"),
        ("PodDisruptionBudget", "poddisruptionbudgets"),
        ("HorizontalPodAutoscaler", "horizontalpodautoscalers"),
        ("PrometheusRule", "prometheusrules"),
    ],
)
def test_kind_to_resource_guesses_as_kubernetes_does(kind: str, resource: str) -> None:
    assert kind_to_resource(kind) == resource


def test_the_authorizer_follows_rbac_matching() -> None:
    """Wildcards, `*/subresource`, resourceNames, aggregation and a RoleBinding's namespace, on hand-made objects."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "logs", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [
            {"apiGroups": [""], "resources": ["*/log"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["one"], "verbs": ["get"]},
        ],
    }
    sa = {"kind": "ServiceAccount", "name": "a", "namespace": "x"}
    authorizer = Authorizer([*builtin_cluster_roles(), role, binding("RoleBinding", "ClusterRole", "view", sa, "x")])
    assert authorizer.allowed("x", "a", Request("get", "", "pods/log", "x"))  # aggregated into view
    assert authorizer.allowed("x", "a", Request("get", "", "configmaps", "x", "one"))
    assert authorizer.allowed("x", "a", Request("list", "apps", "deployments", "x"))
    assert not authorizer.allowed("x", "a", Request("get", "", "secrets", "x"))
    assert not authorizer.allowed("x", "a", Request("get", "", "pods", "y"))
    assert not authorizer.allowed("x", "b", Request("get", "", "pods", "x"))
    assert not authorizer.allowed("x", "a", Request("get", "", "namespaces", None, "x"))
    admin = Authorizer([*builtin_cluster_roles(), binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", sa)])
    assert admin.allowed("x", "a", Request("delete", "", "namespaces", None, "production"))


def test_expectations_name_the_other_environment_and_the_platform(apps: list[RenderedRelease]) -> None:
    wanted = list(expectations(["staging", "production"], platform_namespaces(), released_resources(apps)))
    denied = {(e.who, e.request.namespace) for e in wanted if not e.allowed and e.request.resource == "secrets"}
    assert ("staging/todo-deployer", "production") in denied
    assert ("staging/todo-deployer", "kube-system") in denied
    assert ("production/todo-reader", "production") in denied
