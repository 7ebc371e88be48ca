"""What the platform's Grafana provisions, read from kube-prometheus-stack's values: the label and folder annotation
its dashboard sidecar looks for, and the datasources it creates, by uid (docs/architecture.md, "Dashboards").

kube-prometheus-stack 88.5.3 renders the Prometheus datasource with `uid: <grafana.sidecar.datasources.uid>` and
appends `grafana.additionalDataSources` as written (templates/grafana/configmaps-datasources.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from todo_infra import yamlload
from todo_infra.addons import KUBE_PROMETHEUS_STACK, addon_values

PROMETHEUS_TYPE = "prometheus"
LOKI_TYPE = "loki"


@dataclass(frozen=True)
class Datasource:
    name: str
    type: str
    uid: str


@dataclass(frozen=True)
class Provisioning:
    """The Grafana side of a dashboard ConfigMap, and the datasources a dashboard may reference."""

    dashboard_label: str
    dashboard_label_value: str
    folder_annotation: str
    datasources: tuple[Datasource, ...]

    def datasource(self, type_: str) -> Datasource:
        """The one provisioned datasource of a type."""
        (found,) = [source for source in self.datasources if source.type == type_]
        return found


def provisioning(values: Mapping[str, Any]) -> Provisioning:
    """What a kube-prometheus-stack values document (ours: k8s/addons/kube-prometheus-stack.yaml) provisions."""
    grafana = values["grafana"]
    sidecar = grafana["sidecar"]
    prometheus = sidecar["datasources"]
    sources = [Datasource(prometheus.get("name", "Prometheus"), PROMETHEUS_TYPE, prometheus["uid"])]
    sources += [Datasource(extra["name"], extra["type"], extra["uid"]) for extra in grafana["additionalDataSources"]]
    dashboards = sidecar["dashboards"]
    return Provisioning(
        dashboard_label=dashboards["label"],
        dashboard_label_value=str(dashboards["labelValue"]),
        folder_annotation=dashboards["folderAnnotation"],
        datasources=tuple(sources),
    )


def platform_provisioning() -> Provisioning:
    """What the platform's Grafana provisions: the committed kube-prometheus-stack values."""
    return provisioning(yamlload.load(addon_values(KUBE_PROMETHEUS_STACK)))
