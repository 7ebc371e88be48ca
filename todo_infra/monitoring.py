"""Secrets of the monitoring add-ons: Grafana's admin login and the whole Alertmanager configuration.

Both are written through write-only arguments (todo_infra/secrets.py). The Alertmanager configuration holds the
Slack webhook, so it is a Secret too: Terraform renders `k8s/addons/alertmanager.yaml.tftpl` with the webhook
into `alertmanager-config`, which kube-prometheus-stack's Alertmanager reads instead of a configuration of its own
(`alertmanagerSpec.useExistingSecret` / `configSecret`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdktf import AssetType, Fn, TerraformAsset
from constructs import Construct

from todo_infra.secrets import secret_variable, write_only_secret

GRAFANA_ADMIN_SECRET = "grafana-admin"
GRAFANA_USER_KEY = "admin-user"
GRAFANA_PASSWORD_KEY = "admin-password"
ALERTMANAGER_CONFIG_SECRET = "alertmanager-config"
#: The key the Prometheus Operator reads the configuration from.
ALERTMANAGER_CONFIG_KEY = "alertmanager.yaml"
WEBHOOK_VARIABLE = "alertmanager_slack_webhook_url"
#: Terraform's refusal of a production deploy without an alert receiver (one line).
RECEIVER_REQUIRED = (
    "production's alerts need a receiver: set TF_VAR_alertmanager_slack_webhook_url (GitHub secret "
    'ALERTMANAGER_SLACK_WEBHOOK_URL) to a Slack incoming-webhook https:// URL, or set alerting to "none" '
    "(cdktf.json or TODO_CONTEXT_JSON) to deploy production without alerting on purpose"
)
ALERTMANAGER_TEMPLATE = Path(__file__).resolve().parent.parent / "k8s" / "addons" / "alertmanager.yaml.tftpl"


class MonitoringSecrets(Construct):
    """Grafana never starts with a chart-default password; critical and warning alerts go to Slack when a webhook
    is set, to the `null` receiver otherwise."""

    def __init__(self, scope: Construct, id_: str, *, namespace: str, require_receiver: bool) -> None:
        super().__init__(scope, id_)
        password = secret_variable(self, "grafana_admin_password", "Grafana admin password")
        if require_receiver:
            # Production is deployed and alerting is not explicitly "none": its alerts must reach someone.
            webhook = secret_variable(
                self,
                WEBHOOK_VARIABLE,
                "Slack incoming-webhook URL for critical and warning alerts (required: production is deployed)",
                validation=(f'${{startswith(var.{WEBHOOK_VARIABLE}, "https://")}}', RECEIVER_REQUIRED),
            )
        else:
            webhook = secret_variable(
                self,
                WEBHOOK_VARIABLE,
                "Slack incoming-webhook URL for critical and warning alerts; empty routes them to the null receiver",
                default="",
            )
        self.grafana = write_only_secret(
            self,
            "grafana-admin",
            name=GRAFANA_ADMIN_SECRET,
            namespace=namespace,
            data={GRAFANA_USER_KEY: "admin", GRAFANA_PASSWORD_KEY: password},
        )
        template = TerraformAsset(self, "alertmanager-template", path=str(ALERTMANAGER_TEMPLATE), type=AssetType.FILE)
        self.alertmanager = write_only_secret(
            self,
            "alertmanager-config",
            name=ALERTMANAGER_CONFIG_SECRET,
            namespace=namespace,
            data={ALERTMANAGER_CONFIG_KEY: Fn.templatefile(template.path, {"slack_webhook_url": webhook})},
        )

    @staticmethod
    def chart_values() -> dict[str, Any]:
        """kube-prometheus-stack values that point Grafana and Alertmanager at these Secrets."""
        return {
            "grafana": {
                "admin": {
                    "existingSecret": GRAFANA_ADMIN_SECRET,
                    "userKey": GRAFANA_USER_KEY,
                    "passwordKey": GRAFANA_PASSWORD_KEY,
                }
            },
            "alertmanager": {
                "alertmanagerSpec": {"useExistingSecret": True, "configSecret": ALERTMANAGER_CONFIG_SECRET}
            },
        }


@dataclass(frozen=True)
class Flow:
    """One connection the monitoring namespace must accept: from its pods named `client` (app.kubernetes.io/name;
    None: any source, for the API server, whose address no NetworkPolicy can name) to its pods named `server`."""

    client: str | None
    server: str
    ports: tuple[int, ...]
    why: str


#: The operator's pods (kube-prometheus-stack 88.5.3 names them `<release>-prometheus-operator`).
OPERATOR = "kube-prometheus-stack-prometheus-operator"
#: Every connection into the monitoring namespace that the platform needs; the namespace accepts nothing else
#: (docs/architecture.md, "Environment isolation"). Ports are the containers' (rendered from the pinned charts;
#: Prometheus' and Alertmanager's from prometheus-operator). The node's own traffic (kubelet probes,
#: `kubectl port-forward`) is always admitted; node-exporter runs in the host's network, where no NetworkPolicy
#: applies; Prometheus' scrapes of other namespaces leave this namespace (egress is not restricted here).
MONITORING_FLOWS: tuple[Flow, ...] = (
    Flow("prometheus", "prometheus", (9090, 8080), "Prometheus scrapes itself and its config reloader"),
    Flow("grafana", "prometheus", (9090,), "Grafana's Prometheus datasource"),
    Flow("prometheus", "alertmanager", (9093, 8080), "Prometheus sends alerts; scrapes Alertmanager and its reloader"),
    Flow("grafana", "alertmanager", (9093,), "Grafana's Alertmanager datasource"),
    Flow("prometheus", "grafana", (3000,), "Prometheus scrapes Grafana"),
    Flow("prometheus", "kube-state-metrics", (8080,), "Prometheus scrapes kube-state-metrics"),
    Flow("prometheus", OPERATOR, (10250,), "Prometheus scrapes the operator"),
    Flow(None, OPERATOR, (10250,), "the API server calls the operator's admission webhook (PrometheusRules)"),
    Flow("alloy", "loki", (3100,), "Alloy pushes logs"),
    Flow("promtail", "loki", (3100,), "Promtail pushes logs (when it is the selected shipper)"),
    Flow("grafana", "loki", (3100,), "Grafana's Loki datasource"),
    Flow("loki", "loki", (3100, 9095, 7946), "Loki to itself (HTTP, gRPC, memberlist)"),
)


def flow_values(flows: tuple[Flow, ...] = MONITORING_FLOWS) -> list[dict[str, Any]]:
    """The environment-access chart's `monitoring.servers`: per server, one ingress rule per client."""
    servers: dict[str, list[dict[str, Any]]] = {}
    for flow in flows:
        rules = servers.setdefault(flow.server, [])
        rule = next((r for r in rules if r["client"] == flow.client), None)
        if rule is None:
            rules.append({"client": flow.client, "ports": sorted(flow.ports)})
        else:
            rule["ports"] = sorted(set(rule["ports"]) | set(flow.ports))
    return [{"name": server, "rules": rules} for server, rules in servers.items()]
