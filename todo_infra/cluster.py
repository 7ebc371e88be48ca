"""The DOKS cluster and its VPC (seed: node pool s-2vcpu-4gb × 3–5)."""

from __future__ import annotations

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_digitalocean.data_digitalocean_kubernetes_versions import (
    DataDigitaloceanKubernetesVersions,
)
from cdktf_cdktf_provider_digitalocean.kubernetes_cluster import (
    KubernetesCluster,
    KubernetesClusterMaintenancePolicy,
    KubernetesClusterNodePool,
)
from cdktf_cdktf_provider_digitalocean.vpc import Vpc
from constructs import Construct

from todo_infra.kube import TOKEN_LIFETIME_SECONDS
from todo_infra.settings import ClusterSettings


class DoksCluster(Construct):
    """A private-network DOKS cluster that patches itself inside a weekly window.

    The Kubernetes version comes from the versions data source with a pinned minor prefix, so a plan never
    jumps a minor version; auto-upgrade then applies patch releases in the maintenance window.
    """

    def __init__(self, scope: Construct, id_: str, *, cluster: ClusterSettings, tags: list[str]) -> None:
        super().__init__(scope, id_)
        self.vpc = Vpc(self, "vpc", name=f"{cluster.name}-vpc", region=cluster.region, ip_range=cluster.vpc_ip_range)
        versions = DataDigitaloceanKubernetesVersions(self, "versions", version_prefix=cluster.kubernetes_minor_prefix)
        self.cluster = KubernetesCluster(
            self,
            "cluster",
            name=cluster.name,
            region=cluster.region,
            version=versions.latest_version,
            vpc_uuid=self.vpc.id,
            ha=cluster.ha_control_plane,
            auto_upgrade=True,
            surge_upgrade=True,
            maintenance_policy=KubernetesClusterMaintenancePolicy(
                day=cluster.maintenance_day, start_time=cluster.maintenance_start_time
            ),
            node_pool=KubernetesClusterNodePool(
                name=f"{cluster.name}-default",
                size=cluster.node_size,
                auto_scale=True,
                min_nodes=cluster.node_min,
                max_nodes=cluster.node_max,
                tags=tags,
            ),
            tags=tags,
            # The resource stores a kubeconfig in state as well: its token expires within the hour too.
            kubeconfig_expire_seconds=TOKEN_LIFETIME_SECONDS,
            # Auto-upgrade moves the version inside the maintenance window; without this, any apply after a
            # new patch release would upgrade immediately (or fight the upgrade). Minor upgrades: runbook.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["version"]),
        )
