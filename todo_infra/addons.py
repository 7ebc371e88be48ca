"""Pinned third-party Helm releases of the platform (DESIGN §6), one table row each.

Static values live in `k8s/addons/<release>.yaml` (read at synth time, so a diff shows every change);
values that depend on settings or Terraform expressions are passed as a second YAML document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdktf import ITerraformDependable
from constructs import Construct

from todo_infra.helm import helm_release, values_document

ADDON_VALUES_DIR = Path(__file__).resolve().parent.parent / "k8s" / "addons"


@dataclass(frozen=True, kw_only=True)
class Addon:
    release: str
    chart: str
    repository: str
    version: str
    namespace: str
    timeout: int = 600


INGRESS_NGINX = Addon(
    release="ingress-nginx",
    chart="ingress-nginx",
    repository="https://kubernetes.github.io/ingress-nginx",
    version="4.15.1",
    namespace="ingress-nginx",
)
CERT_MANAGER = Addon(
    release="cert-manager",
    chart="cert-manager",
    repository="https://charts.jetstack.io",
    version="v1.21.2",
    namespace="cert-manager",
)
DAPR = Addon(
    release="dapr",
    chart="dapr",
    repository="https://dapr.github.io/helm-charts",
    version="1.18.7",
    namespace="dapr-system",
)
KUBE_PROMETHEUS_STACK = Addon(
    release="kube-prometheus-stack",
    chart="kube-prometheus-stack",
    repository="https://prometheus-community.github.io/helm-charts",
    version="88.5.3",
    namespace="monitoring",
    timeout=900,
)
LOKI = Addon(
    release="loki",
    chart="loki",
    repository="https://grafana-community.github.io/helm-charts",
    version="18.11.0",
    namespace="monitoring",
)
PROMTAIL = Addon(
    release="promtail",
    chart="promtail",
    repository="https://grafana.github.io/helm-charts",
    version="6.17.1",
    namespace="monitoring",
)

# DOKS does not ship metrics-server (DigitalOcean offers it as a Marketplace 1-Click); the HPAs need its
# metrics.k8s.io API.
METRICS_SERVER = Addon(
    release="metrics-server",
    chart="metrics-server",
    repository="https://kubernetes-sigs.github.io/metrics-server/",
    version="3.14.0",
    namespace="kube-system",
)

ADDONS: tuple[Addon, ...] = (
    INGRESS_NGINX,
    CERT_MANAGER,
    DAPR,
    KUBE_PROMETHEUS_STACK,
    LOKI,
    PROMTAIL,
    METRICS_SERVER,
)
#: Namespaces every cluster has; the platform stack creates the others.
PREEXISTING_NAMESPACES = ("kube-system",)


def addon_values(addon: Addon) -> str:
    """The committed static values of one add-on."""
    return (ADDON_VALUES_DIR / f"{addon.release}.yaml").read_text()


class AddonRelease(Construct):
    """One pinned `helm_release` into its namespace; waits, and rolls back atomically on failure."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        addon: Addon,
        extra_values: Mapping[str, Any] | None = None,
        depends_on: Sequence[ITerraformDependable] = (),
    ) -> None:
        super().__init__(scope, id_)
        values = [addon_values(addon)]
        if extra_values:
            values.append(values_document(extra_values))
        self.release = helm_release(
            self,
            name=addon.release,
            chart=addon.chart,
            repository=addon.repository,
            version=addon.version,
            namespace=addon.namespace,
            values=values,
            timeout=addon.timeout,
            depends_on=depends_on,
        )
