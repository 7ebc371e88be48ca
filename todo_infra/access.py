"""Who may touch an app environment's namespace: one deployer and one reader identity per environment.

The rule (docs/architecture.md, "Environment isolation"): a credential held by a run that no production reviewer
approved can neither read nor change anything of production. The app environments share one cluster, so the
boundary is Kubernetes RBAC: each environment deploys with a ServiceAccount whose Role is confined to its own
namespace, and its plans read with another that cannot read Secrets. Everything cluster-scoped (the namespaces and
their Pod Security labels, PriorityClasses, these identities themselves) belongs to the reviewed platform deploy.

The identities are rendered by the local chart `k8s/environment-access` (installed by the platform stack), token
Secrets included: Kubernetes' token controller fills those in the cluster, so no token value ever passes through
Terraform or its state. The rules below are the one source: the chart renders them, preflight evaluates them and
the tests derive the app chart's kinds from its render.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdktf import ITerraformDependable
from constructs import Construct

from todo_infra.addons import KUBE_PROMETHEUS_STACK
from todo_infra.helm import helm_release, local_chart, values_document
from todo_infra.monitoring import flow_values
from todo_infra.pod_security import namespace_labels
from todo_infra.settings import Environment, Settings

ACCESS_CHART_DIR = Path(__file__).resolve().parent.parent / "k8s" / "environment-access"
#: The Helm release of the chart; its record lives in kube-system, out of every app identity's reach.
ACCESS_RELEASE = "environment-access"
ACCESS_RELEASE_NAMESPACE = "kube-system"
#: The ConfigMap the platform writes into each app namespace with the names the app release must agree with
#: (ingress class, cluster issuer): the app stacks read it there instead of reading the platform's state.
PLATFORM_FACTS = "todo-platform"

#: How the chart's admission policies (k8s/environment-access/templates/boundary.yaml) find an app namespace and its
#: one host: a label and an annotation the platform sets on the namespaces it creates, which no app identity may change.
ENVIRONMENT_LABEL = "todo.hackathon/environment"
HOST_ANNOTATION = "todo.hackathon/host"
#: The monitoring stack's data services no pod of an app namespace may reach, by their pods' `app.kubernetes.io/name`
#: (Loki's and Grafana's charts; prometheus-operator's StatefulSets for Prometheus and Alertmanager, makeSelectorLabels
#: in https://github.com/prometheus-operator/prometheus-operator/blob/main/pkg/alertmanager/statefulset.go).
MONITORING_SERVICES = ("loki", "grafana", "prometheus", "alertmanager")
#: The keys of that ConfigMap.
FACT_INGRESS_CLASS = "ingressClass"
FACT_CLUSTER_ISSUER = "clusterIssuer"

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete")


@dataclass(frozen=True)
class Rule:
    """One RBAC PolicyRule: API group, resources, verbs (no resourceNames: the identities own their namespace)."""

    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]

    def manifest(self) -> dict[str, Any]:
        return {"apiGroups": [self.group], "resources": list(self.resources), "verbs": list(self.verbs)}


#: What the app release (chart/) installs, by API group: Helm creates, upgrades and rolls these back.
RELEASED: Mapping[str, tuple[str, ...]] = {
    "": ("configmaps", "services", "persistentvolumeclaims"),
    "apps": ("deployments",),
    "autoscaling": ("horizontalpodautoscalers",),
    "batch": ("cronjobs",),
    "policy": ("poddisruptionbudgets",),
    "networking.k8s.io": ("ingresses", "networkpolicies"),
    # The Gateway API edge: the app's routes, the grant that lets the platform's Gateway read its TLS Secret, and the
    # Certificate cert-manager keeps in that Secret (chart/templates/gateway/).
    "gateway.networking.k8s.io": ("httproutes", "referencegrants"),
    "cert-manager.io": ("certificates",),
    "monitoring.coreos.com": ("servicemonitors", "podmonitors", "prometheusrules"),
    "dapr.io": ("components", "subscriptions", "configurations"),
}
#: What Helm's --wait and atomic rollback read to judge readiness, and what an operator reads to see why not.
OBSERVED: Mapping[str, tuple[str, ...]] = {
    "": ("pods", "pods/log", "events", "endpoints"),
    "apps": ("replicasets",),
    "batch": ("jobs",),
    "discovery.k8s.io": ("endpointslices",),
}
#: Secrets: the ones the app stack writes (app-secrets, ghcr-pull-secret, redis-backup-spaces, the Dapr app tokens
#: dapr-app-token-<app-id>) and Helm's own release records, which Helm keeps as Secrets of the release's namespace.
SECRETS = Rule("", ("secrets",), (*READ, *WRITE))


def _rules(table: Mapping[str, tuple[str, ...]], verbs: tuple[str, ...]) -> list[Rule]:
    return [Rule(group, resources, verbs) for group, resources in table.items()]


@dataclass(frozen=True)
class Identity:
    """A ServiceAccount of each app namespace, its token Secret and the Role bound to it there."""

    name: str
    purpose: str
    rules: tuple[Rule, ...]

    def token_secret(self, generation: int) -> str:
        """The Secret Kubernetes fills with this identity's token, renamed by each rotation."""
        return f"{self.name}-token-{generation}"

    def subject(self, namespace: str) -> str:
        return f"system:serviceaccount:{namespace}:{self.name}"


DEPLOYER = Identity(
    "todo-deployer",
    "deploys its environment (app stack apply): its own namespace only",
    (*_rules(RELEASED, (*READ, *WRITE)), SECRETS, *_rules(OBSERVED, READ)),
)
READER = Identity(
    "todo-reader",
    "plans its environment (pull requests): reads its own namespace, never a Secret",
    (*_rules(RELEASED, READ), *_rules(OBSERVED, READ)),
)
IDENTITIES = (DEPLOYER, READER)


def chart_values(settings: Settings) -> dict[str, Any]:
    """The environment-access chart's values: every app namespace with its token generation, the identities and
    their rules, and the platform's names each namespace gets."""
    return {
        "environments": [
            {"namespace": env.namespace, "tokenGeneration": env.token_generation} for env in settings.environments
        ],
        "identities": [
            {"name": identity.name, "purpose": identity.purpose, "rules": [r.manifest() for r in identity.rules]}
            for identity in IDENTITIES
        ],
        "identityNames": [identity.name for identity in IDENTITIES],
        "platformFacts": {
            "name": PLATFORM_FACTS,
            "data": {FACT_INGRESS_CLASS: settings.ingress_class, FACT_CLUSTER_ISSUER: settings.cluster_issuer},
        },
        "boundary": {
            "environmentLabel": ENVIRONMENT_LABEL,
            "hostAnnotation": HOST_ANNOTATION,
            "monitoring": {
                "namespace": KUBE_PROMETHEUS_STACK.namespace,
                "services": list(MONITORING_SERVICES),
                "servers": flow_values(),
            },
        },
    }


def namespace_metadata(env: Environment, kubernetes_minor_prefix: str) -> tuple[dict[str, str], dict[str, str]]:
    """Labels and annotations of an app namespace: Pod Security "restricted", and what the admission policies read."""
    return (
        {**namespace_labels(kubernetes_minor_prefix), ENVIRONMENT_LABEL: env.name},
        {HOST_ANNOTATION: env.host},
    )


class EnvironmentAccess(Construct):
    """The platform's release of k8s/environment-access: per app namespace, the deployer and the reader."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        settings: Settings,
        depends_on: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        self.release = helm_release(
            self,
            name=ACCESS_RELEASE,
            chart=local_chart(self, ACCESS_CHART_DIR),
            namespace=ACCESS_RELEASE_NAMESPACE,
            values=[values_document(chart_values(settings))],
            timeout=120,
            depends_on=depends_on,
        )
