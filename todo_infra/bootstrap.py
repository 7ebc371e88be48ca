"""The local `k8s/cluster-bootstrap` chart: ClusterIssuer and Dapr Configuration
(docs/architecture.md, "Platform add-ons").

Custom resources go through Helm, not `kubernetes_manifest`, because their CRDs are installed by
cert-manager and Dapr in the same apply and `kubernetes_manifest` needs CRDs at plan time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cdktf import ITerraformDependable
from constructs import Construct

from todo_infra.helm import helm_release, local_chart, values_document

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
        self.release = helm_release(
            self,
            name="cluster-bootstrap",
            chart=local_chart(self, BOOTSTRAP_CHART_DIR),
            namespace=namespace,
            values=[values_document(values)],
            timeout=300,
            depends_on=depends_on,
        )
