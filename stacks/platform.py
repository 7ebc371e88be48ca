from __future__ import annotations

from cdktf import TerraformStack
from cdktf_cdktf_provider_digitalocean.data_digitalocean_loadbalancer import DataDigitaloceanLoadbalancer
from cdktf_cdktf_provider_digitalocean.record import Record
from cdktf_cdktf_provider_kubernetes.namespace_v1 import NamespaceV1, NamespaceV1Metadata
from constructs import Construct

from todo_infra.access import EnvironmentAccess, namespace_metadata
from todo_infra.addons import (
    CERT_MANAGER,
    DAPR,
    EDGE_ADDONS,
    EDGE_RESOURCES,
    ENVOY_GATEWAY,
    ENVOY_GATEWAY_CONTROLLER,
    KUBE_PROMETHEUS_STACK,
    LOG_SHIPPERS,
    LOKI,
    METRICS_SERVER,
    PREEXISTING_NAMESPACES,
    AddonRelease,
    platform_addons,
)
from todo_infra.bootstrap import ClusterBootstrap
from todo_infra.chart_values import base_values
from todo_infra.contracts import (
    CLUSTER_ISSUER,
    CLUSTER_NAME,
    DAPR_NAMESPACE,
    GATEWAY_NAME,
    INGRESS_CLASS,
    LOAD_BALANCER_IP,
    MONITORING_NAMESPACE,
    gateway_listener,
)
from todo_infra.dashboards import Dashboards
from todo_infra.kube import KubeAccess
from todo_infra.local_stacks import LocalKubeAccess, mark_local
from todo_infra.local_target import cluster_issuer_values
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
        # --- local target (todo_infra/local_stacks.py): the kubeconfig's cluster instead of DOKS ---
        if settings.local is not None:
            mark_local(self)
        state_backend(self, settings.state)
        if settings.local is not None:
            LocalKubeAccess(self, "kube", target=settings.local)
        else:
            upstream = Upstream(self, settings.state)
            KubeAccess(self, "kube", cluster_name=upstream.string(CLUSTER_NAME))

        addons = platform_addons(settings.edge)
        edge = EDGE_ADDONS[settings.edge]
        # Every add-on namespace enforces a Pod Security level (todo_infra/pod_security.py): none is unguarded.
        minor = settings.cluster.kubernetes_minor_prefix
        namespaces = {
            name: NamespaceV1(
                self,
                f"namespace-{name}",
                metadata=NamespaceV1Metadata(name=name, labels=platform_namespace_labels(name, minor)),
            )
            for name in dict.fromkeys(addon.namespace for addon in addons)
            if name not in PREEXISTING_NAMESPACES
        }
        protect(*(namespaces[addon.namespace] for addon in addons if addon.holds))
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
        # The edge not selected is forgotten, not destroyed: switching edges on a running cluster leaves the old one
        # serving until the cut-over is done (docs/runbooks/deploy.md, "Cut over to the Gateway API edge").
        forget_namespaces(
            self,
            [name for name in ENVIRONMENTS if name not in configured],
            also=[
                address for name, addresses in EDGE_RESOURCES.items() if name != settings.edge for address in addresses
            ],
        )
        EnvironmentAccess(self, "environment-access", settings=settings, depends_on=app_namespaces)
        # Each edge names its own load balancer, so that during a cut-over (both running) the platform reads the
        # selected one's IP.
        load_balancer_name = f"{settings.project}-{'gateway' if settings.gateway_api else 'ingress'}"
        ingress = AddonRelease(
            self,
            edge.release,
            addon=edge,
            extra_values=_edge_values(settings, load_balancer_name) if settings.local is None else None,
            depends_on=[namespaces[edge.namespace], *priorities],
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
                "clusterIssuer": cluster_issuer_values(settings, ca_namespace=CERT_MANAGER.namespace),
                "gateway": gateway_values(settings),
            },
            depends_on=[cert_manager.release, dapr.release, ingress.release],
        )

        publish(self, INGRESS_CLASS, settings.ingress_class)
        publish(self, CLUSTER_ISSUER, settings.cluster_issuer)
        publish(self, MONITORING_NAMESPACE, KUBE_PROMETHEUS_STACK.namespace)
        publish(self, DAPR_NAMESPACE, DAPR.namespace)
        if settings.local is not None:
            return  # no load balancer and no DNS on the local target: the edge is a NodePort
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

        publish(self, LOAD_BALANCER_IP, load_balancer.ip)


def gateway_values(settings: Settings) -> dict[str, object]:
    """The cluster-bootstrap chart's Gateway (empty with ingress-nginx): the GatewayClass of Envoy Gateway, one Gateway
    in its namespace, and per app environment an HTTP and an HTTPS listener for that environment's host only, admitting
    routes of that namespace only, the HTTPS one terminating TLS with the certificate the app release keeps in its
    namespace (chart/templates/gateway/certificate.yaml)."""
    if not settings.gateway_api:
        return {}
    return {
        "className": settings.ingress_class,
        "controllerName": ENVOY_GATEWAY_CONTROLLER,
        "name": GATEWAY_NAME,
        "namespace": ENVOY_GATEWAY.namespace,
        "listeners": [
            {
                "namespace": env.namespace,
                "host": env.host,
                "http": gateway_listener("http", env.namespace),
                "https": gateway_listener("https", env.namespace),
                "tlsSecretName": base_values()["ingress"]["tlsSecretName"],
            }
            for env in settings.environments
        ],
    }


def _edge_values(settings: Settings, load_balancer_name: str) -> dict[str, object]:
    """Name the DO load balancer (so the stack can find it) and give it a hostname.

    With `do-loadbalancer-hostname`, in-cluster clients (cert-manager's HTTP-01 self-check) reach the
    edge through the load balancer instead of being short-circuited to the node (hairpin).
    """
    annotations = {
        "service.beta.kubernetes.io/do-loadbalancer-name": load_balancer_name,
        "service.beta.kubernetes.io/do-loadbalancer-hostname": settings.primary_host,
    }
    if settings.gateway_api:
        return {
            "config": {
                "envoyGateway": {
                    "envoyProxy": {"provider": {"kubernetes": {"envoyService": {"annotations": annotations}}}}
                }
            }
        }
    return {
        "controller": {
            "ingressClassResource": {"name": settings.ingress_class},
            "service": {"annotations": annotations},
        }
    }
