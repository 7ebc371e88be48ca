"""Preflight of the local target (TODO_TARGET=local; docs/architecture.md, "Local target").

The configuration has no cluster stack, so the checks that judge DOKS (node pool, node loss, monthly cost) do not
apply; these do: Terraform loads every stack, the rendered manifests are valid for the Kubernetes minor of kind's
pinned node image, the secret flow, the environment's access boundary and the runtime rules (Pod Security, Dapr's
injected sidecar) hold, and every pod
fits the laptop-sized node below, with the requests read from the same add-on models and overlays the platform
installs (todo_infra/addons.py, k8s/addons/local/).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from preflight.access import check_access
from preflight.capacity import MIN_SCALE_LIMIT, Consumer, addon_consumers, app_consumers
from preflight.render import (
    RenderedRelease,
    app_stacks,
)
from preflight.report import CheckResult
from preflight.runtime import check_runtime
from preflight.secrets import check_secret_flow
from preflight.synth import Synthesized
from todo_infra.addons import ADDONS
from todo_infra.contracts import APP_RELEASE, PLATFORM_STACK
from todo_infra.local_cluster import KIND_NODE_IMAGE

# --- the laptop-sized node, with its sources ---------------------------------------------------------------------

#: The node the local target is sized for: one kind node given 6 GiB of memory and 4 CPUs (Docker Desktop's VM set
#: to 6 GiB; GitHub's ubuntu-24.04 runner, 4 vCPU and 16 GiB, has more). kind reserves nothing for the system on its
#: node (kubeadm's defaults: no system-reserved), so allocatable is the whole of it.
LAPTOP_NODE_MEMORY_MIB = 6144.0
LAPTOP_NODE_CPU_M = 4000.0
#: kind's own pods and their requests (kubeadm's static pods: etcd 100m/100Mi, kube-apiserver 250m,
#: kube-controller-manager 200m, kube-scheduler 100m; CoreDNS 2 × 100m/70Mi; kindnet 100m/50Mi).
KIND_SYSTEM_CPU_M = 100.0 + 250.0 + 200.0 + 100.0 + 2 * 100.0 + 100.0
KIND_SYSTEM_MEMORY_MIB = 100.0 + 2 * 70.0 + 50.0
#: The control plane uses far more memory than it requests (the API server and etcd alone hold several hundred MiB on
#: a cluster of this size): counted as 1 GiB that no request covers, so the 85 % limit is not met on paper only.
KIND_UNREQUESTED_MEMORY_MIB = 1024.0
_NODE_VERSION = re.compile(r":v(?P<version>1\.[0-9]+\.[0-9]+)@")


def kind_kubernetes_version() -> str:
    """The Kubernetes version of kind's pinned node image, e.g. 1.35.0."""
    match = _NODE_VERSION.search(KIND_NODE_IMAGE)
    if match is None:
        raise ValueError(f"no Kubernetes version in the kind node image {KIND_NODE_IMAGE}")
    return match["version"]


def kind_system_consumers() -> list[Consumer]:
    return [
        Consumer("kind-system", "control plane, CoreDNS, kindnet (requests)", KIND_SYSTEM_CPU_M, KIND_SYSTEM_MEMORY_MIB,
                 1, 1, priority_class="system-node-critical"),
        Consumer("kind-system", "control plane working set (unrequested)", 0.0, KIND_UNREQUESTED_MEMORY_MIB, 1, 1,
                 priority_class="system-node-critical"),
    ]  # fmt: skip


def check_local_capacity(consumers: list[Consumer], model_problems: list[str]) -> CheckResult:
    """Every steady-state pod on the one laptop-sized node: at most 85 % of its memory and of its CPU requested."""
    rows = [
        [c.group, c.name, f"{c.cpu_m:.0f}m", f"{c.memory_mib:.0f}Mi", str(c.count(1, maximum=False))] for c in consumers
    ]
    cpu = sum(c.cpu_m * c.count(1, maximum=False) for c in consumers)
    memory = sum(c.memory_mib * c.count(1, maximum=False) for c in consumers)
    addons = sum(c.memory_mib * c.count(1, maximum=False) for c in consumers if c.group.startswith("platform/"))
    cpu_pct, memory_pct = 100 * cpu / LAPTOP_NODE_CPU_M, 100 * memory / LAPTOP_NODE_MEMORY_MIB
    problems = list(model_problems)
    for what, pct in (("memory", memory_pct), ("CPU", cpu_pct)):
        if pct > 100 * MIN_SCALE_LIMIT:
            problems.append(
                f"the local target requests {pct:.1f}% of the laptop node's {what} "
                f"(limit {100 * MIN_SCALE_LIMIT:.0f}%): slim k8s/addons/local/ or chart/values-local.yaml"
            )
    rows.append(["total", f"of {LAPTOP_NODE_CPU_M:.0f}m / {LAPTOP_NODE_MEMORY_MIB:.0f}Mi", f"{cpu:.0f}m",
                 f"{memory:.0f}Mi", f"{cpu_pct:.1f}% CPU, {memory_pct:.1f}% memory"])  # fmt: skip
    figures = {
        "node_memory_mib": LAPTOP_NODE_MEMORY_MIB,
        "node_cpu_m": LAPTOP_NODE_CPU_M,
        "requested_memory_mib": memory,
        "requested_cpu_m": cpu,
        "addons_memory_mib": addons,
        "memory_pct": round(memory_pct, 1),
        "cpu_pct": round(cpu_pct, 1),
    }
    return CheckResult(
        "local-capacity",
        "Local target: requests on one laptop-sized node",
        ["group", "pods", "cpu", "memory", "replicas"],
        rows,
        problems,
        figures,
    )


#: API groups under k8s.io that are custom resources (installed as CRDs), not part of the API server.
CRD_GROUPS_UNDER_K8S_IO = frozenset({"gateway.networking.k8s.io", "snapshot.storage.k8s.io"})


def _builtin(api_version: str) -> bool:
    group = api_version.split("/", maxsplit=1)[0] if "/" in api_version else ""
    return group not in CRD_GROUPS_UNDER_K8S_IO and ("." not in group or group.endswith(".k8s.io"))


def check_manifests(releases: Iterable[RenderedRelease], version: str) -> CheckResult:
    """Every built-in object the charts render, strictly valid for `version` (kubernetes-validate's schemas; custom
    resources are checked against their CRDs by the suite)."""
    import kubernetes_validate  # type: ignore[import-untyped]  # noqa: PLC0415  (dev package; dev.py installs it)

    rows, problems = [], []
    for release in releases:
        builtin = [doc for doc in release.manifests if _builtin(doc["apiVersion"])]
        for doc in builtin:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{release.release}: {doc['kind']}/{doc['metadata']['name']}: {error.message}")
        rows.append([release.stack, release.release, str(len(builtin)), version])
    return CheckResult(
        "local-manifests",
        f"Local target: rendered objects valid for Kubernetes {version} (kind's node image)",
        ["stack", "release", "built-in objects", "Kubernetes"],
        rows,
        problems,
    )


def local_configuration(synth: Synthesized) -> CheckResult:
    provider: dict[str, Any] = synth.stacks[PLATFORM_STACK]["provider"]["kubernetes"][0]
    hosts = [
        item["value"]
        for stack in app_stacks(synth)
        for item in synth.release(stack, APP_RELEASE)["set"]
        if item["name"] == "ingress.host"
    ]
    states = [
        str(synth.stacks[stack]["terraform"]["backend"]["local"]["path"]).split("/")[-1] for stack in synth.stacks
    ]
    rows = [
        ["target", "local"],
        ["kubeconfig", f"{provider['config_path']} (context {provider['config_context']})"],
        ["stacks", ", ".join(synth.stacks)],
        ["hosts", ", ".join(hosts)],
        ["state files", ", ".join(states)],
    ]
    return CheckResult("configuration", "Configuration checked", ["setting", "value"], rows)


def run_local_checks(synth: Synthesized, progress: Callable[[str], None]) -> list[CheckResult]:
    from preflight.run import load_and_render  # noqa: PLC0415  (run.py imports this module lazily)

    terraform, apps, bootstrap, access = load_and_render(synth, progress)
    progress(f"validating the rendered objects for Kubernetes {kind_kubernetes_version()}; runtime and capacity")
    addons, addon_problems = addon_consumers(synth)
    workloads, app_problems = app_consumers(apps)
    return [
        local_configuration(synth),
        terraform,
        check_manifests([*apps, bootstrap], kind_kubernetes_version()),
        check_secret_flow(synth),
        check_access(
            [bootstrap, access],
            apps,
            namespaces=[app.namespace for app in apps],
            other_namespaces=list(dict.fromkeys([*(addon.namespace for addon in ADDONS), "kube-system", "default"])),
            namespace_objects=synth.namespace_objects(app.namespace for app in apps),
        ),
        check_runtime(synth, apps),
        check_local_capacity([*kind_system_consumers(), *addons, *workloads], [*addon_problems, *app_problems]),
    ]
