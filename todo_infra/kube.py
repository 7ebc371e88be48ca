"""Cluster access for stacks that talk to Kubernetes, looked up by name on every run.

No stack keeps a kubeconfig: the cluster is read with the `digitalocean_kubernetes_cluster` data source on every
plan and apply, and both providers are configured from it. The data source's result is stored in state, token
included, so the token is asked for with a one-hour lifetime (DigitalOcean's default is 7 days): a state file
read later holds only an expired token. A deploy job is stopped after 45 minutes, inside that hour.
"""

from __future__ import annotations

from cdktf import Fn
from cdktf_cdktf_provider_digitalocean.data_digitalocean_kubernetes_cluster import (
    DataDigitaloceanKubernetesCluster,
)
from cdktf_cdktf_provider_digitalocean.provider import DigitaloceanProvider
from cdktf_cdktf_provider_helm.provider import HelmProvider, HelmProviderKubernetes
from cdktf_cdktf_provider_kubernetes.provider import KubernetesProvider
from constructs import Construct

#: Lifetime of the cluster token each run obtains (and that state keeps): one hour.
TOKEN_LIFETIME_SECONDS = 3600


class KubeAccess(Construct):
    """DigitalOcean, Kubernetes and Helm providers for the cluster called `cluster_name`."""

    def __init__(self, scope: Construct, id_: str, *, cluster_name: str) -> None:
        super().__init__(scope, id_)
        DigitaloceanProvider(self, "digitalocean")  # token from DIGITALOCEAN_TOKEN
        self.cluster = DataDigitaloceanKubernetesCluster(
            self, "cluster", name=cluster_name, kubeconfig_expire_seconds=TOKEN_LIFETIME_SECONDS
        )
        kube_config = self.cluster.kube_config.get(0)
        host = self.cluster.endpoint
        token = kube_config.token
        ca_certificate = Fn.base64decode(kube_config.cluster_ca_certificate)
        KubernetesProvider(self, "kubernetes", host=host, token=token, cluster_ca_certificate=ca_certificate)
        HelmProvider(
            self,
            "helm",
            kubernetes=HelmProviderKubernetes(host=host, token=token, cluster_ca_certificate=ca_certificate),
        )
