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

from todo_infra.chart_signing import ChartTrust, ImagePin, SigningKey
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
    #: What is verified of the chart before Helm installs it (todo_infra/chart_signing.py): its provenance against a
    #: pinned key, or why nothing can be.
    chart_trust: ChartTrust
    #: The images it runs, each by digest or with the reason it is pulled by tag (the defaults of the pinned chart
    #: unless its values file overrides them).
    images: tuple[ImagePin, ...] = ()
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


# The keys that sign the pinned charts' provenance files (k8s/addons/keys/, fingerprints recomputed by the tests).
CERT_MANAGER_KEY = SigningKey(
    keyring="cert-manager.gpg",
    fingerprint="1020CF3C033D4F35BAE1C19E1226061C665DF13E",
    source="https://github.com/cert-manager/website/blob/776e5dba56510fc9de84206b806b568447077f25/public/public-keys/"
    "cert-manager-keyring-2021-09-20-1020CF3C033D4F35BAE1C19E1226061C665DF13E.gpg",
    # "helm install cert-manager oci://quay.io/jetstack/charts/cert-manager --verify --keyring ..." (charts signed since
    # v1.6.0; the OCI chart is the source of truth and carries the provenance layer).
    evidence="https://github.com/cert-manager/website/blob/776e5dba56510fc9de84206b806b568447077f25/content/docs/"
    "installation/helm.md",
)
#: Published ASCII-armored at prometheus-community.github.io/helm-charts/pubkey.gpg; committed dearmored
#: (`gpg --dearmor`), the form Helm reads.
PROMETHEUS_COMMUNITY_KEY = SigningKey(
    keyring="prometheus-community.gpg",
    fingerprint="E2F102EFA9ACD882585BFE1A27252B168248743B",
    source="https://github.com/prometheus-community/helm-charts/blob/93ff5780474701ce9460052d7ebd011072ef7773/pubkey.gpg",
    # chart-releaser with CR_SIGN: true at the commit that released 88.5.3 (signing since 2026-01-24, #6511).
    evidence="https://github.com/prometheus-community/helm-charts/blob/ea930baeebeba39f56d6b44e351f23b2a072a600/.github/"
    "workflows/release.yaml",
)
#: Published ASCII-armored at grafana-community.github.io/helm-charts/pubkey.gpg; committed dearmored.
GRAFANA_COMMUNITY_KEY = SigningKey(
    keyring="grafana-community.gpg",
    fingerprint="84275654C470636BB88BDCD1C0EA64E52D7A0D41",
    source="https://github.com/grafana-community/helm-charts/blob/9ab78dc8a0376c610b740276b2bd0bf1d4a8c3e3/pubkey.gpg",
    # chart-releaser with CR_SIGN: true at the commit that released loki 18.11.0 (signing since 2026-01-30, #20).
    evidence="https://github.com/grafana-community/helm-charts/blob/3386a1156177c6bcd7fdb1ad4c6b1dda094296e0/.github/"
    "workflows/release.yaml",
)
#: Why no add-on image is pinned by digest yet (docs/architecture.md, "Supply chain").
NO_ATTRIBUTABLE_DIGEST = (
    "no digest of this tag in two attributable public sources (read 2026-12-07: the vendor publishes none in its"
    " repository or release notes; the only copies found were in files whose repository is not named)"
)


def by_tag(values_key: str, image: str, tag: str, why: str = NO_ATTRIBUTABLE_DIGEST) -> ImagePin:
    return ImagePin(values_key=values_key, image=image, tag=tag, by_tag_because=why)


#: The seed's edge, retired upstream (docs/upstream-status.md): selectable with `edge: ingress-nginx`, pinned to
#: its final release.
INGRESS_NGINX = Addon(
    release="ingress-nginx",
    chart="ingress-nginx",
    repository="https://kubernetes.github.io/ingress-nginx",
    version="4.15.1",
    namespace=EDGE_NAMESPACES[EDGE_INGRESS_NGINX],
    holds="the load balancer, whose IP the DNS records point at",
    chart_trust=ChartTrust(
        unsigned="published unsigned: chart-releaser without signing (kubernetes/ingress-nginx"
        " .github/workflows/chart.yaml at dbb11b92ddb77bee9c35e462479129354c84f939, the final release); Helm 3.18 (the"
        " pinned helm provider's) compares no digest for a chart from an HTTP repository"
    ),
    # Both digests are the chart's own defaults (values.yaml of tag helm-chart-4.15.1), set again here so that the pin
    # is the platform's.
    images=(
        ImagePin(
            values_key="controller.image",
            image="registry.k8s.io/ingress-nginx/controller",
            tag="v1.15.1",
            digest="sha256:594ceea76b01c592858f803f9ff4d2cb40542cae2060410b2c95f75907d659e1",
            source="https://github.com/kubernetes/ingress-nginx/blob/0a5901f3c64f11e92e487799b8da3f00cca37515/charts/ingress-nginx/values.yaml",
        ),
        ImagePin(
            values_key="controller.admissionWebhooks.patch.image",
            image="registry.k8s.io/ingress-nginx/kube-webhook-certgen",
            tag="v1.6.9",
            digest="sha256:01038e7de14b78d702d2849c3aad72fd25903c4765af63cf16aa3398f5d5f2dd",
            source="https://github.com/kubernetes/ingress-nginx/blob/0a5901f3c64f11e92e487799b8da3f00cca37515/charts/ingress-nginx/values.yaml",
        ),
    ),
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
    chart_trust=ChartTrust(
        unsigned="pushed to docker.io unsigned: `helm push` without provenance or cosign (envoyproxy/gateway"
        " tools/make/helm.mk and .github at d32f28294245e454d20f81d323d626a90e660c1e); Helm 3.18 can pin an OCI chart"
        " by digest (`<chart>@sha256:...`, pkg/registry/client.go ValidateReference), but no digest of gateway-helm"
        " v1.9.0 could be read from an attributable public source offline"
    ),
    images=(
        by_tag("deployment.envoyGateway.image", "docker.io/envoyproxy/gateway", "v1.9.0"),
        by_tag(
            "config.envoyGateway.envoyProxy.provider.kubernetes.envoyDeployment.container.image",
            "docker.io/envoyproxy/envoy",
            "distroless-v1.39.0",
        ),
    ),
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
    # The OCI chart: cert-manager's source of truth, with the provenance layer `verify` checks (the legacy
    # https://charts.jetstack.io repository is updated hours later).
    repository="oci://quay.io/jetstack/charts",
    version="v1.21.1",
    namespace="cert-manager",
    chart_trust=ChartTrust(signed_by=CERT_MANAGER_KEY),
    images=tuple(
        by_tag(f"{key}image", f"quay.io/jetstack/cert-manager-{name}", "v1.21.1")
        for key, name in (
            ("", "controller"),
            ("webhook.", "webhook"),
            ("cainjector.", "cainjector"),
            ("startupapicheck.", "startupapicheck"),
            ("acmesolver.", "acmesolver"),
        )
    ),
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
    chart_trust=ChartTrust(
        unsigned="published unsigned: dapr/dapr's release workflow runs `helm package` without --sign"
        " (.github/workflows/dapr.yml at d8450742ce3260d93a2346f4398a1e60d019a45b) into dapr/helm-charts"
    ),
    images=(
        by_tag(
            "global.tag",
            "ghcr.io/dapr/{operator,sentry,injector,scheduler,daprd}",
            "1.18.3",
            "the chart takes one tag (global.tag) for every Dapr image, the injected daprd sidecar included, so no"
            " image can be given a digest of its own; and no digest found in two attributable public sources",
        ),
    ),
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
    chart_trust=ChartTrust(signed_by=PROMETHEUS_COMMUNITY_KEY),
    images=(
        by_tag("prometheus.prometheusSpec.image", "quay.io/prometheus/prometheus", "v3.14.0-distroless"),
        by_tag("alertmanager.alertmanagerSpec.image", "quay.io/prometheus/alertmanager", "v0.34.0"),
        by_tag("prometheusOperator.image", "quay.io/prometheus-operator/prometheus-operator", "v0.93.1"),
        by_tag(
            "prometheusOperator.prometheusConfigReloader.image",
            "quay.io/prometheus-operator/prometheus-config-reloader",
            "v0.93.1",
        ),
        by_tag("prometheusOperator.admissionWebhooks.patch.image", "ghcr.io/jkroepke/kube-webhook-certgen", "1.8.7"),
        by_tag("grafana.image", "docker.io/grafana/grafana", "the grafana chart 12.11.1's default"),
        by_tag(
            "kube-state-metrics.image", "registry.k8s.io/kube-state-metrics/kube-state-metrics", "chart 8.4.0's default"
        ),
        by_tag("prometheus-node-exporter.image", "quay.io/prometheus/node-exporter", "chart 4.56.1's default"),
    ),
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
    chart_trust=ChartTrust(signed_by=GRAFANA_COMMUNITY_KEY),
    images=(by_tag("loki.image", "docker.io/grafana/loki", "3.7.6"),),
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
    chart_trust=ChartTrust(
        unsigned="6.17.1 (2025) predates grafana/helm-charts' signing: its key was created 2026-06-22 and published"
        " on gh-pages 2026-08-10 (e4c024b2ca8e12446f3977e834ab028481571afa), and the repository says charts 'may be"
        " signed'"
    ),
    images=(by_tag("image", "docker.io/grafana/promtail", "3.5.1"),),
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
    chart_trust=ChartTrust(
        unsigned="published unsigned: grafana/alloy's helm-release.yml runs `cr package` without --sign and uploads"
        " only the .tgz to grafana/helm-charts (at 66ebea856dffb242f921775e9552a133f60dc5c1)"
    ),
    images=(by_tag("image", "docker.io/grafana/alloy", "v1.18.1"),),
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
    chart_trust=ChartTrust(
        unsigned="published unsigned: chart-releaser without CR_SIGN (kubernetes-sigs/metrics-server"
        " .github/workflows/release-chart.yaml at 5ed5d3a2cf940a8c7541cfbac19af822f4c97844)"
    ),
    images=(by_tag("image", "registry.k8s.io/metrics-server/metrics-server", "v0.8.1"),),
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


def image_values(addon: Addon) -> dict[str, Any]:
    """The values that give each image pinned by digest its digest (`<values_key>.digest`)."""
    return nested({f"{pin.values_key}.digest": pin.digest for pin in addon.images if pin.digest})


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
        generated = deep_merge(deep_merge(addon.priority_values(), image_values(addon)), extra_values or {})
        values = [addon_values(addon), values_document(generated)]
        values += local_overlays(self, addon)  # the local target's slimmed values (todo_infra/local_stacks.py)
        chart_source: dict[str, Any] = {}
        if addon.postrender_file is not None:
            program = TerraformAsset(self, "postrender", path=str(addon.postrender_file), type=AssetType.FILE)
            chart_source["postrender"] = ReleasePostrender(binary_path="python3", args=[program.path])
        key = addon.chart_trust.signed_by
        if key is not None:
            # Helm fetches the chart's provenance file and refuses the chart unless this key signed its digest.
            keyring = TerraformAsset(self, "keyring", path=str(key.path), type=AssetType.FILE)
            chart_source |= {"verify": True, "keyring": keyring.path}
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
            **chart_source,
        )
        if addon.holds:
            protect(self.release)
