from __future__ import annotations

from cdktf import TerraformStack
from cdktf_cdktf_provider_digitalocean.provider import DigitaloceanProvider
from constructs import Construct

from todo_infra.cluster import DoksCluster
from todo_infra.contracts import CLUSTER_ID, CLUSTER_NAME, CLUSTER_REGION, VPC_ID
from todo_infra.settings import Settings
from todo_infra.state import publish, state_backend


class ClusterStack(TerraformStack):
    """The VPC and DOKS cluster. Outputs names and ids only — never a kubeconfig, token or certificate."""

    def __init__(self, scope: Construct, id_: str, *, settings: Settings) -> None:
        super().__init__(scope, id_)
        state_backend(self, settings.state)
        DigitaloceanProvider(self, "digitalocean")  # token from DIGITALOCEAN_TOKEN
        doks = DoksCluster(self, "doks", cluster=settings.cluster, tags=[settings.project])

        publish(self, CLUSTER_NAME, doks.cluster.name)
        publish(self, CLUSTER_ID, doks.cluster.id)
        publish(self, CLUSTER_REGION, doks.cluster.region)
        publish(self, VPC_ID, doks.vpc.id)
