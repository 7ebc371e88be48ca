"""Secrets the monitoring add-ons read, and the Alertmanager routing that depends on them."""

from __future__ import annotations

from typing import Any

from cdktf import TerraformLocal
from cdktf_cdktf_provider_kubernetes.secret_v1 import SecretV1, SecretV1Metadata
from constructs import Construct

from todo_infra.secrets import sensitive_variable

GRAFANA_ADMIN_SECRET = "grafana-admin"
ALERTMANAGER_SLACK_SECRET = "alertmanager-slack"
SLACK_WEBHOOK_KEY = "webhook-url"


class MonitoringSecrets(Construct):
    """Grafana's admin login and Alertmanager's Slack webhook, from sensitive variables.

    Grafana never starts with a chart-default password; Alertmanager reads the webhook from a mounted
    file, so the URL is in neither values nor the rendered config.
    """

    def __init__(self, scope: Construct, id_: str, *, namespace: str) -> None:
        super().__init__(scope, id_)
        password = sensitive_variable(scope, "grafana_admin_password", "Grafana admin password")
        self.webhook = sensitive_variable(
            scope,
            "alertmanager_slack_webhook_url",
            "Slack incoming-webhook URL for critical and warning alerts; empty routes them to the null receiver",
            default="",
        )
        self.grafana = SecretV1(
            self,
            "grafana-admin",
            metadata=SecretV1Metadata(name=GRAFANA_ADMIN_SECRET, namespace=namespace),
            data={"admin-user": "admin", "admin-password": password},
        )
        self.alertmanager = SecretV1(
            self,
            "alertmanager-slack",
            metadata=SecretV1Metadata(name=ALERTMANAGER_SLACK_SECRET, namespace=namespace),
            data={SLACK_WEBHOOK_KEY: self.webhook},
        )

    def alert_route(self) -> dict[str, Any]:
        """critical and warning go to Slack when a webhook is set, otherwise explicitly to `null`."""
        # Whether a webhook is set is not itself secret; the URL stays sensitive. (Written as a local:
        # cdktf's Op helpers drop falsy operands such as "" and 0.)
        local = TerraformLocal(
            self, "alert_receiver", '${nonsensitive(var.alertmanager_slack_webhook_url != "") ? "slack" : "null"}'
        )
        local.override_logical_id("alert_receiver")
        receiver = local.as_string
        return {
            "alertmanager": {
                "config": {
                    "route": {
                        "group_by": ["namespace", "alertname"],
                        "group_wait": "30s",
                        "group_interval": "5m",
                        "repeat_interval": "12h",
                        "receiver": "null",
                        "routes": [
                            {"receiver": "null", "matchers": ['alertname = "Watchdog"']},
                            {"receiver": receiver, "matchers": ['severity =~ "critical|warning"']},
                        ],
                    }
                }
            }
        }
