"""The DOKS cluster and its VPC; its node pool autoscales node_min–node_max nodes of node_size (node_sizes.json)."""

from __future__ import annotations

from cdktf import Fn, Postcondition, TerraformResourceLifecycle, TerraformStack
from cdktf_cdktf_provider_digitalocean.data_digitalocean_kubernetes_versions import (
    DataDigitaloceanKubernetesVersions,
)
from cdktf_cdktf_provider_digitalocean.kubernetes_cluster import (
    KubernetesCluster,
    KubernetesClusterControlPlaneFirewall,
    KubernetesClusterMaintenancePolicy,
    KubernetesClusterNodePool,
)
from cdktf_cdktf_provider_digitalocean.vpc import Vpc
from constructs import Construct

from todo_infra.kube import TOKEN_LIFETIME_SECONDS
from todo_infra.protection import protect
from todo_infra.settings import ClusterSettings


class DoksCluster(Construct):
    """A private-network DOKS cluster that patches itself inside a weekly window.

    The Kubernetes version comes from the versions data source with a pinned minor prefix, so a plan never
    jumps a minor version; auto-upgrade then applies patch releases in the maintenance window.
    """

    def __init__(self, scope: Construct, id_: str, *, cluster: ClusterSettings, tags: list[str]) -> None:
        super().__init__(scope, id_)
        self.vpc = Vpc(self, "vpc", name=f"{cluster.name}-vpc", region=cluster.region, ip_range=cluster.vpc_ip_range)
        minor = cluster.kubernetes_minor_prefix
        versions = DataDigitaloceanKubernetesVersions(
            self,
            "versions",
            version_prefix=minor,
            lifecycle=TerraformResourceLifecycle(
                postcondition=[
                    Postcondition(
                        condition="${length(self.valid_versions) > 0}",
                        error_message=(
                            f"DigitalOcean offers no Kubernetes {minor}x any more: move kubernetes_minor_prefix to the "
                            "next minor (docs/runbooks/deploy.md, Upgrade Kubernetes to a new minor version)."
                        ),
                    )
                ]
            ),
        )
        self.cluster = KubernetesCluster(
            self,
            "cluster",
            name=cluster.name,
            region=cluster.region,
            version=versions.latest_version,
            vpc_uuid=self.vpc.id,
            ha=cluster.ha_control_plane,
            # Off by default: GitHub-hosted runners have no fixed addresses
            # (docs/architecture.md, "Environment isolation").
            control_plane_firewall=KubernetesClusterControlPlaneFirewall(
                enabled=True, allowed_addresses=list(cluster.control_plane_allowed_addresses)
            )
            if cluster.control_plane_allowed_addresses
            else None,
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
        protect(self.vpc, self.cluster)
        # ignore_changes hides the version from plans; this check shows, on every plan, a cluster whose minor is no
        # longer the pinned one (DigitalOcean force-upgrades a minor after its end of support).
        TerraformStack.of(self).add_override(
            "check.kubernetes_minor.assert",
            [
                {
                    "condition": Fn.startswith(self.cluster.version, minor),
                    "error_message": (
                        f"The cluster does not run Kubernetes {minor}x any more (DigitalOcean upgraded it): set "
                        "kubernetes_minor_prefix to its minor and follow docs/runbooks/deploy.md."
                    ),
                }
            ],
        )
