"""The environment boundary: the platform's admission policies, evaluated with a CEL engine as the API server would,
admit everything the app releases install and refuse what would act beyond an app namespace through a cluster-wide
controller (docs/architecture.md, "Environment isolation"). The same cases ran against a kube-apiserver v1.35.6."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from preflight.access import POD_CREATOR, admission_problems
from preflight.admission import Admission, policies, refusals
from preflight.render import RenderedRelease
from tests.synth import Synth
from todo_infra.access import DEPLOYER, HOST_ANNOTATION, PLATFORM_FACTS

Manifest = dict[str, Any]
STAGING_DEPLOYER = DEPLOYER.subject("staging")
PLATFORM = "do-admin@example.com"  # the platform's deploy: a DigitalOcean-issued user, not a ServiceAccount


@pytest.fixture(scope="module")
def boundary(access: RenderedRelease) -> list[Manifest]:
    return policies(access.manifests)


@pytest.fixture(scope="module")
def staging(synth: Synth) -> Manifest:
    return synth.namespace_objects(["staging"])["staging"]


def service(type_: str = "ClusterIP", annotations: dict[str, str] | None = None, **spec: Any) -> Manifest:
    metadata: Manifest = {"name": "probe", **({"annotations": annotations} if annotations else {})}
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": {"type": type_, **spec}}


def ingress(host: str, tls_host: str | None = None, **spec: Any) -> Manifest:
    body: Manifest = {"rules": [{"host": host}], **spec}
    if tls_host:
        body["tls"] = [{"hosts": [tls_host], "secretName": "t"}]
    return {"metadata": {"name": "probe"}, "spec": body}


def pod(**spec: Any) -> Manifest:
    return {"metadata": {"name": "probe"}, "spec": {"containers": [{"name": "c"}], **spec}}


#: (user, operation, group, resource, object, the policy that must refuse it or None for admitted)
CASES: dict[str, tuple[str, str, str, str, Manifest | None, str | None]] = {
    "a ClusterIP Service": (STAGING_DEPLOYER, "CREATE", "", "services", service(), None),
    "a LoadBalancer": (STAGING_DEPLOYER, "CREATE", "", "services", service("LoadBalancer"), "boundary"),
    "a NodePort": (STAGING_DEPLOYER, "UPDATE", "", "services", service("NodePort"), "boundary"),
    "an ExternalName to production": (
        STAGING_DEPLOYER,
        "CREATE",
        "",
        "services",
        service("ExternalName", externalName="todo-app-backend.production.svc.cluster.local"),
        "boundary",
    ),
    "externalIPs": (STAGING_DEPLOYER, "CREATE", "", "services", service(externalIPs=["203.0.113.9"]), "boundary"),
    "a Service naming production's load balancer": (
        STAGING_DEPLOYER,
        "CREATE",
        "",
        "services",
        service(annotations={"service.beta.kubernetes.io/do-loadbalancer-name": "hackathon-todo-ingress"}),
        "boundary",
    ),
    "an Ingress of its own host": (
        STAGING_DEPLOYER,
        "CREATE",
        "networking.k8s.io",
        "ingresses",
        ingress("staging.todo.example.com", "staging.todo.example.com"),
        None,
    ),
    "an Ingress of production's host": (
        STAGING_DEPLOYER,
        "CREATE",
        "networking.k8s.io",
        "ingresses",
        ingress("todo.example.com"),
        "boundary",
    ),
    "a certificate for production's host": (
        STAGING_DEPLOYER,
        "CREATE",
        "networking.k8s.io",
        "ingresses",
        ingress("staging.todo.example.com", "todo.example.com"),
        "boundary",
    ),
    "an Ingress without a host": (
        STAGING_DEPLOYER,
        "CREATE",
        "networking.k8s.io",
        "ingresses",
        {"metadata": {"name": "probe"}, "spec": {"rules": [{"http": {}}]}},
        "boundary",
    ),
    "a default backend": (
        STAGING_DEPLOYER,
        "CREATE",
        "networking.k8s.io",
        "ingresses",
        ingress("staging.todo.example.com", defaultBackend={"service": {"name": "x"}}),
        "boundary",
    ),
    "a Helm release record": (
        STAGING_DEPLOYER,
        "CREATE",
        "",
        "secrets",
        {"metadata": {"name": "sh.helm.release.v1.todo-app.v9"}, "type": "helm.sh/release.v1"},
        None,
    ),
    "a token minted for the deployer": (
        STAGING_DEPLOYER,
        "CREATE",
        "",
        "secrets",
        {
            "metadata": {"name": "mint", "annotations": {"kubernetes.io/service-account.name": DEPLOYER.name}},
            "type": "kubernetes.io/service-account-token",
        },
        "boundary",
    ),
    "the platform's names rewritten": (
        STAGING_DEPLOYER,
        "UPDATE",
        "",
        "configmaps",
        {"metadata": {"name": PLATFORM_FACTS}, "data": {"ingressClass": "evil"}},
        "boundary",
    ),
    "the platform's names by the platform": (
        PLATFORM,
        "UPDATE",
        "",
        "configmaps",
        {"metadata": {"name": PLATFORM_FACTS}, "data": {"ingressClass": "nginx"}},
        None,
    ),
    "a load balancer by the platform": (PLATFORM, "CREATE", "", "services", service("LoadBalancer"), None),
    "a pod as the deployer": (POD_CREATOR, "CREATE", "", "pods", pod(serviceAccountName=DEPLOYER.name), "identities"),
    "a pod as the reader, old field": (
        POD_CREATOR,
        "CREATE",
        "",
        "pods",
        pod(serviceAccount="todo-reader"),
        "identities",
    ),
    "a pod as default": (POD_CREATOR, "CREATE", "", "pods", pod(), None),
}


@pytest.mark.parametrize("name", CASES)
def test_the_boundary_admits_and_refuses(boundary: list[Manifest], staging: Manifest, name: str) -> None:
    user, operation, group, resource, obj, refused_by = CASES[name]
    request = Admission(user, operation, group, resource, staging, obj)
    found = {r.split(":")[0] for policy in boundary for r in refusals(policy, request)}
    assert found == ({f"todo-environment-{refused_by}"} if refused_by else set())


def test_deleting_the_platform_names_is_refused(boundary: list[Manifest], staging: Manifest) -> None:
    facts = {"metadata": {"name": PLATFORM_FACTS}}
    request = Admission(STAGING_DEPLOYER, "DELETE", "", "configmaps", staging, None, old_object=facts)
    assert [r for policy in boundary for r in refusals(policy, request)]


def test_the_policies_read_the_labels_and_annotation_the_platform_sets(boundary: list[Manifest], synth: Synth) -> None:
    for namespace in ("staging", "production"):
        metadata = synth.namespace(namespace)["metadata"]
        assert metadata["labels"]["todo.hackathon/environment"] == namespace
        assert metadata["annotations"][HOST_ANNOTATION] == ("todo" if namespace == "production" else "staging.todo") + (
            ".example.com"
        )
    (boundary_policy,) = [p for p in boundary if p["metadata"]["name"] == "todo-environment-boundary"]
    (condition,) = boundary_policy["spec"]["matchConditions"]
    assert condition["expression"] == (
        "request.userInfo.username.startsWith('system:serviceaccount:' + request.namespace + ':')"
    )
    assert all(p["spec"]["failurePolicy"] == "Fail" for p in boundary)


def test_a_namespace_the_platform_did_not_label_is_out_of_scope(boundary: list[Manifest]) -> None:
    unlabelled = {"metadata": {"name": "default", "labels": {}, "annotations": {}}}
    request = Admission(DEPLOYER.subject("default"), "CREATE", "", "services", unlabelled, service("LoadBalancer"))
    assert not [r for policy in boundary for r in refusals(policy, request)]


def test_everything_the_app_releases_install_is_admitted(
    synth: Synth, access: RenderedRelease, apps: list[RenderedRelease]
) -> None:
    namespaces = synth.namespace_objects(("staging", "production"))
    problems, judged = admission_problems([access], apps, namespaces)
    assert problems == []
    assert judged > 60


def test_seeded_a_chart_that_adds_a_load_balancer_would_not_deploy(
    synth: Synth, access: RenderedRelease, apps: list[RenderedRelease]
) -> None:
    """Preflight's access check names it before a deploy finds out."""
    namespaces = synth.namespace_objects(("staging", "production"))
    staging = next(app for app in apps if app.namespace == "staging")
    documents = copy.deepcopy(staging.documents)
    for _, doc in documents:
        if doc["kind"] == "Service":
            doc["spec"]["type"] = "LoadBalancer"
            break
    changed = dataclasses.replace(staging, documents=documents)
    problems, _ = admission_problems([access], [changed], namespaces)
    assert len(problems) == 1
    assert (
        problems[0].startswith("app-staging: Service/") and "would be refused: todo-environment-boundary" in problems[0]
    )
    # Seeded: without the policies there is no boundary at all.
    bare = dataclasses.replace(access, documents=tuple(d for d in access.documents if "Admission" not in d[1]["kind"]))
    assert admission_problems([bare], apps, namespaces)[0][-1].startswith("no ValidatingAdmissionPolicy")
