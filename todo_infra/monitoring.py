"""Secrets of the monitoring add-ons: Grafana's admin login and the whole Alertmanager configuration.

Both are written through write-only arguments (todo_infra/secrets.py). The Alertmanager configuration holds the
Slack webhook, so it is a Secret too: Terraform renders `k8s/addons/alertmanager.yaml.tftpl` with the webhook
into `alertmanager-config`, which kube-prometheus-stack's Alertmanager reads instead of a configuration of its own
(`alertmanagerSpec.useExistingSecret` / `configSecret`).
"""

from __future__ import annotations

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
ALERTMANAGER_TEMPLATE = Path(__file__).resolve().parent.parent / "k8s" / "addons" / "alertmanager.yaml.tftpl"


class MonitoringSecrets(Construct):
    """Grafana never starts with a chart-default password; critical and warning alerts go to Slack when a webhook
    is set, to the `null` receiver otherwise."""

    def __init__(self, scope: Construct, id_: str, *, namespace: str) -> None:
        super().__init__(scope, id_)
        password = secret_variable(self, "grafana_admin_password", "Grafana admin password")
        webhook = secret_variable(
            self,
            "alertmanager_slack_webhook_url",
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
