"""The local `k8s/cluster-bootstrap` chart: ClusterIssuer and Dapr Configuration (DESIGN §3).

Custom resources go through Helm, not `kubernetes_manifest`, because their CRDs are installed by
cert-manager and Dapr in the same apply and `kubernetes_manifest` needs CRDs at plan time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cdktf import AssetType, Fn, ITerraformDependable, TerraformAsset
from cdktf_cdktf_provider_helm.release import Release
from constructs import Construct

BOOTSTRAP_CHART_DIR = Path(__file__).resolve().parent.parent / "k8s" / "cluster-bootstrap"


class ClusterBootstrap(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        namespace: str,
        values: Mapping[str, object],
        depends_on: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        chart = TerraformAsset(self, "chart", path=str(BOOTSTRAP_CHART_DIR), type=AssetType.DIRECTORY)
        self.release = Release(
            self,
            "release",
            name="cluster-bootstrap",
            chart=chart.path,
            namespace=namespace,
            values=[Fn.yamlencode(dict(values))],
            atomic=True,
            cleanup_on_fail=True,
            wait=True,
            timeout=300,
            max_history=10,
            depends_on=list(depends_on),
        )
