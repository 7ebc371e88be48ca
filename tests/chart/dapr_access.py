"""Who may reach whom through Dapr, decided as daprd 1.18 decides it, from the rendered Configurations and the pub/sub
Component, and compared with what chart/values.yaml declares (docs/architecture.md, "Dapr sidecars").

Ported from dapr/dapr v1.18.3 (the version the platform pins):
- service invocation: pkg/acl/acl.go (`ParseAccessControlSpec`, `isOperationAllowedByAccessControlPolicy`) and the
  operation trie pkg/config/acl_trie.go (`PutOperationAction`, `Search`, `isMatch`), applied by the CALLEE's sidecar
  with the callee's own Configuration to the caller's SPIFFE ID spiffe://<trust domain>/ns/<namespace>/<app-id>;
- pub/sub: pkg/scopes/scopes.go (`GetScopedTopics`, `GetAllowedTopics`, `GetProtectedTopics`) and
  pkg/runtime/pubsub/adapter.go (`IsOperationAllowed`), checked by the publishing or subscribing app's own sidecar.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from todo_infra.app_secrets import DAPR_APP_TOKEN_KEY, dapr_app_token_secret

HTTP_VERBS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
_SINGLE, _MULTI = "/*", "/**"


def _is_match(target: str, pattern: str) -> bool:
    """acl_trie.go isMatch: `*` matches any run of characters, empty included."""
    results = [[False] * (len(pattern) + 1) for _ in range(len(target) + 1)]
    results[0][0] = True
    for j, char in enumerate(pattern, 1):
        if char != "*":
            break
        results[0][j] = True
    for i in range(1, len(target) + 1):
        for j in range(1, len(pattern) + 1):
            if pattern[j - 1] == "*":
                results[i][j] = results[i][j - 1] or results[i - 1][j]
            elif target[i - 1] == pattern[j - 1]:
                results[i][j] = results[i - 1][j - 1]
    return results[len(target)][len(pattern)]


@dataclass
class _Node:
    char: str
    data: Mapping[str, Any] | None = None
    children: list[_Node] = field(default_factory=list)

    def find(self, target: str, is_end: bool) -> _Node | None:
        """acl_trie.go findNodeWithWildcard."""
        for node in self.children:
            if node.char == target:
                return node
            if node.char == _SINGLE:
                if is_end:
                    return node
                continue
            if node.char == _MULTI:
                return node
            if _is_match(target, node.char):
                return node
        return None


class _Trie:
    def __init__(self) -> None:
        self.root = _Node("/")

    def put(self, operation: str, data: Mapping[str, Any]) -> None:
        parts = operation.split("/")
        node = self.root
        for index, part in enumerate(parts[1:], 1):
            char = "/" + part
            existing = next((n for n in node.children if n.char == char), None)
            if existing is None:
                new = _Node(char, data if index == len(parts) - 1 else None)
                node.children.append(new)
                node = new
            elif index == len(parts) - 1:
                if existing.data is None:
                    existing.data = data
            else:
                node = existing

    def search(self, operation: str) -> Mapping[str, Any] | None:
        parts = operation.split("/")
        node: _Node | None = self.root
        for index, part in enumerate(parts[1:], 1):
            is_end = index == len(parts) - 1
            assert node is not None
            node = node.find("/" + part, is_end)
            if node is None:
                return None
            if node.data is not None:
                if not is_end and node.char.endswith("*") and not node.char.endswith(_MULTI):
                    continue
                return node.data
            if is_end:
                wildcard = node.find(_SINGLE, is_end)
                if wildcard is not None and wildcard.data is not None:
                    return wildcard.data
        return None


@dataclass(frozen=True)
class Caller:
    """A calling sidecar's identity, as Sentry issues it."""

    app_id: str
    namespace: str
    trust_domain: str = "public"


class AccessControlError(ValueError):
    """daprd refuses the Configuration (ParseAccessControlSpec): the sidecar would not start with it."""


def normalize_method(method: str) -> str | None:
    """daprd's NormalizeMethod (pkg/messaging/method/normalize.go at v1.18.3), applied to the method before the access
    check: None where it refuses the method ('#', '?', NUL or a control character), else Go's path.Clean of it with
    any leading "../" stripped and "."/".." made empty."""
    if any(c in method for c in "#?\x00") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in method):
        return None
    cleaned = posixpath.normpath(re.sub(r"/+", "/", method)) if method else "."
    while cleaned.startswith("../"):
        cleaned = cleaned[3:]
    return "" if cleaned in (".", "..") else cleaned


def may_invoke(configuration: Mapping[str, Any], caller: Caller, operation: str, verb: str) -> bool:
    """Whether the callee whose Configuration this is admits an HTTP invocation of `operation` with `verb`, after
    daprd has normalized the method (a refused method is refused)."""
    normalized = normalize_method(operation)
    if normalized is None:
        return False
    operation = normalized
    spec = configuration.get("spec", {}).get("accessControl")
    if not spec or not (spec.get("trustDomain") or spec.get("defaultAction") or spec.get("policies")):
        return True  # no access control: everything allowed
    policies = spec.get("policies") or []
    default = (spec.get("defaultAction") or "").lower() or ("deny" if policies or "policies" not in spec else "allow")
    table: dict[tuple[str, str], tuple[Mapping[str, Any], _Trie]] = {}
    for policy in policies:
        if not policy.get("appId") or not policy.get("trustDomain") or not policy.get("namespace"):
            raise AccessControlError(f"policy {policy!r} lacks appId, trustDomain or namespace")
        trie = _Trie()
        for item in policy.get("operations") or []:
            name = item["name"] if item["name"].startswith("/") else "/" + item["name"]
            name = name.lower()
            trie.put(name, {"verbs": {v: item["action"] for v in item.get("httpVerb") or []}, "action": item["action"]})
        table[(policy["appId"], policy["namespace"])] = (policy, trie)
    found = table.get((caller.app_id, caller.namespace))
    if found is None:
        return default.lower() == "allow"
    policy, trie = found
    if policy["trustDomain"] != caller.trust_domain or policy["namespace"] != caller.namespace:
        return default.lower() == "allow"
    action = policy.get("defaultAction") or default
    path = (operation if operation.startswith("/") else "/" + operation).lower()
    matched = trie.search(path)
    if matched is not None:
        action = matched["verbs"].get(verb, matched["verbs"].get("*", action))
    return str(action).lower() == "allow"


def declared_invocation(services: Mapping[str, Any], caller: str, callee: str, operation: str, verb: str) -> bool:
    """Whether values declare this call: the caller is an invoker of the callee with an operation whose name is the
    path or a segment prefix of it (the chart documents that a name also covers the paths below it), for the verb."""
    normalized = normalize_method(operation)
    if normalized is None:
        return False
    path = (normalized if normalized.startswith("/") else "/" + normalized).lower()
    for invoker in services[callee]["dapr"]["invokers"]:
        if invoker["appId"] != caller:
            continue
        for item in invoker["operations"]:
            name = item["name"]
            if (path == name or path.startswith(name + "/")) and verb in item["httpVerb"]:
                return True
    return False


def dapr_apps(values: Mapping[str, Any]) -> list[str]:
    """The Dapr app-ids values.yaml (as merged for the release) declares: enabled services with a sidecar."""
    return sorted(name for name, svc in values["services"].items() if svc["enabled"] and svc["dapr"]["enabled"])


def probe_paths(values: Mapping[str, Any]) -> list[str]:
    """Paths worth asking about: every subscription route, every declared operation and a path below it, the routes
    daprd calls on its own app, and one no one declares."""
    # the traversal ones: what daprd's normalization turns into a subscription or daprd's own route
    paths = {"/dapr/subscribe", "/dapr/config", "/undeclared", "/undeclared/../dapr/subscribe", "/x/..//dapr/config"}
    for svc in values["services"].values():
        paths |= {s["route"] for s in svc["subscriptions"]}
        for invoker in svc["dapr"]["invokers"]:
            for item in invoker["operations"]:
                paths |= {item["name"], item["name"] + "/below", item["name"] + "/../../dapr/subscribe"}
        paths |= {s["route"].replace("/dapr/", "/dapr/./x/../", 1) for s in svc["subscriptions"]}
    return sorted(paths)


def invocation_problems(
    configurations: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any], namespace: str
) -> list[str]:
    """Every invocation daprd would admit that values do not declare, every declared one it would refuse, and every
    policy naming an app-id that is no Dapr app of the release. `configurations` maps each app-id to the Configuration
    its sidecar reads."""
    apps = dapr_apps(values)
    problems = []
    for callee in apps:
        configuration = configurations.get(callee)
        if configuration is None:
            problems.append(f"{callee}: its sidecar reads no Configuration of this release")
            continue
        policies = configuration.get("spec", {}).get("accessControl", {}).get("policies") or []
        problems += [
            f"{callee}: a policy names app-id {p.get('appId')!r}, which is no Dapr app of this release"
            for p in policies
            if p.get("appId") not in apps
        ]
        callers = [Caller(app, namespace) for app in apps] + [Caller(app, "other-namespace") for app in apps]
        for caller in callers:
            for path in probe_paths(values):
                for verb in HTTP_VERBS:
                    try:
                        allowed = may_invoke(configuration, caller, path, verb)
                    except AccessControlError as error:
                        return [f"{callee}: daprd refuses its Configuration: {error}"]
                    declared = caller.namespace == namespace and declared_invocation(
                        values["services"], caller.app_id, callee, path, verb
                    )
                    if allowed and not declared:
                        problems.append(
                            f"{caller.namespace}/{caller.app_id} may call {verb} {path} on {callee}, undeclared"
                        )
                    if declared and not allowed:
                        problems.append(f"{caller.app_id} is declared to call {verb} {path} on {callee} but is refused")
    return problems


# --- pub/sub -------------------------------------------------------------------------------------------------------


def _param(metadata: Mapping[str, str], name: str) -> str | None:
    """scopes.go findParamInMetadata: names compare case-insensitively."""
    return next((value for key, value in metadata.items() if key.lower() == name.lower()), None)


def _topics(value: str | None) -> list[str]:
    if not value:
        return []
    return list(dict.fromkeys(value.replace(" ", "").split(",")))


def scoped_topics(metadata: Mapping[str, str], scope: str, app_id: str) -> list[str]:
    """scopes.go GetScopedTopics."""
    topics: list[str] = []
    value = _param(metadata, scope)
    if not value:
        return topics
    for entry in value.replace(" ", "").split(";"):
        parts = entry.split("=")
        if len(parts) < 2 or parts[0] != app_id:
            continue
        topics += [t for t in parts[1].split(",") if t not in topics]
    return topics


def pubsub_allows(metadata: Mapping[str, str], topic: str, scoped: list[str]) -> bool:
    """adapter.go IsOperationAllowed."""
    allowed = _topics(_param(metadata, "allowedTopics"))
    if allowed and topic not in allowed:
        return False
    protected = topic in _topics(_param(metadata, "protectedTopics"))
    if not protected and not scoped:
        return True
    return topic in scoped


def pubsub_metadata(component: Mapping[str, Any]) -> dict[str, str]:
    return {item["name"]: str(item["value"]) for item in component["spec"]["metadata"] if "value" in item}


def pubsub_problems(
    component: Mapping[str, Any], values: Mapping[str, Any], extra_topics: Iterable[str] = ()
) -> list[str]:
    """Every publish or subscription daprd would admit that values do not declare (for the environment's topics, and
    `extra_topics` an app might name that are no topic of values), and every declared one it would refuse."""
    metadata = pubsub_metadata(component)
    topics = values["topics"]
    problems = []
    for app in dapr_apps(values):
        svc = values["services"][app]
        if "pubsub" not in svc["dapr"]["components"]:
            continue
        declared = {
            "publish": {topics[key] for key in svc["dapr"]["publishes"]},
            "subscribe": {topics[s["topic"]] for s in svc["subscriptions"]},
        }
        for operation, scope in (("publish", "publishingScopes"), ("subscribe", "subscriptionScopes")):
            scoped = scoped_topics(metadata, scope, app)
            for topic in sorted({*topics.values(), *extra_topics}):
                allowed = pubsub_allows(metadata, topic, scoped)
                if allowed and topic not in declared[operation]:
                    problems.append(f"{app} may {operation} {topic!r}, undeclared")
                if topic in declared[operation] and not allowed:
                    problems.append(f"{app} is declared to {operation} {topic!r} but is refused")
    return problems


# --- app tokens ----------------------------------------------------------------------------------------------------


def token_problems(deployments: Iterable[Mapping[str, Any]], token_env: str, written: Iterable[str]) -> list[str]:
    """Each Dapr pod must name its own app-id's token Secret (one the app stack writes) in dapr.io/app-token-secret,
    and give its app container the same Secret's `token` as `token_env`; no two app-ids may share a Secret."""
    problems = []
    owners: dict[str, str] = {}
    written = set(written)
    for deployment in deployments:
        template = deployment["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        if annotations.get("dapr.io/enabled") != "true":
            continue
        app = annotations["dapr.io/app-id"]
        secret = annotations.get("dapr.io/app-token-secret")
        if secret is None:
            problems.append(f"{app}: no dapr.io/app-token-secret: its sidecar sends no token, any pod can pose as it")
            continue
        if secret != dapr_app_token_secret(app):
            problems.append(f"{app}: reads token Secret {secret!r}, not its own {dapr_app_token_secret(app)!r}")
        if secret not in written:
            problems.append(f"{app}: token Secret {secret!r} is not one the app stack writes")
        if secret in owners:
            problems.append(f"{app} and {owners[secret]} share the token Secret {secret!r}")
        owners[secret] = app
        env = {e["name"]: e for e in template["spec"]["containers"][0].get("env", [])}
        ref = env.get(token_env, {}).get("valueFrom", {}).get("secretKeyRef")
        if ref != {"name": secret, "key": DAPR_APP_TOKEN_KEY}:
            problems.append(f"{app}: the app container's {token_env} is {ref!r}, not {secret}/{DAPR_APP_TOKEN_KEY}")
    return problems
