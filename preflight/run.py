"""Gather the inputs once (synth, renders) and run the four checks over them."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from preflight.access import check_access
from preflight.capacity import check_capacity, check_node_loss, gather_consumers, node_pool, pool_node_size
from preflight.consistency import check_consistency, selected_edge
from preflight.cost import check_cost
from preflight.policy import ROOT, check_policy
from preflight.render import (
    RenderedRelease,
    app_stacks,
    render_app_release,
    render_bootstrap_release,
    render_platform_release,
)
from preflight.report import CheckResult, load_config
from preflight.runtime import check_runtime
from preflight.secrets import check_secret_flow
from preflight.synth import Synthesized, load_synthesized, synthesize
from preflight.terraform import check_terraform, scratch_dir
from todo_infra.access import ACCESS_RELEASE
from todo_infra.addons import ADDONS, INGRESS_NGINX, LOG_SHIPPERS, PROMTAIL, PROMTAIL_END_OF_LIFE
from todo_infra.contracts import APP_RELEASE, APP_STACK_PREFIX, CLUSTER_STACK, PLATFORM_STACK
from todo_infra.settings import EDGE_INGRESS_NGINX


def configuration(synth: Synthesized) -> CheckResult:
    """What was checked, read from the synthesized stacks: the configuration as the stacks carry it."""
    cluster = synth.one(CLUSTER_STACK, "digitalocean_kubernetes_cluster")
    pool = cluster["node_pool"]
    edge = selected_edge(synth)
    hosts = sorted(
        item["value"]
        for stack in app_stacks(synth)
        for item in synth.release(stack, APP_RELEASE)["set"]
        if item["name"] == "ingress.host"
    )
    backend = next(iter(synth.stacks[CLUSTER_STACK]["terraform"]["backend"]))
    state_buckets = {
        stack_id: stack["terraform"]["backend"]["s3"]["bucket"]
        for stack_id, stack in synth.stacks.items()
        if "s3" in stack["terraform"]["backend"]
    }
    backup_buckets = {
        stack: item["value"]
        for stack in app_stacks(synth)
        for item in synth.release(stack, APP_RELEASE)["set"]
        if item["name"] == "redis.backup.offsite.bucket"
    }
    rows = [
        ["region", str(cluster["region"])],
        ["nodes", f"{pool['size']} × {pool['min_nodes']}–{pool['max_nodes']} (autoscaling)"],
        ["node size", f"{pool_node_size(synth).describe()} (todo_infra/node_sizes.json)"],
        ["HA control plane", "on" if cluster.get("ha") else "off"],
        ["environments", ", ".join(stack.removeprefix(APP_STACK_PREFIX) for stack in app_stacks(synth))],
        ["hosts", ", ".join(hosts)],
        ["state backend", backend],
        ["state buckets", ", ".join(f"{stack} → {bucket}" for stack, bucket in state_buckets.items()) or "—"],
        ["backup buckets", ", ".join(f"{stack} → {bucket}" for stack, bucket in backup_buckets.items()) or "—"],
        ["edge", edge],
        ["log shipper", ", ".join(log_shippers(synth)) or "—"],
    ]
    return CheckResult(
        "configuration",
        "Configuration checked",
        ["setting", "value"],
        rows,
        warnings=edge_warnings(edge) + log_shipper_warnings(synth),
    )


#: The one-line notice when the retired edge is selected (docs/upstream-status.md).
INGRESS_NGINX_RETIRED = (
    f"edge {EDGE_INGRESS_NGINX} is retired upstream: chart {INGRESS_NGINX.version} is its final release (2026-03) and "
    'receives no security fixes; set edge=envoy-gateway (docs/runbooks/deploy.md, "Cut over to the Gateway API edge")'
)


def edge_warnings(edge: str) -> list[str]:
    return [INGRESS_NGINX_RETIRED] if edge == EDGE_INGRESS_NGINX else []


def log_shippers(synth: Synthesized) -> list[str]:
    """The log shippers the platform stack releases (the `log_shipper` setting picks one)."""
    released = {release["name"] for release in synth.resources(PLATFORM_STACK, "helm_release").values()}
    return [name for name, addon in LOG_SHIPPERS.items() if addon.release in released]


def log_shipper_warnings(synth: Synthesized) -> list[str]:
    """One line when the configuration deploys the log shipper its upstream no longer supports."""
    if PROMTAIL.release not in [LOG_SHIPPERS[name].release for name in log_shippers(synth)]:
        return []
    return [
        f"log_shipper=promtail deploys Promtail, which reached end of life on {PROMTAIL_END_OF_LIFE} "
        '(no fixes upstream); the default, alloy, replaces it (docs/runbooks/monitoring.md, "Log shipper cut-over")'
    ]


def platform_namespaces() -> list[str]:
    """The namespaces no app identity may touch besides the other environments': the add-ons', and Kubernetes' own."""
    return list(dict.fromkeys([*(addon.namespace for addon in ADDONS), "kube-system", "default"]))


def user_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """The configuration the operator set (TODO_* variables), which the synth must follow."""
    return {name: value for name, value in environ.items() if name.startswith("TODO_")}


def run_checks(synth: Synthesized, progress: Callable[[str], None] = lambda _: None) -> list[CheckResult]:
    if CLUSTER_STACK not in synth.stacks:  # the local target (TODO_TARGET=local): its own checks, preflight/local.py
        from preflight.local import run_local_checks  # noqa: PLC0415

        return run_local_checks(synth, progress)
    # First: a pool size the node-size table lacks stops preflight in one line before the slow checks.
    node = pool_node_size(synth)
    config = load_config()
    terraform, apps, bootstrap, access = load_and_render(synth, progress)
    progress("policy: checkov over stacks, manifests and workflows")
    policy = check_policy(synth, [*apps, bootstrap, access], config["policy"], workflows=ROOT / ".github" / "workflows")
    progress("consistency, capacity and cost")
    consumers, model_problems = gather_consumers(synth, apps)
    min_nodes, max_nodes = node_pool(synth)
    ha = bool(synth.one(CLUSTER_STACK, "digitalocean_kubernetes_cluster").get("ha"))
    return [
        configuration(synth),
        terraform,
        policy,
        check_consistency(synth, apps, bootstrap, config["consistency"]),
        check_secret_flow(synth),
        check_access(
            [bootstrap, access],
            apps,
            namespaces=[app.namespace for app in apps],
            other_namespaces=platform_namespaces(),
            namespace_objects=synth.namespace_objects(app.namespace for app in apps),
        ),
        check_runtime(synth, apps),
        check_capacity(consumers, model_problems, min_nodes=min_nodes, max_nodes=max_nodes, node=node),
        check_node_loss(consumers, min_nodes=min_nodes, node=node),
        check_cost(
            consumers,
            min_nodes=min_nodes,
            max_nodes=max_nodes,
            node=node,
            ha=ha,
            budget=float(config["cost"]["budget_usd_per_month"]),
            edge=selected_edge(synth),
        ),
    ]


def load_and_render(
    synth: Synthesized, progress: Callable[[str], None]
) -> tuple[CheckResult, list[RenderedRelease], RenderedRelease, RenderedRelease]:
    """What every target's preflight starts from: every stack loaded by Terraform itself (offline), then the app release
    of each environment, the cluster-bootstrap release and the environment-access release rendered as installed."""
    progress("terraform: loading every stack with Terraform itself (offline)")
    with scratch_dir() as scratch:
        terraform = check_terraform(synth, scratch)
    progress("rendering the app chart for each environment, the cluster-bootstrap and environment-access charts")
    apps = [render_app_release(synth, stack) for stack in app_stacks(synth)]
    return terraform, apps, render_bootstrap_release(synth), render_platform_release(synth, ACCESS_RELEASE)


def run_preflight(outdir: Path, *, synthesize_first: bool, progress: Callable[[str], None]) -> list[CheckResult]:
    if synthesize_first:
        progress("synthesizing the stacks of this configuration")
        synth = synthesize(outdir, user_overrides(os.environ))
    else:
        synth = load_synthesized(outdir)
    return run_checks(synth, progress)
