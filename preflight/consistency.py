"""Consistency across Terraform and Helm: what the charts expect is what the stacks create."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from preflight.render import RenderedRelease, inline_values, values_file_paths
from preflight.report import CheckResult
from preflight.synth import Synthesized
from todo_infra.addons import INGRESS_NGINX, PREEXISTING_NAMESPACES
from todo_infra.app_secrets import APP_SECRETS_NAME
from todo_infra.contracts import (
    APP_STACK_PREFIX,
    BASE_VALUES,
    CLUSTER_ISSUER,
    INGRESS_CLASS,
    PLATFORM_STACK,
    values_file,
)

Row = list[str]


def _walk(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def secret_keys_read(release: RenderedRelease) -> set[str]:
    """Keys of app-secrets read anywhere: pod env `secretKeyRef`s and Dapr component `secretKeyRef`s."""
    return {
        node["secretKeyRef"]["key"]
        for doc in release.manifests
        for node in _walk(doc)
        if isinstance(node.get("secretKeyRef"), Mapping) and node["secretKeyRef"].get("name") == APP_SECRETS_NAME
    }


def _secrets(synth: Synthesized, release: RenderedRelease, allowed_unused: Mapping[str, str]) -> tuple[Row, list[str]]:
    created = set(synth.secret(release.stack, APP_SECRETS_NAME)["data_wo"])
    read = secret_keys_read(release)
    problems = [
        f"{release.stack}: manifests read app-secrets key {key} that the stack does not create"
        for key in sorted(read - created)
    ]
    problems += [
        f"{release.stack}: the stack creates app-secrets key {key} that no manifest reads"
        for key in sorted(created - read - set(allowed_unused))
    ]
    note = f"{len(read & created)}/{len(created)} read" + (
        f", allowed unused: {', '.join(sorted(set(allowed_unused) & created - read))}"
        if set(allowed_unused) & created - read
        else ""
    )
    return [release.stack, "app-secrets keys", note], problems


def _values_files(synth: Synthesized, release: RenderedRelease) -> tuple[Row, list[str]]:
    terraform = synth.release(release.stack, release.release)
    paths = values_file_paths(synth, release.stack, terraform)
    names = [path.name for path in paths]
    problems = [
        f"{release.stack}: values file {path.name} is missing from the release's chart"
        for path in paths
        if not path.is_file()
    ]
    expected = [BASE_VALUES, values_file(release.namespace)]
    if names != expected:
        problems.append(f"{release.stack}: release reads {names}, expected {expected}")
    return [release.stack, "values files", ", ".join(names)], problems


def _ingress(synth: Synthesized, release: RenderedRelease, bootstrap: RenderedRelease) -> tuple[Row, list[str]]:
    outputs = synth.stacks[PLATFORM_STACK]["output"]
    ingress_class, issuer = outputs[INGRESS_CLASS.name]["value"], outputs[CLUSTER_ISSUER.name]["value"]
    controller = inline_values(synth.release(PLATFORM_STACK, INGRESS_NGINX.release)).get("controller", {})
    created_class = controller.get("ingressClassResource", {}).get("name")
    problems = []
    if created_class != ingress_class:
        problems.append(f"ingress-nginx creates IngressClass {created_class!r}, the platform outputs {ingress_class!r}")
    for ingress in (d for d in release.manifests if d["kind"] == "Ingress"):
        name, used = ingress["metadata"]["name"], ingress["spec"].get("ingressClassName")
        if used != ingress_class:
            problems.append(
                f"{release.stack}: Ingress {name} uses class {used!r}, the platform creates {ingress_class!r}"
            )
        named = ingress["metadata"].get("annotations", {}).get("cert-manager.io/cluster-issuer")
        if named is not None and named != issuer:
            problems.append(
                f"{release.stack}: Ingress {name} names cluster issuer {named!r}, the platform creates {issuer!r}"
            )
    issuers = {d["metadata"]["name"]: d for d in bootstrap.manifests if d["kind"] == "ClusterIssuer"}
    if issuer not in issuers:
        problems.append(f"platform outputs cluster issuer {issuer!r} but the bootstrap chart renders {sorted(issuers)}")
    else:
        solver_classes = {
            s["http01"]["ingress"].get("ingressClassName") for s in issuers[issuer]["spec"]["acme"]["solvers"]
        }
        if solver_classes != {ingress_class}:
            solvers = sorted(map(str, solver_classes))
            problems.append(
                f"ClusterIssuer {issuer} solves HTTP-01 with class {solvers}, ingress class is {ingress_class!r}"
            )
    return [release.stack, "ingress class / issuer", f"{ingress_class} / {issuer}"], problems


def _namespaces(synth: Synthesized, release: RenderedRelease) -> tuple[Row, list[str]]:
    created = {ns["metadata"]["name"] for ns in synth.resources(PLATFORM_STACK, "kubernetes_namespace_v1").values()}
    used = {d["metadata"]["namespace"] for d in release.manifests if "namespace" in d["metadata"]}
    problems = []
    if release.namespace not in created:
        problems.append(
            f"{release.stack}: release installs into {release.namespace!r}, the platform creates {sorted(created)}"
        )
    if used - {release.namespace}:
        problems.append(f"{release.stack}: manifests name other namespaces {sorted(used - {release.namespace})}")
    return [release.stack, "namespace", release.namespace], problems


def _platform_namespaces(synth: Synthesized) -> tuple[Row, list[str]]:
    created = {ns["metadata"]["name"] for ns in synth.resources(PLATFORM_STACK, "kubernetes_namespace_v1").values()}
    created |= set(PREEXISTING_NAMESPACES)
    releases = synth.resources(PLATFORM_STACK, "helm_release").values()
    problems = [
        f"platform: release {r['name']} installs into {r['namespace']!r}, which the stack does not create"
        for r in releases
        if r["namespace"] not in created
    ]
    return [PLATFORM_STACK, "add-on namespaces", ", ".join(sorted(created))], problems


def _dapr(release: RenderedRelease) -> tuple[Row, list[str]]:
    docs = release.manifests
    components = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Component"}
    app_ids = {
        d["spec"]["template"]["metadata"].get("annotations", {}).get("dapr.io/app-id")
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
    } - {None}
    problems = []
    for doc in docs:
        if doc["kind"] == "Subscription" and doc["spec"]["pubsubname"] not in components:
            subscription, pubsub = doc["metadata"]["name"], doc["spec"]["pubsubname"]
            problems.append(
                f"{release.stack}: Subscription {subscription} uses pubsub {pubsub!r}, not a rendered Component"
            )
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if (
                    env["name"].startswith("DAPR_")
                    and env["name"].endswith("_NAME")
                    and env.get("value") not in components
                ):
                    workload, setting = doc["metadata"]["name"], f"{env['name']}={env.get('value')!r}"
                    problems.append(f"{release.stack}: {workload} sets {setting}, not a rendered Component")
    for name, component in components.items():
        unknown = set(component.get("scopes", [])) - app_ids
        if unknown:
            problems.append(f"{release.stack}: Component {name} is scoped to unknown app-ids {sorted(unknown)}")
    return [release.stack, "Dapr components", ", ".join(sorted(components))], problems


def _buckets(synth: Synthesized, apps: Iterable[RenderedRelease]) -> tuple[Row, list[str]]:
    """Each app environment keeps its state and its Redis backups in buckets no other stack names: Spaces keys are
    limited per bucket, so a bucket shared with another stack would give one environment's key reach into the other's
    data (docs/architecture.md, "State")."""
    users: dict[str, list[str]] = {}
    for stack_id, stack in synth.stacks.items():
        backend = stack.get("terraform", {}).get("backend", {}).get("s3")
        if backend:
            users.setdefault(backend["bucket"], []).append(f"{stack_id}'s state")
    mine: dict[str, list[str]] = {}
    for release in apps:
        offsite = release.values.get("redis", {}).get("backup", {}).get("offsite", {})
        if offsite.get("bucket"):
            users.setdefault(offsite["bucket"], []).append(f"{release.stack}'s Redis backups")
    for bucket, held in users.items():
        for holder in held:
            if holder.startswith(APP_STACK_PREFIX):
                mine.setdefault(holder.split("'", 1)[0], []).append(bucket)
    problems = [
        f"bucket {bucket} holds {' and '.join(sorted(held))}: an app environment's bucket must be its own"
        for bucket, held in users.items()
        if len(held) > 1 and any(holder.startswith(APP_STACK_PREFIX) for holder in held)
    ]
    value = "; ".join(f"{stack}: {', '.join(buckets)}" for stack, buckets in mine.items()) or "no bucket (local state)"
    return ["app-*", "own buckets", value], problems


def check_consistency(
    synth: Synthesized, apps: Iterable[RenderedRelease], bootstrap: RenderedRelease, config: Mapping[str, Any]
) -> CheckResult:
    allowed_unused: Mapping[str, str] = config.get("unused_secret_keys") or {}
    apps = list(apps)
    results = [_platform_namespaces(synth), _buckets(synth, apps)]
    for release in apps:
        results += [
            _secrets(synth, release, allowed_unused),
            _values_files(synth, release),
            _ingress(synth, release, bootstrap),
            _namespaces(synth, release),
            _dapr(release),
        ]
    rows = [[*row, "ok" if not problems else "FAILED"] for row, problems in results]
    return CheckResult(
        name="consistency",
        title="Consistency (Terraform ↔ Helm)",
        headers=["stack", "what", "value", "result"],
        rows=rows,
        problems=[problem for _, problems in results for problem in problems],
    )
