"""Consistency across Terraform and Helm: what the charts expect is what the stacks create."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from preflight.render import RenderedRelease, inline_values, values_file_paths
from preflight.report import CheckResult
from preflight.synth import Synthesized
from todo_infra import services
from todo_infra.addons import EDGE_ADDONS, INGRESS_NGINX, PREEXISTING_NAMESPACES
from todo_infra.app_secrets import APP_SECRETS_NAME, DAPR_APP_TOKEN_KEY
from todo_infra.contracts import (
    APP_STACK_PREFIX,
    BASE_VALUES,
    CLUSTER_ISSUER,
    EDGE_NAMESPACES,
    INGRESS_CLASS,
    PLATFORM_STACK,
    values_file,
)
from todo_infra.settings import EDGE_INGRESS_NGINX

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


def selected_edge(synth: Synthesized) -> str:
    """The edge the platform installs: the one of EDGE_ADDONS whose release the platform stack has."""
    releases = {release["name"] for release in synth.resources(PLATFORM_STACK, "helm_release").values()}
    return next((edge for edge, addon in EDGE_ADDONS.items() if addon.release in releases), "none")


def _ingress(synth: Synthesized, release: RenderedRelease, bootstrap: RenderedRelease) -> tuple[Row, list[str]]:
    outputs = synth.stacks[PLATFORM_STACK]["output"]
    ingress_class, issuer = outputs[INGRESS_CLASS.name]["value"], outputs[CLUSTER_ISSUER.name]["value"]
    edge = selected_edge(synth)
    problems = []
    issuers = {d["metadata"]["name"]: d for d in bootstrap.manifests if d["kind"] == "ClusterIssuer"}
    if issuer not in issuers:
        problems.append(f"platform outputs cluster issuer {issuer!r} but the bootstrap chart renders {sorted(issuers)}")
    app_edge = release.values.get("ingress", {}).get("edge")
    if app_edge != edge:
        problems.append(
            f"{release.stack}: the app release routes through edge {app_edge!r}, the platform runs {edge!r}"
        )
    if edge == EDGE_INGRESS_NGINX:
        problems += _ingress_nginx(synth, release, issuers.get(issuer), ingress_class, issuer)
    else:
        problems += _gateway(release, bootstrap, issuers.get(issuer), ingress_class, issuer)
    policies = [
        d for d in release.manifests if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-from-edge")
    ]
    edge_namespace = EDGE_NAMESPACES.get(edge)
    for policy in policies:
        sources = {
            peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            for rule in policy["spec"].get("ingress", [])
            for peer in rule.get("from", [])
        }
        if sources != {edge_namespace}:
            problems.append(
                f"{release.stack}: NetworkPolicy {policy['metadata']['name']} admits {sorted(map(str, sources))}, "
                f"the edge's proxies run in {edge_namespace!r}"
            )
    return [release.stack, "edge / class / issuer", f"{edge} / {ingress_class} / {issuer}"], problems


def _ingress_nginx(
    synth: Synthesized,
    release: RenderedRelease,
    cluster_issuer: Mapping[str, Any] | None,
    ingress_class: str,
    issuer: str,
) -> list[str]:
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
    if cluster_issuer is not None:
        solver_classes = {
            s.get("http01", {}).get("ingress", {}).get("ingressClassName")
            for s in cluster_issuer["spec"]["acme"]["solvers"]
        }
        if solver_classes != {ingress_class}:
            solvers = sorted(map(str, solver_classes))
            problems.append(
                f"ClusterIssuer {issuer} solves HTTP-01 with class {solvers}, ingress class is {ingress_class!r}"
            )
    return problems


#: The least a route's request timeout may be: Envoy's own default would cut at 15 s; a `streaming` route (SSE) must
#: have none ("0s") or at least an hour, what the ingress-nginx edge gave it (proxy-read-timeout 3600).
MIN_REQUEST_SECONDS = 15
MIN_STREAMING_SECONDS = 3600


def _seconds(duration: str) -> float:
    """A Gateway API duration (e.g. 1h30m, 500ms, 0s) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|h|m|s)", duration))


def _gateway(
    release: RenderedRelease,
    bootstrap: RenderedRelease,
    cluster_issuer: Mapping[str, Any] | None,
    gateway_class: str,
    issuer: str,
) -> list[str]:
    """The Gateway API edge: the app's HTTPRoutes attach to listeners the platform's Gateway has, for its own host and
    namespace; the listener's certificate is the one the release's Certificate keeps and grants; the ClusterIssuer
    answers HTTP-01 through that Gateway; SSE routes are not cut."""
    problems = []
    names = [d["metadata"]["name"] for d in bootstrap.manifests if d["kind"] == "GatewayClass"]
    if names != [gateway_class]:
        problems.append(f"the bootstrap chart renders GatewayClass {names}, the platform outputs {gateway_class!r}")
    gateways = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d for d in bootstrap.manifests if d["kind"] == "Gateway"
    }
    problems += [
        f"Gateway {gateway['metadata']['name']} names class {gateway['spec']['gatewayClassName']!r}"
        for gateway in gateways.values()
        if gateway["spec"]["gatewayClassName"] != gateway_class
    ]
    routes = [d for d in release.manifests if d["kind"] == "HTTPRoute"]
    if not routes:
        problems.append(f"{release.stack}: the app release renders no HTTPRoute")
    for route in routes:
        problems += _route_parents(release, route, gateways)
        problems += _route_timeouts(release, route)
    problems += _gateway_certificate(release, gateways, issuer)
    if cluster_issuer is not None:
        parents = [
            (ref.get("namespace"), ref["name"])
            for s in cluster_issuer["spec"]["acme"]["solvers"]
            for ref in s.get("http01", {}).get("gatewayHTTPRoute", {}).get("parentRefs", [])
        ]
        if not parents or any(parent not in gateways for parent in parents):
            problems.append(
                f"ClusterIssuer {issuer} answers HTTP-01 through {parents}, not the platform's Gateway "
                f"{sorted('/'.join(k) for k in gateways)}"
            )
    return problems


def _route_parents(
    release: RenderedRelease, route: Mapping[str, Any], gateways: Mapping[tuple[str, str], Mapping[str, Any]]
) -> list[str]:
    """An HTTPRoute serves the release's host only, on a listener of the platform's Gateway that serves that host to
    that namespace alone, whose certificate is the one the release keeps."""
    values = release.values.get("ingress", {})
    host, secret, where, name = (
        values.get("host"),
        values.get("tlsSecretName"),
        release.stack,
        route["metadata"]["name"],
    )
    problems = []
    if route["spec"].get("hostnames") != [host]:
        problems.append(f"{where}: HTTPRoute {name} serves {route['spec'].get('hostnames')}, the host is {host!r}")
    for ref in route["spec"]["parentRefs"]:
        gateway = gateways.get((ref.get("namespace", release.namespace), ref["name"]))
        listeners = {item["name"]: item for item in gateway["spec"]["listeners"]} if gateway else {}
        listener = listeners.get(ref.get("sectionName", ""))
        if listener is None:
            problems.append(
                f"{where}: HTTPRoute {name} attaches to {ref.get('namespace')}/{ref['name']} listener "
                f"{ref.get('sectionName')!r}, which the platform's Gateways {sorted('/'.join(k) for k in gateways)} "
                "do not have"
            )
            continue
        admitted = listener["allowedRoutes"]["namespaces"].get("selector", {}).get("matchLabels", {})
        if listener.get("hostname") != host or admitted != {"kubernetes.io/metadata.name": release.namespace}:
            problems.append(
                f"{where}: listener {listener['name']} serves {listener.get('hostname')!r} to {admitted}, not "
                f"{host!r} to namespace {release.namespace}"
            )
        problems += [
            f"{where}: listener {listener['name']} terminates TLS with {cert.get('namespace')}/{cert['name']}, the "
            f"release keeps {release.namespace}/{secret}"
            for cert in listener.get("tls", {}).get("certificateRefs", [])
            if (cert.get("namespace"), cert["name"]) != (release.namespace, secret)
        ]
    return problems


def _route_timeouts(release: RenderedRelease, route: Mapping[str, Any]) -> list[str]:
    """A streaming (SSE) path is never cut: its request timeout is 0s (none) or at least an hour; any other path has
    one of at least 15 s (unset, Envoy's default of 15 s applies)."""
    streaming = {r["path"] for r in release.values.get("ingress", {}).get("routes", []) if r.get("streaming")}
    problems = []
    for rule in route["spec"]["rules"]:
        if "backendRefs" not in rule:
            continue
        paths = sorted(m["path"]["value"] for m in rule.get("matches", []))
        timeout = rule.get("timeouts", {}).get("request")
        seconds = None if timeout is None else _seconds(timeout)
        where = f"{release.stack}: HTTPRoute {route['metadata']['name']} path {paths}"
        if set(paths) & streaming:
            if seconds is None or 0 < seconds < MIN_STREAMING_SECONDS:
                problems.append(
                    f"{where} is streaming (SSE) but is cut after {timeout or 'Envoy default 15s'}: "
                    f"needs 0s (none) or at least {MIN_STREAMING_SECONDS}s"
                )
        elif seconds is None or 0 < seconds < MIN_REQUEST_SECONDS:
            problems.append(f"{where} has request timeout {timeout or 'unset (Envoy default 15s)'}, below 15s")
    return problems


def _gateway_certificate(
    release: RenderedRelease, gateways: Mapping[tuple[str, str], Mapping[str, Any]], issuer: str
) -> list[str]:
    """With TLS on, the release keeps one Certificate of its host from the platform's issuer and grants the Gateway's
    namespace that Secret."""
    values = release.values.get("ingress", {})
    if not values.get("clusterIssuer"):
        return []
    host, secret, where = values.get("host"), values.get("tlsSecretName"), release.stack
    problems = []
    certificates = [
        (d["spec"]["secretName"], d["spec"]["issuerRef"]["name"], d["spec"]["dnsNames"])
        for d in release.manifests
        if d["kind"] == "Certificate"
    ]
    if certificates != [(secret, issuer, [host])]:
        problems.append(f"{where}: expected one Certificate of {host!r} into {secret!r} from {issuer!r}")
    namespaces = {namespace for namespace, _ in gateways}
    granted = any(
        d["kind"] == "ReferenceGrant"
        and any(to.get("kind") == "Secret" and to.get("name") == secret for to in d["spec"]["to"])
        and any(f.get("kind") == "Gateway" and f.get("namespace") in namespaces for f in d["spec"]["from"])
        for d in release.manifests
    )
    if not granted:
        problems.append(f"{where}: no ReferenceGrant lets the platform's Gateway read Secret {secret!r}")
    return problems


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


def _dapr_boundaries(synth: Synthesized, release: RenderedRelease) -> tuple[Row, list[str]]:
    """Each Dapr pod's boundary objects exist where it looks for them (docs/architecture.md, "Dapr sidecars"): the
    app-token Secret its dapr.io/app-token-secret names is one the stack writes, in the release namespace, with the
    key `token` the injector reads; the Configuration its dapr.io/config names is rendered; and every access-control
    policy names an app-id of this release in this namespace (a typo would silently deny the intended caller)."""
    docs = release.manifests
    configurations = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Configuration"}
    written = {
        secret["metadata"]["name"]: secret
        for secret in synth.resources(release.stack, "kubernetes_secret_v1").values()
        if secret["metadata"].get("namespace") == release.namespace
    }
    pods = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            annotations = doc["spec"]["template"]["metadata"].get("annotations", {})
            if annotations.get("dapr.io/enabled") == "true":
                pods[annotations.get("dapr.io/app-id")] = annotations
    problems = []
    policies = 0
    for app_id, annotations in sorted(pods.items()):
        token = annotations.get("dapr.io/app-token-secret")
        if token is None:
            problems.append(f"{release.stack}: Dapr app-id {app_id} names no dapr.io/app-token-secret")
        elif DAPR_APP_TOKEN_KEY not in written.get(token, {}).get("data_wo", {}):
            problems.append(
                f"{release.stack}: Dapr app-id {app_id} reads token Secret {token!r}, which the stack does not write "
                f"with the key {DAPR_APP_TOKEN_KEY!r} in {release.namespace}"
            )
        configuration = configurations.get(annotations.get("dapr.io/config", ""))
        if configuration is None:
            problems.append(
                f"{release.stack}: Dapr app-id {app_id} reads Configuration "
                f"{annotations.get('dapr.io/config')!r}, not rendered"
            )
            continue
        for policy in configuration["spec"].get("accessControl", {}).get("policies") or []:
            policies += 1
            if policy.get("appId") not in pods or policy.get("namespace") != release.namespace:
                problems.append(
                    f"{release.stack}: Configuration {configuration['metadata']['name']} admits app-id "
                    f"{policy.get('namespace')}/{policy.get('appId')}, not a Dapr app-id of this release"
                )
    value = f"{len(pods)} app-ids with their own token Secret and Configuration, {policies} invocation policies"
    return [release.stack, "Dapr boundaries", value], problems


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


def _services() -> tuple[Row, list[str]]:
    """The files that must name every service agree with chart/values.yaml `services:` (todo_infra/services.py)."""
    names = services.names(services.ROOT)
    return ["app", "services (chart/values.yaml)", ", ".join(names)], services.restatement_problems(services.ROOT)


def check_consistency(
    synth: Synthesized, apps: Iterable[RenderedRelease], bootstrap: RenderedRelease, config: Mapping[str, Any]
) -> CheckResult:
    allowed_unused: Mapping[str, str] = config.get("unused_secret_keys") or {}
    apps = list(apps)
    results = [_platform_namespaces(synth), _buckets(synth, apps), _services()]
    for release in apps:
        results += [
            _secrets(synth, release, allowed_unused),
            _values_files(synth, release),
            _ingress(synth, release, bootstrap),
            _namespaces(synth, release),
            _dapr(release),
            _dapr_boundaries(synth, release),
        ]
    rows = [[*row, "ok" if not problems else "FAILED"] for row, problems in results]
    return CheckResult(
        name="consistency",
        title="Consistency (Terraform ↔ Helm)",
        headers=["stack", "what", "value", "result"],
        rows=rows,
        problems=[problem for _, problems in results for problem in problems],
    )
