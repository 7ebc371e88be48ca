"""Pinned third-party Helm releases of the platform (docs/architecture.md, "Platform add-ons"), one definition each:
chart, version, namespace, values and the pods it runs, the one place capacity, cost and the tests read them from.

Static values live in `k8s/addons/<release>.yaml` (read at synth time, so a diff shows every change);
values that depend on settings or Terraform expressions are passed as a second YAML document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdktf import AssetType, ITerraformDependable, TerraformAsset
from cdktf_cdktf_provider_helm.release import ReleasePostrender
from constructs import Construct

from todo_infra.chart_values import deep_merge, nested
from todo_infra.contracts import EDGE_NAMESPACES, PLATFORM_PRIORITY
from todo_infra.helm import helm_release, values_document
from todo_infra.local_stacks import local_overlays
from todo_infra.protection import protect
from todo_infra.settings import EDGE_ENVOY_GATEWAY, EDGE_INGRESS_NGINX

ADDON_VALUES_DIR = Path(__file__).resolve().parent.parent / "k8s" / "addons"


@dataclass(frozen=True, kw_only=True)
class AddonPod:
    """One kind of pod an add-on chart runs, described by the values keys that size it (read from the chart's
    values.yaml): the resources of each container, the replica count (a number, or the values key holding it),
    whether it runs once per node, its volumes' sizes. Transient pods (hook Jobs) and init containers must set
    requests too, but are not counted in the steady-state capacity."""

    name: str
    containers: tuple[str, ...]
    #: The values key that sets the pod's priorityClassName (read from the chart's templates).
    priority: str
    replicas: int | str = 1
    daemonset: bool = False
    volumes: tuple[str, ...] = ()
    transient: bool = False
    #: Its replicas never share a node (required pod anti-affinity on kubernetes.io/hostname); the values or the
    #: release's post-renderer that set it are named where the pod is defined.
    one_per_node: bool = False
    #: The strictest Pod Security level (restricted, baseline, privileged) the pod meets as the pinned chart renders it
    #: with the platform's values: each chart rendered through Helm's engine and judged by preflight/runtime.py's
    #: evaluation (docs/architecture.md, "Pod security", lists the renders and the reasons).
    pod_security: str = ""


@dataclass(frozen=True, kw_only=True)
class Verified:
    """Where a pinned version was seen to exist, so that a platform apply never asks for a chart no index lists."""

    #: The public chart index or release tag that lists the version.
    source: str
    #: Commit of that index or tag, and its date.
    commit: str
    dated: str
    #: When this repo read it.
    read_on: str


@dataclass(frozen=True, kw_only=True)
class Addon:
    """A pinned chart of the platform: where it comes from, where it runs, and the pods it runs (the capacity and
    cost checks count exactly these; an add-on without them is refused there)."""

    release: str
    chart: str
    repository: str
    version: str
    namespace: str
    verified: Verified
    pods: tuple[AddonPod, ...] = ()
    #: The PriorityClass its pods get: the platform's, unless the chart's own default is higher.
    priority_class: str = PLATFORM_PRIORITY.name
    #: What destroying the release loses for good (volumes, an IP that DNS points at). When set, Terraform refuses
    #: to destroy the release and its namespace (todo_infra/protection.py).
    holds: str = ""
    timeout: int = 600
    #: A Helm post-renderer in k8s/addons/ (a Python program, standard library only) for what the chart has no
    #: value for; Terraform runs it as `python3 <file>` on the rendered manifests.
    postrender: str = ""

    def priority_values(self) -> dict[str, Any]:
        """The values that give every pod of the release its PriorityClass."""
        return nested({pod.priority: self.priority_class for pod in self.pods})

    @property
    def values_file(self) -> Path:
        return ADDON_VALUES_DIR / f"{self.release}.yaml"

    @property
    def postrender_file(self) -> Path | None:
        return ADDON_VALUES_DIR / self.postrender if self.postrender else None


#: The seed's edge, retired upstream (docs/upstream-status.md): selectable with `edge: ingress-nginx`, pinned to
#: its final release.
INGRESS_NGINX = Addon(
    release="ingress-nginx",
    chart="ingress-nginx",
    repository="https://kubernetes.github.io/ingress-nginx",
    version="4.15.1",
    namespace=EDGE_NAMESPACES[EDGE_INGRESS_NGINX],
    holds="the load balancer, whose IP the DNS records point at",
    verified=Verified(
        source="https://github.com/kubernetes/ingress-nginx/blob/gh-pages/index.yaml",
        commit="5298c4d892ceb0fa3560bf892e20479cd3f1c3f9",
        dated="2026-03-19",
        read_on="2026-11-26",
    ),
    pods=(
        AddonPod(
            name="controller",
            pod_security="restricted",
            containers=("controller.resources",),
            priority="controller.priorityClassName",
            replicas="controller.replicaCount",
        ),
        AddonPod(
            name="admission jobs",
            pod_security="restricted",
            # Both hook Jobs (create-secret and patch-webhook) read this one key.
            priority="controller.admissionWebhooks.patch.priorityClassName",
            containers=(
                "controller.admissionWebhooks.createSecretJob.resources",
                "controller.admissionWebhooks.patchWebhookJob.resources",
            ),
            transient=True,
        ),
    ),
)
#: The default edge (docs/architecture.md, "Edge"): Envoy Gateway, the Gateway API implementation of the Envoy
#: project. Its chart installs the controller; the controller runs the Envoy proxies of each Gateway, sized by the
#: default EnvoyProxy spec in the chart's values (config.envoyGateway.envoyProxy), so both pod kinds are modelled here.
#: The chart is published as an OCI artifact only, versioned like the release tag.
ENVOY_GATEWAY = Addon(
    release="envoy-gateway",
    chart="gateway-helm",
    repository="oci://docker.io/envoyproxy",
    version="v1.9.0",
    namespace=EDGE_NAMESPACES[EDGE_ENVOY_GATEWAY],
    holds="the load balancer, whose IP the DNS records point at",
    verified=Verified(
        source="https://github.com/envoyproxy/gateway/releases/tag/v1.9.0",
        commit="39763b1c07ec30a5526fe70434a2cfe4181de642",
        dated="2026-08-15",
        read_on="2026-12-07",
    ),
    pods=(
        AddonPod(
            name="controller",
            pod_security="restricted",
            containers=("deployment.envoyGateway.resources",),
            priority="deployment.priorityClassName",
            replicas="deployment.replicas",
        ),
        # The Envoy proxy and its shutdown-manager sidecar; the sidecar's resources are set through the deployment
        # patch (the EnvoyProxy API has no field for them).
        AddonPod(
            name="proxy",
            pod_security="restricted",
            containers=(
                "config.envoyGateway.envoyProxy.provider.kubernetes.envoyDeployment.container.resources",
                "config.envoyGateway.envoyProxy.provider.kubernetes.envoyDeployment.patch.value.spec.template.spec"
                ".containers.0.resources",
            ),
            priority="config.envoyGateway.envoyProxy.provider.kubernetes.envoyDeployment.pod.priorityClassName",
            replicas="config.envoyGateway.envoyProxy.provider.kubernetes.envoyDeployment.replicas",
        ),
        # The certgen hook Job (TLS between controller and proxies); the chart gives it no priority key of its own.
        AddonPod(
            name="certgen job",
            pod_security="restricted",
            containers=("certgen.job.resources",),
            priority="deployment.priorityClassName",
            transient=True,
        ),
    ),
)
CERT_MANAGER = Addon(
    release="cert-manager",
    chart="cert-manager",
    repository="https://charts.jetstack.io",
    version="v1.21.1",
    namespace="cert-manager",
    verified=Verified(
        source="https://github.com/cert-manager/cert-manager/releases/tag/v1.21.1",
        commit="24e33194fb39488eff2bbf10c6dc640f407cad44",
        dated="2026-07-29",
        read_on="2026-11-26",
    ),
    pods=(
        AddonPod(
            name="controller",
            pod_security="restricted",
            containers=("resources",),
            priority="global.priorityClassName",
            replicas="replicaCount",
        ),
        AddonPod(
            name="webhook",
            pod_security="restricted",
            containers=("webhook.resources",),
            priority="global.priorityClassName",
            replicas="webhook.replicaCount",
        ),
        AddonPod(
            name="cainjector",
            pod_security="restricted",
            containers=("cainjector.resources",),
            priority="global.priorityClassName",
            replicas="cainjector.replicaCount",
        ),
        AddonPod(
            name="startupapicheck",
            pod_security="restricted",
            containers=("startupapicheck.resources",),
            priority="global.priorityClassName",
            transient=True,
        ),
    ),
)
DAPR = Addon(
    release="dapr",
    chart="dapr",
    repository="https://dapr.github.io/helm-charts",
    version="1.18.3",
    namespace="dapr-system",
    holds="the scheduler's etcd volumes (jobs and reminders)",
    # Required anti-affinity for the operator, sentry and injector, which the chart cannot set
    # (docs/architecture.md, "Node loss").
    postrender="dapr_anti_affinity.py",
    verified=Verified(
        source="https://github.com/dapr/helm-charts/blob/master/index.yaml",
        commit="3fe57fa5b8f66882a3cc83dda7f4d2e9899090e9",
        dated="2026-08-20",
        read_on="2026-11-26",
    ),
    pods=(
        # The two replicas of the operator, sentry and injector never share a node: the post-renderer
        # k8s/addons/dapr_anti_affinity.py gives them required anti-affinity.
        AddonPod(
            name="operator",
            pod_security="restricted",
            containers=("dapr_operator.resources",),
            priority="global.priorityClassName",
            replicas="dapr_operator.replicaCount",
            one_per_node=True,
        ),
        AddonPod(
            name="sentry",
            pod_security="restricted",
            containers=("dapr_sentry.resources",),
            priority="global.priorityClassName",
            replicas="dapr_sentry.replicaCount",
            one_per_node=True,
        ),
        AddonPod(
            name="sidecar-injector",
            pod_security="restricted",
            containers=("dapr_sidecar_injector.resources",),
            priority="global.priorityClassName",
            replicas="dapr_sidecar_injector.replicaCount",
            one_per_node=True,
        ),
        # The scheduler always runs 3 members of an embedded etcd, each with its own PVC, one per node
        # (global.ha.podAntiAffinityPolicy and global.ha.topologyKey in k8s/addons/dapr.yaml).
        AddonPod(
            name="scheduler",
            pod_security="restricted",
            containers=("dapr_scheduler.resources",),
            priority="global.priorityClassName",
            replicas=3,
            volumes=("dapr_scheduler.cluster.storageSize",),
            one_per_node=True,
        ),
    ),
)
KUBE_PROMETHEUS_STACK = Addon(
    release="kube-prometheus-stack",
    chart="kube-prometheus-stack",
    repository="https://prometheus-community.github.io/helm-charts",
    version="88.5.3",
    namespace="monitoring",
    verified=Verified(
        source="https://github.com/prometheus-community/helm-charts/blob/gh-pages/index.yaml",
        commit="ea930baeebeba39f56d6b44e351f23b2a072a600",
        dated="2026-08-21",
        read_on="2026-11-26",
    ),
    timeout=900,
    holds="Prometheus' metrics and Grafana's volume",
    pods=(
        AddonPod(
            name="prometheus",
            pod_security="restricted",
            priority="prometheus.prometheusSpec.priorityClassName",
            containers=("prometheus.prometheusSpec.resources", "prometheusOperator.prometheusConfigReloader.resources"),
            volumes=("prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage",),
        ),
        AddonPod(
            name="alertmanager",
            pod_security="restricted",
            priority="alertmanager.alertmanagerSpec.priorityClassName",
            containers=(
                "alertmanager.alertmanagerSpec.resources",
                "prometheusOperator.prometheusConfigReloader.resources",
            ),
            replicas="alertmanager.alertmanagerSpec.replicas",
            volumes=("alertmanager.alertmanagerSpec.storage.volumeClaimTemplate.spec.resources.requests.storage",),
        ),
        # Grafana runs the dashboards and datasources sidecars, both sized by grafana.sidecar.resources.
        AddonPod(
            name="grafana",
            pod_security="baseline",
            priority="grafana.priorityClassName",
            containers=("grafana.resources", "grafana.sidecar.resources", "grafana.sidecar.resources"),
            volumes=("grafana.persistence.size",),
        ),
        AddonPod(
            name="grafana init",
            pod_security="baseline",
            containers=("grafana.initChownData.resources",),
            priority="grafana.priorityClassName",
            transient=True,
        ),
        AddonPod(
            name="operator",
            pod_security="restricted",
            containers=("prometheusOperator.resources",),
            priority="prometheusOperator.priorityClassName",
        ),
        AddonPod(
            name="operator admission job",
            pod_security="restricted",
            priority="prometheusOperator.admissionWebhooks.patch.priorityClassName",
            containers=("prometheusOperator.admissionWebhooks.patch.resources",),
            transient=True,
        ),
        AddonPod(
            name="kube-state-metrics",
            pod_security="restricted",
            containers=("kube-state-metrics.resources",),
            priority="kube-state-metrics.priorityClassName",
        ),
        AddonPod(
            name="node-exporter",
            pod_security="privileged",
            containers=("prometheus-node-exporter.resources",),
            priority="prometheus-node-exporter.priorityClassName",
            daemonset=True,
        ),
    ),
)
LOKI = Addon(
    release="loki",
    chart="loki",
    repository="https://grafana-community.github.io/helm-charts",
    version="18.11.0",
    namespace="monitoring",
    verified=Verified(
        source="https://github.com/grafana-community/helm-charts/blob/gh-pages/index.yaml",
        commit="9ab78dc8a0376c610b740276b2bd0bf1d4a8c3e3",
        dated="2026-08-20",
        read_on="2026-11-26",
    ),
    holds="the logs volume",
    pods=(
        AddonPod(
            name="single-binary",
            pod_security="restricted",
            priority="singleBinary.priorityClassName",
            containers=("singleBinary.resources", "sidecar.resources"),
            replicas="singleBinary.replicas",
            volumes=("singleBinary.persistence.size",),
        ),
    ),
)
PROMTAIL = Addon(
    release="promtail",
    chart="promtail",
    repository="https://grafana.github.io/helm-charts",
    version="6.17.1",
    namespace="monitoring",
    verified=Verified(
        source="https://github.com/grafana/helm-charts/blob/gh-pages/index.yaml",
        commit="970fce783fe06c7be65d1aebd3979097013a5676",
        dated="2026-08-20",
        read_on="2026-11-26",
    ),
    pods=(
        AddonPod(
            name="promtail",
            pod_security="privileged",
            containers=("resources",),
            priority="priorityClassName",
            daemonset=True,
        ),
    ),
)

# Grafana Alloy, the default log shipper (Promtail's successor). Its pod, as the chart renders it with
# k8s/addons/alloy.yaml (grafana/alloy tag helm-chart/1.11.1, operations/helm/charts/alloy/templates/):
# controllers/daemonset.yaml L1-3 runs a DaemonSet when controller.type is "daemonset"; controllers/_pod.yaml L37-42
# lists the containers: "alloy" (containers/_agent.yaml, resources from alloy.resources at L78-81), the config
# reloader only when configReloader.enabled (containers/_watch.yaml L3; off here) and controller.extraContainers
# (none here); no init container unless controller.initContainers (_pod.yaml L31-36; none here); _pod.yaml L43-45
# sets priorityClassName from controller.priorityClassName.
ALLOY = Addon(
    release="alloy",
    chart="alloy",
    repository="https://grafana.github.io/helm-charts",
    version="1.11.1",
    namespace="monitoring",
    verified=Verified(
        source="https://github.com/grafana/alloy/releases/tag/helm-chart/1.11.1",
        commit="233907cff225ce253f812bdfc14138dac1fa0cd2",
        dated="2026-08-06",
        read_on="2026-12-07",
    ),
    pods=(
        AddonPod(
            name="alloy",
            pod_security="restricted",
            containers=("alloy.resources",),
            priority="controller.priorityClassName",
            daemonset=True,
        ),
    ),
)
#: The log shippers the `log_shipper` setting selects from (todo_infra/settings.py), the first the default. Promtail
#: reached end of life on 2026-03-02; preflight warns when it is selected.
LOG_SHIPPERS: Mapping[str, Addon] = {"alloy": ALLOY, "promtail": PROMTAIL}
PROMTAIL_END_OF_LIFE = "2026-03-02"

# DOKS does not ship metrics-server (DigitalOcean offers it as a Marketplace 1-Click); the HPAs need its
# metrics.k8s.io API.
METRICS_SERVER = Addon(
    release="metrics-server",
    chart="metrics-server",
    repository="https://kubernetes-sigs.github.io/metrics-server/",
    version="3.13.1",
    namespace="kube-system",
    verified=Verified(
        source="https://github.com/kubernetes-sigs/metrics-server/blob/gh-pages/index.yaml",
        commit="c6db65fff4d479ece5dd43b8df90a483f5c2011f",
        dated="2026-06-11",
        read_on="2026-11-26",
    ),
    # The chart's default class (values.yaml `priorityClassName`), above the platform's: the production HPAs stop
    # scaling without the metrics API.
    priority_class="system-cluster-critical",
    pods=(
        AddonPod(name="metrics-server", containers=("resources",), priority="priorityClassName", replicas="replicas"),
    ),
)

ADDONS: tuple[Addon, ...] = (
    ENVOY_GATEWAY,
    INGRESS_NGINX,
    CERT_MANAGER,
    DAPR,
    KUBE_PROMETHEUS_STACK,
    LOKI,
    ALLOY,
    PROMTAIL,
    METRICS_SERVER,
)
#: The add-on of each edge (settings `edge`); the platform installs the selected one only.
EDGE_ADDONS = {EDGE_ENVOY_GATEWAY: ENVOY_GATEWAY, EDGE_INGRESS_NGINX: INGRESS_NGINX}


def platform_addons(edge: str) -> tuple[Addon, ...]:
    """The add-ons the platform installs with this edge: every one but the other edge's."""
    return tuple(addon for addon in ADDONS if addon not in EDGE_ADDONS.values() or addon is EDGE_ADDONS[edge])


#: The controllerName of Envoy Gateway's GatewayClass (its chart's config.envoyGateway.gateway.controllerName).
ENVOY_GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
#: The Terraform addresses of each edge's release and namespace in the platform stack: the edge not selected is
#: forgotten (a `removed` block, destroy = false), never destroyed (tests/stacks prove these are the addresses the
#: selected edge synthesizes).
EDGE_RESOURCES = {
    EDGE_ENVOY_GATEWAY: (
        "helm_release.envoy-gateway_release_0485060B",
        "kubernetes_namespace_v1.namespace-envoy-gateway-system",
    ),
    EDGE_INGRESS_NGINX: (
        "helm_release.ingress-nginx_release_2DF14AC4",
        "kubernetes_namespace_v1.namespace-ingress-nginx",
    ),
}

#: Namespaces every cluster has; the platform stack creates the others.
PREEXISTING_NAMESPACES = ("kube-system",)


def addon_values(addon: Addon) -> str:
    """The committed static values of one add-on."""
    return addon.values_file.read_text()


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
        values = [addon_values(addon), values_document(deep_merge(addon.priority_values(), extra_values or {}))]
        values += local_overlays(self, addon)  # the local target's slimmed values (todo_infra/local_stacks.py)
        postrender = {}
        if addon.postrender_file is not None:
            program = TerraformAsset(self, "postrender", path=str(addon.postrender_file), type=AssetType.FILE)
            postrender["postrender"] = ReleasePostrender(binary_path="python3", args=[program.path])
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
            **postrender,
        )
        if addon.holds:
            protect(self.release)
