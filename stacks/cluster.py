from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from cdktf_cdktf_provider_digitalocean.provider import DigitaloceanProvider
from constructs import Construct

from todo_infra.cluster import DoksCluster
from todo_infra.settings import Settings
from todo_infra.state import state_backend


class ClusterStack(TerraformStack):
    """The VPC and DOKS cluster. Outputs names and ids only — never a kubeconfig, token or certificate."""

    def __init__(self, scope: Construct, id_: str, *, settings: Settings) -> None:
        super().__init__(scope, id_)
        state_backend(self, settings.state)
        DigitaloceanProvider(self, "digitalocean")  # token from DIGITALOCEAN_TOKEN
        doks = DoksCluster(self, "doks", cluster=settings.cluster, tags=[settings.project])

        TerraformOutput(self, "cluster_name", value=doks.cluster.name, static_id=True)
        TerraformOutput(self, "cluster_id", value=doks.cluster.id, static_id=True)
        TerraformOutput(self, "region", value=doks.cluster.region, static_id=True)
        TerraformOutput(self, "vpc_id", value=doks.vpc.id, static_id=True)
