"""The app's Grafana dashboards, as code (docs/architecture.md, "Dashboards"): built with grafana-foundation-sdk's
typed builders and provisioned as ConfigMaps that the dashboard sidecar of kube-prometheus-stack's Grafana loads,
into a Grafana folder of their own.

The dashboards are the classic JSON model, which Grafana's file provisioning reads as it is (Grafana 13 migrates it to
its v2 schema when it loads it; the v2 schema itself needs feature toggles:
https://grafana.com/docs/grafana/latest/observability-as-code/schema-v2/).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_kubernetes.config_map_v1 import ConfigMapV1, ConfigMapV1Metadata
from constructs import Construct
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from todo_infra.chart_values import base_values
from todo_infra.contracts import APP_RELEASE
from todo_infra.dashboards import capacity, dapr, overview
from todo_infra.dashboards.grafana import platform_provisioning
from todo_infra.dashboards.inputs import Inputs
from todo_infra.settings import Settings

#: The Grafana folder the dashboards land in.
FOLDER = APP_RELEASE
BUILDERS = (overview.build, dapr.build, capacity.build)


@dataclass(frozen=True)
class Built:
    """One dashboard: its model and the JSON Grafana reads."""

    model: Dashboard

    @property
    def uid(self) -> str:
        assert self.model.uid is not None
        return self.model.uid

    @property
    def json(self) -> str:
        return encode(self.model)


def encode(model: Dashboard) -> str:
    return json.dumps(model, cls=JSONEncoder, sort_keys=True, separators=(",", ":"))


def terraform_literal(text: str) -> str:
    """`text` as a Terraform string that evaluates to exactly `text`: Grafana's `${variable}` and `%{...}` would
    otherwise be Terraform template sequences (https://developer.hashicorp.com/terraform/language/expressions/strings)."""
    return text.replace("${", "$${").replace("%{", "%%{")


def terraform_value(literal: str) -> str:
    """What Terraform makes of a `terraform_literal`: the text Grafana reads."""
    return literal.replace("$${", "${").replace("%%{", "%{")


def inputs(settings: Settings, chart: Mapping[str, Any] | None = None) -> Inputs:
    return Inputs(
        namespaces=tuple(env.namespace for env in settings.environments),
        node_min=settings.cluster.node_min,
        node_max=settings.cluster.node_max,
        chart=base_values() if chart is None else chart,
        grafana=platform_provisioning(),
    )


def build_all(given: Inputs) -> tuple[Built, ...]:
    return tuple(Built(build(given)) for build in BUILDERS)


def configmap_name(uid: str) -> str:
    return f"grafana-dashboard-{uid}"


class Dashboards(Construct):
    """One ConfigMap per dashboard in the monitoring namespace, labelled for Grafana's dashboard sidecar."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        settings: Settings,
        namespace: str,
    ) -> None:
        super().__init__(scope, id_)
        grafana = platform_provisioning()
        for built in build_all(inputs(settings)):
            ConfigMapV1(
                self,
                built.uid,
                metadata=ConfigMapV1Metadata(
                    name=configmap_name(built.uid),
                    namespace=namespace,
                    labels={grafana.dashboard_label: grafana.dashboard_label_value},
                    annotations={grafana.folder_annotation: FOLDER},
                ),
                data={f"{built.uid}.json": terraform_literal(built.json)},
            )
