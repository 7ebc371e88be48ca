"""What the dashboards are built from, each read from the one place it is written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from todo_infra.contracts import APP_RELEASE, app_component_name
from todo_infra.dashboards.grafana import LOKI_TYPE, PROMETHEUS_TYPE, Datasource, Provisioning
from todo_infra.metrics_catalog import MetricsContract, contract

#: Preflight's capacity limit at minimum scale (preflight/capacity.py MIN_SCALE_LIMIT; a test keeps them equal):
#: the capacity dashboard draws it where the requests meet it.
REQUESTS_LIMIT = 0.85


@dataclass(frozen=True)
class Inputs:
    #: The app's namespaces, one per environment (settings).
    namespaces: tuple[str, ...]
    #: The node pool's autoscaling bounds (settings: node_min, node_max).
    node_min: int
    node_max: int
    #: chart/values.yaml: the metrics contract, the alerts' thresholds, the services.
    chart: Mapping[str, Any]
    grafana: Provisioning

    @property
    def metrics(self) -> MetricsContract:
        return contract(self.chart)

    @property
    def prometheus(self) -> Datasource:
        return self.grafana.datasource(PROMETHEUS_TYPE)

    @property
    def loki(self) -> Datasource:
        return self.grafana.datasource(LOKI_TYPE)

    def threshold(self, alert: str) -> float:
        """The threshold an alert fires above (monitoring.alerts.<alert>.threshold)."""
        return float(self.chart["monitoring"]["alerts"][alert]["threshold"])

    @property
    def services(self) -> tuple[str, ...]:
        """The chart's enabled services, in values order."""
        return tuple(name for name, service in self.chart["services"].items() if service["enabled"])

    @property
    def backup_cronjob(self) -> str:
        """The CronJob of the daily Redis backup (chart/templates/redis/backup.yaml: <fullname>-redis-backup)."""
        return app_component_name("redis-backup")

    def pods_of(self, services: str) -> str:
        """A regex matching the pods of the Deployments `services` (a regex of service names) names."""
        return f"{APP_RELEASE}-({services})-.+"
