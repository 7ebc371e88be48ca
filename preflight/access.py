"""Access check: what each app environment's identities can do, evaluated the way Kubernetes RBAC decides it.

Offline there is no API server to ask `kubectl auth can-i`, so this evaluates the rendered RBAC objects (the charts the
repo renders: environment-access, cluster-bootstrap, the app chart) together with the cluster's built-in roles
(preflight/builtin_roles.yaml), following the RBAC authorizer: a request is allowed when a RoleBinding of the
request's namespace or a ClusterRoleBinding names the identity (as ServiceAccount, as its user name, or through the
groups every ServiceAccount has) and the bound role holds a rule matching the verb, API group, resource
(subresources as `resource/sub`, `*` and `*/sub` wildcards) and name; ClusterRoles with an aggregationRule hold the
rules of every ClusterRole their selectors match
(https://github.com/kubernetes/kubernetes/blob/v1.35.0/pkg/apis/rbac/v1/evaluation_helpers.go,
https://kubernetes.io/docs/reference/access-authn-authz/rbac/#aggregated-clusterroles).

The rule it proves (docs/architecture.md, "Environment isolation"): an environment's deployer can do everything its
app release needs in its own namespace and nothing anywhere else; its reader can read its own namespace but no
Secret; neither can touch a cluster-scoped object or grant itself more.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight.admission import Admission, policies, refusals
from preflight.render import Manifest, RenderedRelease
from preflight.report import CheckResult
from preflight.runtime import pod_templates
from todo_infra import yamlload
from todo_infra.access import DEPLOYER, IDENTITIES, OBSERVED, READ, READER, WRITE, Identity

BUILTIN_ROLES = Path(__file__).resolve().parent / "builtin_roles.yaml"


def builtin_cluster_roles() -> list[Manifest]:
    documents: list[Manifest] = yamlload.load(BUILTIN_ROLES.read_text())["clusterRoles"]
    return documents


@dataclass(frozen=True)
class Request:
    """One API request: `namespace` None for a cluster-scoped object."""

    verb: str
    group: str
    resource: str
    namespace: str | None
    name: str = ""

    def __str__(self) -> str:
        kind = f"{self.resource}.{self.group}" if self.group else self.resource
        where = f" in {self.namespace}" if self.namespace else " (cluster-wide)"
        return f"{self.verb} {kind}{where}"


def service_account_matches(subject: Mapping[str, Any], namespace: str, name: str) -> bool:
    """Whether a binding's subject names the ServiceAccount `namespace/name` (directly, by user name or by group)."""
    kind, value = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return value == name and subject.get("namespace") == namespace
    if kind == "User":
        return value == f"system:serviceaccount:{namespace}:{name}"
    if kind == "Group":
        return value in ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")
    return False


def _rule_matches(rule: Mapping[str, Any], request: Request) -> bool:
    verbs, groups, resources = rule.get("verbs", []), rule.get("apiGroups", []), rule.get("resources", [])
    names = rule.get("resourceNames") or []
    _, _, sub = request.resource.partition("/")
    return (
        ("*" in verbs or request.verb in verbs)
        and ("*" in groups or request.group in groups)
        and ("*" in resources or request.resource in resources or (bool(sub) and f"*/{sub}" in resources))
        and (not names or request.name in names)
    )


class Authorizer:
    """The RBAC objects of a cluster, and who they let do what."""

    def __init__(self, objects: Iterable[Manifest]) -> None:
        self.objects = [doc for doc in objects if doc.get("apiVersion", "").startswith("rbac.authorization.k8s.io/")]

    def _of_kind(self, kind: str) -> Iterator[Manifest]:
        return (doc for doc in self.objects if doc.get("kind") == kind)

    def _cluster_role_rules(self, name: str, seen: frozenset[str] = frozenset()) -> list[Manifest]:
        """A ClusterRole's rules; an aggregated one's are those of every ClusterRole its selectors match, themselves
        aggregated first (admin takes edit's, which takes view's), as the aggregation controller fills them."""
        rules: list[Manifest] = []
        for role in (doc for doc in self._of_kind("ClusterRole") if doc["metadata"]["name"] == name):
            rules += role.get("rules") or []
            for selector in (role.get("aggregationRule") or {}).get("clusterRoleSelectors", []):
                # matchLabels only; a selector of matchExpressions alone is read as "everything" (it grants more,
                # so a widening is caught rather than missed).
                wanted = selector.get("matchLabels", {})
                for other in self._of_kind("ClusterRole"):
                    labels, other_name = other["metadata"].get("labels") or {}, other["metadata"]["name"]
                    if other_name not in seen | {name} and all(labels.get(k) == v for k, v in wanted.items()):
                        rules += self._cluster_role_rules(other_name, seen | {name})
        return rules

    def _role_rules(self, ref: Mapping[str, Any], namespace: str) -> list[Manifest]:
        if ref.get("kind") == "ClusterRole":
            return self._cluster_role_rules(ref["name"])
        roles = [
            doc
            for doc in self._of_kind("Role")
            if doc["metadata"]["name"] == ref["name"] and doc["metadata"].get("namespace") == namespace
        ]
        return [rule for role in roles for rule in role.get("rules") or []]

    def allowed(self, namespace: str, name: str, request: Request) -> bool:
        """Whether ServiceAccount `namespace/name` may make `request`."""
        bindings: list[tuple[Manifest, str | None]] = [(b, None) for b in self._of_kind("ClusterRoleBinding")]
        if request.namespace:
            bindings += [
                (b, request.namespace)
                for b in self._of_kind("RoleBinding")
                if b["metadata"].get("namespace") == request.namespace
            ]
        for binding, scope in bindings:
            if not any(service_account_matches(s, namespace, name) for s in binding.get("subjects") or []):
                continue
            ref = binding["roleRef"]
            rules = self._cluster_role_rules(ref["name"]) if scope is None else self._role_rules(ref, scope)
            if any(_rule_matches(rule, request) for rule in rules):
                return True
        return False


def kind_to_resource(kind: str) -> str:
    """The resource name of a kind, as Kubernetes guesses it for custom resources
    (apimachinery's meta.UnsafeGuessKindToResource: lower case; -s → -ses, -y → -ies, else -s)."""
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "s"


def released_resources(apps: Sequence[RenderedRelease]) -> set[tuple[str, str]]:
    """(API group, resource) of every object an app release installs."""
    found = set()
    for app in apps:
        for doc in app.manifests:
            group = doc["apiVersion"].rpartition("/")[0] if "/" in doc["apiVersion"] else ""
            found.add((group, kind_to_resource(doc["kind"])))
    return found


@dataclass(frozen=True)
class Expectation:
    identity: Identity
    namespace: str
    request: Request
    allowed: bool

    @property
    def who(self) -> str:
        return f"{self.namespace}/{self.identity.name}"


def expectations(
    namespaces: Sequence[str], other_namespaces: Sequence[str], released: set[tuple[str, str]]
) -> Iterator[Expectation]:
    """What each identity of each app namespace must and must not be able to do."""
    for own in namespaces:
        elsewhere = [ns for ns in (*namespaces, *other_namespaces) if ns != own]
        for identity in IDENTITIES:
            verbs = (*READ, *WRITE) if identity is DEPLOYER else READ
            for group, resource in sorted(released):
                for verb in (*READ, *WRITE):
                    yield Expectation(identity, own, Request(verb, group, resource, own), verb in verbs)
            yield Expectation(identity, own, Request("get", "", "secrets", own), identity is DEPLOYER)
            yield Expectation(identity, own, Request("list", "", "secrets", own), identity is DEPLOYER)
            # No way up (no new grants, no token of another identity, no shell in a pod, no impersonation), and no
            # cluster-scoped object, its own namespace included.
            for request in (
                Request("create", "rbac.authorization.k8s.io", "rolebindings", own),
                Request("create", "rbac.authorization.k8s.io", "roles", own),
                Request("create", "", "serviceaccounts/token", own),
                Request("create", "", "pods/exec", own),
                Request("impersonate", "", "serviceaccounts", own),
                Request("get", "", "namespaces", None, own),
                Request("patch", "", "namespaces", None, own),
                Request("delete", "", "namespaces", None, own),
                Request("create", "rbac.authorization.k8s.io", "clusterrolebindings", None),
                Request("create", "apiextensions.k8s.io", "customresourcedefinitions", None),
                Request("create", "scheduling.k8s.io", "priorityclasses", None),
                Request("impersonate", "", "users", None),
                Request("impersonate", "", "groups", None),
                Request("create", "admissionregistration.k8s.io", "validatingadmissionpolicybindings", None),
            ):
                yield Expectation(identity, own, request, False)
            # Elsewhere nothing at all: every verb on everything its own namespace grants, the Secrets by name too, and
            # what an attacker would reach for.
            elsewhere_resources = sorted(
                {*released, *((group, res) for group, ress in OBSERVED.items() for res in ress), ("", "secrets")}
                | {
                    ("", "pods"),
                    ("", "pods/exec"),
                    ("", "serviceaccounts/token"),
                    ("rbac.authorization.k8s.io", "rolebindings"),
                }
            )
            for namespace in elsewhere:
                yield Expectation(identity, own, Request("get", "", "secrets", namespace, "app-secrets"), False)
                for group, resource in elsewhere_resources:
                    for verb in (*READ, *WRITE):
                        yield Expectation(identity, own, Request(verb, group, resource, namespace), False)


def access_problems(authorizer: Authorizer, wanted: Iterable[Expectation]) -> tuple[list[str], dict[str, list[int]]]:
    """One line per expectation that does not hold; counts (held, checked) per identity."""
    problems: list[str] = []
    counts: dict[str, list[int]] = {}
    for item in wanted:
        held = authorizer.allowed(item.namespace, item.identity.name, item.request) == item.allowed
        tally = counts.setdefault(item.who, [0, 0])
        tally[0] += held
        tally[1] += 1
        if not held:
            verdict = "can" if not item.allowed else "cannot"
            problems.append(f"{item.who} {verdict} {item.request}")
    return problems, counts


#: Who creates an app namespace's pods: the controllers of its Deployments and Jobs, never the deployer itself.
POD_CREATOR = "system:serviceaccount:kube-system:replicaset-controller"


def admission_problems(
    platform_releases: Sequence[RenderedRelease], apps: Sequence[RenderedRelease], namespaces: Mapping[str, Manifest]
) -> tuple[list[str], int]:
    """What the environment boundary (the platform's admission policies) would refuse of the app releases: each object
    created by its namespace's deployer, each pod by its controller. Returns the refusals and the requests judged."""
    found = policies([doc for release in platform_releases for doc in release.manifests])
    problems, judged = [], 0
    for app in apps:
        namespace = namespaces[app.namespace]
        requests = [
            (
                f"{doc['kind']}/{doc['metadata']['name']}",
                Admission(
                    DEPLOYER.subject(app.namespace),
                    "CREATE",
                    doc["apiVersion"].rpartition("/")[0],
                    kind_to_resource(doc["kind"]),
                    namespace,
                    doc,
                ),
            )
            for doc in app.manifests
        ]
        requests += [
            (f"pod of {name}", Admission(POD_CREATOR, "CREATE", "", "pods", namespace, pod))
            for name, pod in pod_templates(app.manifests)
        ]
        for what, request in requests:
            judged += 1
            problems += [
                f"{app.stack}: {what} would be refused: {r}" for policy in found for r in refusals(policy, request)
            ]
    if not found:
        problems.append("no ValidatingAdmissionPolicy with a Deny binding: the environment boundary is missing")
    return problems, judged


def check_access(
    platform_releases: Sequence[RenderedRelease],
    apps: Sequence[RenderedRelease],
    *,
    namespaces: Sequence[str],
    other_namespaces: Sequence[str],
    namespace_objects: Mapping[str, Manifest],
) -> CheckResult:
    objects = [*builtin_cluster_roles(), *(doc for r in (*platform_releases, *apps) for doc in r.manifests)]
    problems, counts = access_problems(
        Authorizer(objects), expectations(namespaces, other_namespaces, released_resources(apps))
    )
    rows = [
        [who, purpose, f"{held}/{checked}"]
        for who, (held, checked) in counts.items()
        for purpose in [DEPLOYER.purpose if who.endswith(DEPLOYER.name) else READER.purpose]
    ]
    refused, judged = admission_problems(platform_releases, apps, namespace_objects)
    problems += refused
    rows.append(["environment boundary", "admits what the app releases install", f"{judged - len(refused)}/{judged}"])
    if not counts:
        problems.append("no app environment: nothing to check")
    return CheckResult(
        "access",
        "Environment identities (RBAC evaluated)",
        ["identity", "may", "expectations held"],
        rows,
        problems,
        {"identities": len(counts), "expectations": sum(c for _, c in counts.values())},
    )
