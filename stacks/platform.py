from __future__ import annotations

from cdktf import TerraformStack
from cdktf_cdktf_provider_digitalocean.data_digitalocean_loadbalancer import DataDigitaloceanLoadbalancer
from cdktf_cdktf_provider_digitalocean.record import Record
from cdktf_cdktf_provider_kubernetes.namespace_v1 import NamespaceV1, NamespaceV1Metadata
from constructs import Construct

from todo_infra.access import EnvironmentAccess, namespace_metadata
from todo_infra.addons import (
    ADDONS,
    CERT_MANAGER,
    DAPR,
    INGRESS_NGINX,
    KUBE_PROMETHEUS_STACK,
    LOG_SHIPPERS,
    LOKI,
    METRICS_SERVER,
    PREEXISTING_NAMESPACES,
    AddonRelease,
)
from todo_infra.bootstrap import ClusterBootstrap
from todo_infra.contracts import (
    CLUSTER_ISSUER,
    CLUSTER_NAME,
    DAPR_NAMESPACE,
    INGRESS_CLASS,
    LOAD_BALANCER_IP,
    MONITORING_NAMESPACE,
)
from todo_infra.dashboards import Dashboards
from todo_infra.kube import KubeAccess
from todo_infra.monitoring import MonitoringSecrets
from todo_infra.pod_security import ADDON_VALUES, platform_namespace_labels
from todo_infra.protection import forget_namespaces, namespace_resource_id, protect
from todo_infra.scheduling import DaprDisruptionBudgets, PriorityClasses
from todo_infra.settings import ENVIRONMENTS, Settings
from todo_infra.state import Upstream, publish, state_backend


class PlatformStack(TerraformStack):
    """Cluster-wide add-ons: ingress, certificates, Dapr, monitoring and logs, then the bootstrap chart."""

    def __init__(self, scope: Construct, id_: str, *, settings: Settings) -> None:
        super().__init__(scope, id_)
        state_backend(self, settings.state)
        upstream = Upstream(self, settings.state)
        KubeAccess(self, "kube", cluster_name=upstream.string(CLUSTER_NAME))

        # Every add-on namespace enforces a Pod Security level (todo_infra/pod_security.py): none is unguarded.
        minor = settings.cluster.kubernetes_minor_prefix
        namespaces = {
            name: NamespaceV1(
                self,
                f"namespace-{name}",
                metadata=NamespaceV1Metadata(name=name, labels=platform_namespace_labels(name, minor)),
            )
            for name in dict.fromkeys(addon.namespace for addon in ADDONS)
            if name not in PREEXISTING_NAMESPACES
        }
        protect(*(namespaces[addon.namespace] for addon in ADDONS if addon.holds))
        priorities = PriorityClasses(self, "priority-classes").classes
        # The app environments' namespaces (Pod Security "restricted") and the identities that deploy and plan each:
        # cluster-scoped objects belong to this reviewed deploy, never to an app environment's (todo_infra/access.py).
        app_namespaces = []
        for env in settings.environments:
            labels, annotations = namespace_metadata(env, settings.cluster.kubernetes_minor_prefix)
            metadata = NamespaceV1Metadata(name=env.namespace, labels=labels, annotations=annotations)
            app_namespaces.append(NamespaceV1(self, namespace_resource_id(env.namespace), metadata=metadata))
        protect(*app_namespaces)  # each holds its environment's Redis volume claim
        configured = {env.namespace for env in settings.environments}
        forget_namespaces(self, [name for name in ENVIRONMENTS if name not in configured])
        EnvironmentAccess(self, "environment-access", settings=settings, depends_on=app_namespaces)
        load_balancer_name = f"{settings.project}-ingress"
        ingress = AddonRelease(
            self,
            "ingress-nginx",
            addon=INGRESS_NGINX,
            extra_values=_ingress_service(settings, load_balancer_name),
            depends_on=[namespaces[INGRESS_NGINX.namespace], *priorities],
        )
        cert_manager = AddonRelease(
            self, "cert-manager", addon=CERT_MANAGER, depends_on=[namespaces[CERT_MANAGER.namespace], *priorities]
        )
        dapr = AddonRelease(
            self,
            "dapr",
            addon=DAPR,
            extra_values=ADDON_VALUES[DAPR.release],
            depends_on=[namespaces[DAPR.namespace], *priorities],
        )
        DaprDisruptionBudgets(self, "dapr-disruption-budgets", namespace=namespaces[DAPR.namespace].metadata.name)
        monitoring_secrets = MonitoringSecrets(
            self,
            "monitoring-secrets",
            namespace=namespaces[KUBE_PROMETHEUS_STACK.namespace].metadata.name,
            require_receiver=settings.requires_alert_receiver,
        )
        AddonRelease(
            self,
            "kube-prometheus-stack",
            addon=KUBE_PROMETHEUS_STACK,
            extra_values=monitoring_secrets.chart_values(),
            depends_on=[monitoring_secrets.grafana, monitoring_secrets.alertmanager, *priorities],
        )
        Dashboards(
            self, "dashboards", settings=settings, namespace=namespaces[KUBE_PROMETHEUS_STACK.namespace].metadata.name
        )
        loki = AddonRelease(self, "loki", addon=LOKI, depends_on=[namespaces[LOKI.namespace], *priorities])
        shipper = LOG_SHIPPERS[settings.log_shipper]  # Alloy unless the setting keeps Promtail
        AddonRelease(self, shipper.release, addon=shipper, depends_on=[loki.release])
        AddonRelease(self, "metrics-server", addon=METRICS_SERVER)
        ClusterBootstrap(
            self,
            "cluster-bootstrap",
            namespace=DAPR.namespace,
            values={
                "clusterIssuer": {
                    "name": settings.cluster_issuer,
                    "email": settings.operator_email,
                    "ingressClass": settings.ingress_class,
                }
            },
            depends_on=[cert_manager.release, dapr.release, ingress.release],
        )

        load_balancer = DataDigitaloceanLoadbalancer(
            self, "ingress-load-balancer", name=load_balancer_name, depends_on=[ingress.release]
        )
        if settings.dns_on_digitalocean:
            for env in settings.environments:
                Record(
                    self,
                    f"dns-{env.name}",
                    domain=settings.domain,
                    type="A",
                    name=env.host_prefix,
                    value=load_balancer.ip,
                    ttl=300,
                )

        publish(self, INGRESS_CLASS, settings.ingress_class)
        publish(self, CLUSTER_ISSUER, settings.cluster_issuer)
        publish(self, LOAD_BALANCER_IP, load_balancer.ip)
        publish(self, MONITORING_NAMESPACE, KUBE_PROMETHEUS_STACK.namespace)
        publish(self, DAPR_NAMESPACE, DAPR.namespace)


def _ingress_service(settings: Settings, load_balancer_name: str) -> dict[str, object]:
    """Name the DO load balancer (so the stack can find it) and give it a hostname.

    With `do-loadbalancer-hostname`, in-cluster clients (cert-manager's HTTP-01 self-check) reach the
    ingress through the load balancer instead of being short-circuited to the node (hairpin).
    """
    return {
        "controller": {
            "ingressClassResource": {"name": settings.ingress_class},
            "service": {
                "annotations": {
                    "service.beta.kubernetes.io/do-loadbalancer-name": load_balancer_name,
                    "service.beta.kubernetes.io/do-loadbalancer-hostname": settings.primary_host,
                }
            },
        }
    }
