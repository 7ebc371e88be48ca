"""Cluster access, two ways: the platform's cluster-wide lookup, and an app environment's namespaced identity.

`KubeAccess` (platform stack, reviewed deploys only): the cluster is read with the `digitalocean_kubernetes_cluster`
data source on every plan and apply, and both providers are configured from it. DigitalOcean issues that token by
the token owner's role (cluster-admin for its predefined roles), and the data source's result is stored in state,
token included, so the token is asked for with a one-hour lifetime (DigitalOcean's default is 7 days): a state file
read later holds only an expired token. A deploy job is stopped after 45 minutes, inside that hour.

`EnvironmentKubeAccess` (app stacks): no DigitalOcean provider and no state of another stack (the cluster's and the
platform's state objects hold that one-hour cluster-admin token). The providers take the cluster's endpoint and CA
certificate (public facts) and the environment's ServiceAccount token (todo_infra/access.py) from three variables,
fed by the GitHub environment's KUBE_* secrets; the token variable is ephemeral, so it never reaches state or a plan
file (docs/architecture.md, "Environment isolation").
"""

from __future__ import annotations

import json

from cdktf import Fn, TerraformVariable
from cdktf_cdktf_provider_digitalocean.data_digitalocean_kubernetes_cluster import (
    DataDigitaloceanKubernetesCluster,
)
from cdktf_cdktf_provider_digitalocean.provider import DigitaloceanProvider
from cdktf_cdktf_provider_helm.provider import HelmProvider, HelmProviderKubernetes
from cdktf_cdktf_provider_kubernetes.provider import KubernetesProvider
from constructs import Construct

from todo_infra.secrets import secret_variable

#: Lifetime of the cluster token each platform run obtains (and that state keeps): one hour.
TOKEN_LIFETIME_SECONDS = 3600
#: The app stacks' access variables (TF_VAR_<name>, from the GitHub environment's KUBE_* secrets).
ENDPOINT_VARIABLE = "kube_endpoint"
CA_VARIABLE = "kube_ca_certificate"
TOKEN_VARIABLE = "kube_token"


def _providers(scope: Construct, *, host: str, token: str, ca_certificate: str) -> None:
    KubernetesProvider(scope, "kubernetes", host=host, token=token, cluster_ca_certificate=ca_certificate)
    HelmProvider(
        scope,
        "helm",
        kubernetes=HelmProviderKubernetes(host=host, token=token, cluster_ca_certificate=ca_certificate),
    )


class KubeAccess(Construct):
    """DigitalOcean, Kubernetes and Helm providers for the cluster called `cluster_name` (platform stack)."""

    def __init__(self, scope: Construct, id_: str, *, cluster_name: str) -> None:
        super().__init__(scope, id_)
        DigitaloceanProvider(self, "digitalocean")  # token from DIGITALOCEAN_TOKEN
        self.cluster = DataDigitaloceanKubernetesCluster(
            self, "cluster", name=cluster_name, kubeconfig_expire_seconds=TOKEN_LIFETIME_SECONDS
        )
        kube_config = self.cluster.kube_config.get(0)
        _providers(
            self,
            host=self.cluster.endpoint,
            token=kube_config.token,
            ca_certificate=Fn.base64decode(kube_config.cluster_ca_certificate),
        )


def _public_variable(scope: Construct, name: str, description: str, *, pattern: str, allowed: str) -> str:
    variable = TerraformVariable(scope, name, type="string", nullable=False, description=description)
    variable.override_logical_id(name)
    variable.add_validation(condition=f"${{can(regex({json.dumps(pattern)}, var.{name}))}}", error_message=allowed)
    return variable.string_value


class EnvironmentKubeAccess(Construct):
    """Kubernetes and Helm providers as the environment's deployer (or, in a plan, its reader)."""

    def __init__(self, scope: Construct, id_: str) -> None:
        super().__init__(scope, id_)
        host = _public_variable(
            scope,
            ENDPOINT_VARIABLE,
            "https URL of the cluster's API server (GitHub environment secret KUBE_ENDPOINT)",
            pattern="^https://[^/[:space:]]+/?$",
            allowed=f"{ENDPOINT_VARIABLE} must be the https URL of the cluster API (KUBE_ENDPOINT).",
        )
        ca_certificate = _public_variable(
            scope,
            CA_VARIABLE,
            "PEM of the cluster's CA certificate (GitHub environment secret KUBE_CA_CERTIFICATE)",
            pattern="^-----BEGIN CERTIFICATE-----",
            allowed=f"{CA_VARIABLE} must be a PEM certificate (KUBE_CA_CERTIFICATE: the token Secret's ca.crt).",
        )
        token = secret_variable(
            scope,
            TOKEN_VARIABLE,
            "Bearer token of the environment's ServiceAccount (GitHub environment secret KUBE_TOKEN)",
        )
        _providers(self, host=host, token=token, ca_certificate=ca_certificate)
