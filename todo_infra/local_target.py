"""The `local` target: the platform and app stacks against any kubeconfig context (kind, k3d, minikube, Docker
Desktop) instead of DOKS (docs/architecture.md, "Local target"). Standard library only: settings import it before
jsii loads.

`TODO_TARGET=local` (context `target`) keeps every setting and its validation, and changes only what a laptop cluster
cannot have: no cluster stack and no DigitalOcean provider (the kubeconfig's context is the cluster), local Terraform
state in files of its own (`terraform.local.<stack>.tfstate`, never the cloud's), one environment (staging unless
TODO_ENVIRONMENTS names the other), hosts under `localhost`, a cert-manager CA ClusterIssuer instead of Let's
Encrypt, the cluster's default storage class, no load balancer, and the add-ons slimmed by
`k8s/addons/local/<release>.yaml` overlays (todo_infra/local_stacks.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from todo_infra.settings import Settings

#: The targets a configuration can build: DigitalOcean (the default), or an existing local cluster.
TARGETS = ("doks", "local")
LOCAL = "local"
#: The kubeconfig context and file the local target's providers use (kind names its context kind-<cluster name>).
DEFAULT_KUBE_CONTEXT = "kind-hackathon-todo"
DEFAULT_KUBECONFIG = "~/.kube/config"
#: RFC 6761: *.localhost resolves to the loopback address (curl and browsers resolve it without DNS).
LOCAL_DOMAIN = "localhost"
#: The one environment a laptop runs when TODO_ENVIRONMENTS names none.
LOCAL_ENVIRONMENT = "staging"
#: The ClusterIssuer of the local target: a CA of cert-manager's own (a self-signed root), no ACME.
LOCAL_CLUSTER_ISSUER = "local-ca"
#: The chart's values file layered over values-<env>.yaml on the local target (stand-in images, default storage).
LOCAL_VALUES = "values-local.yaml"
#: Local state files: terraform.local.<stack>.tfstate, apart from the cloud's terraform.<stack>.tfstate.
LOCAL_STATE_PREFIX = "terraform.local"

#: A kubeconfig context name: kind-x, k3d-x, minikube, docker-desktop, user@cluster, arn:aws:eks:...:cluster/x.
_CONTEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,252}$")
_KUBECONFIG = re.compile(r"^(~/|/)[A-Za-z0-9._/-]+$")


@dataclass(frozen=True, kw_only=True)
class LocalTarget:
    """Where the local target's Kubernetes and Helm providers connect: a kubeconfig file and one of its contexts.
    Only the names are in the stacks: the credentials stay in the kubeconfig, never in state."""

    kube_context: str
    kubeconfig: str


def _field(raw: Mapping[str, Any], field: str, default: str, pattern: re.Pattern[str], allowed: str) -> str:
    from todo_infra.settings import ConfigError  # noqa: PLC0415  (settings imports this module)

    value = raw.get(field, default)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(field, value, allowed)
    return value


def target_of(raw: Mapping[str, Any]) -> str:
    from todo_infra.settings import ConfigError  # noqa: PLC0415

    value = raw.get("target", TARGETS[0])
    if not isinstance(value, str) or value not in TARGETS:
        raise ConfigError("target", value, "one of " + ", ".join(TARGETS))
    return value


def apply_target(raw: Mapping[str, Any], settings: Settings) -> Settings:
    """The settings for the configured target: unchanged for doks; for local, the changes the module names.
    The local-only settings (kube_context, kubeconfig) are validated on every target."""
    from todo_infra.settings import ConfigError  # noqa: PLC0415

    local = LocalTarget(
        kube_context=_field(
            raw, "kube_context", DEFAULT_KUBE_CONTEXT, _CONTEXT, "a kubeconfig context name such as kind-hackathon-todo"
        ),
        kubeconfig=_field(
            raw, "kubeconfig", DEFAULT_KUBECONFIG, _KUBECONFIG, "an absolute or ~/ path such as ~/.kube/config"
        ),
    )
    if target_of(raw) != LOCAL:
        return settings
    if settings.dns_on_digitalocean:
        raise ConfigError("dns_on_digitalocean", True, "false on the local target (it has no DNS records)")
    chosen = settings.environments
    if raw.get("environments_selected") is None:
        chosen = tuple(env for env in settings.environments if env.name == LOCAL_ENVIRONMENT)
    if len(chosen) != 1:
        names = ",".join(env.name for env in chosen) or None
        raise ConfigError("TODO_ENVIRONMENTS", names, "exactly one environment on the local target (a laptop runs one)")
    return replace(
        settings,
        domain=LOCAL_DOMAIN,
        environments=tuple(replace(env, domain=LOCAL_DOMAIN, overlays=(LOCAL_VALUES,)) for env in chosen),
        state=replace(settings.state, backend="local", local_prefix=LOCAL_STATE_PREFIX),
        cluster_issuer=LOCAL_CLUSTER_ISSUER,
        local=local,
    )


def cluster_issuer_values(settings: Settings, *, ca_namespace: str) -> dict[str, str]:
    """The cluster-bootstrap chart's `clusterIssuer`: ACME (Let's Encrypt, HTTP-01) on DOKS, a CA on the local
    target (cert-manager signs with a self-signed root it keeps in a Secret of `ca_namespace`, its own)."""
    values = {"name": settings.cluster_issuer, "email": settings.operator_email, "ingressClass": settings.ingress_class}
    if settings.local is not None:
        values.update(type="ca", caNamespace=ca_namespace)
    return values
