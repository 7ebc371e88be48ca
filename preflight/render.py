"""Render the charts exactly as the synthesized releases would install them (Helm v4 engine, no binary).

The app chart is rendered from each app stack's own asset copy, with the values files the release names and
the keys it `set`s; the cluster-bootstrap chart with the platform release's values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm

from preflight.synth import Synthesized
from todo_infra import yamlload
from todo_infra.chart_values import SAMPLE_IMAGE_TAG, deep_merge
from todo_infra.contracts import APP_RELEASE, APP_STACK_PREFIX, BOOTSTRAP_RELEASE, PLATFORM_STACK

Manifest = dict[str, Any]
#: Stand-in for every entry of the `image_digests` variable (the verified digests exist only at deploy time).
SAMPLE_IMAGE_DIGEST = "sha256:" + "1a2b3c4d" * 8
_DIGEST_ENTRY = re.compile(r'\$\{var\.image_digests\["[a-z0-9-]+"\]\}')
#: Stand-in for each Secret's revision variable (dev.py derives the real ones from the values at deploy time).
SAMPLE_SECRET_REVISION = "4503599627370497"
_REVISION = re.compile(r"\$\{var\.[a-z0-9_]+_revision\}")
_FILE_CALL = re.compile(r'^\$\{file\("(?P<path>[^"]+)"\)\}$')
#: Kinds Helm installs without a namespace of their own.
CLUSTER_SCOPED = {"ClusterIssuer", "ClusterRole", "ClusterRoleBinding", "Namespace", "CustomResourceDefinition"}


@dataclass(frozen=True)
class RenderedRelease:
    stack: str
    release: str
    namespace: str
    values: dict[str, Any]
    documents: tuple[tuple[str, Manifest], ...]

    @property
    def manifests(self) -> list[Manifest]:
        return [doc for _, doc in self.documents]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [doc for doc in self.manifests if doc["kind"] == kind]

    def get(self, kind: str, name: str) -> Manifest:
        matches = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        assert len(matches) == 1, f"expected exactly one {kind}/{name}, found {len(matches)}"
        return matches[0]

    def names(self, kind: str) -> set[str]:
        return {doc["metadata"]["name"] for doc in self.of_kind(kind)}


def set_string(release: Mapping[str, Any]) -> str:
    """The release's `set` list as Helm's --set syntax, the image tag, digest and Secret revision variables given
    sample values."""
    pairs = ",".join(f"{item['name']}={item['value']}" for item in release.get("set", []))
    pairs = _REVISION.sub(SAMPLE_SECRET_REVISION, pairs)
    return _DIGEST_ENTRY.sub(SAMPLE_IMAGE_DIGEST, pairs.replace("${var.image_tag}", SAMPLE_IMAGE_TAG))


def values_file_paths(synth: Synthesized, stack: str, release: Mapping[str, Any]) -> list[Path]:
    """The files the release's `values` read with file(), resolved where Terraform runs (the stack folder)."""
    paths = []
    for entry in release.get("values", []):
        match = _FILE_CALL.match(entry)
        if match:
            paths.append(synth.outdir / "stacks" / stack / match.group("path"))
    return paths


def parse_documents(rendered: Mapping[str, str], namespace: str | None = None) -> tuple[tuple[str, Manifest], ...]:
    """Parsed documents by template; with `namespace`, each namespaced as Helm installs it (`--namespace`)."""
    documents: list[tuple[str, Manifest]] = []
    for template in sorted(rendered):
        for doc in yamlload.load_all(rendered[template]):
            if doc:
                if namespace and doc.get("kind") not in CLUSTER_SCOPED:
                    doc.setdefault("metadata", {}).setdefault("namespace", namespace)
                documents.append((template, doc))
    return tuple(documents)


def render_chart(
    chart_dir: Path, values: dict[str, Any], *, release: str, namespace: str
) -> tuple[tuple[str, Manifest], ...]:
    chart = helm.Chart.load(chart_dir)
    try:
        return parse_documents(chart.render(values, name=release, namespace=namespace, is_install=True), namespace)
    finally:
        chart.close()


def render_app_release(synth: Synthesized, stack: str, overrides: Mapping[str, Any] | None = None) -> RenderedRelease:
    """The todo-app release of one app stack; `overrides` are merged last (used to build failing cases)."""
    release = synth.release(stack, APP_RELEASE)
    values: dict[str, Any] = {}
    for path in values_file_paths(synth, stack, release):
        values = deep_merge(values, yamlload.load(path.read_text()) or {})
    values = deep_merge(values, helm.parse_set_string(set_string(release)))
    values = deep_merge(values, overrides or {})
    chart_dir = synth.outdir / "stacks" / stack / release["chart"]
    documents = render_chart(chart_dir, values, release=APP_RELEASE, namespace=release["namespace"])
    return RenderedRelease(stack, APP_RELEASE, release["namespace"], values, documents)


def inline_values(release: Mapping[str, Any]) -> dict[str, Any]:
    """A release's `values` documents (inline YAML, as the platform stack writes them), merged in order."""
    values: dict[str, Any] = {}
    for document in release.get("values", []):
        values = deep_merge(values, yamlload.load(document) or {})
    return values


def render_platform_release(synth: Synthesized, name: str) -> RenderedRelease:
    """One of the platform stack's local charts (cluster-bootstrap, environment-access) with its inline values."""
    release = synth.release(PLATFORM_STACK, name)
    values = inline_values(release)
    chart_dir = synth.outdir / "stacks" / PLATFORM_STACK / release["chart"]
    documents = render_chart(chart_dir, values, release=name, namespace=release["namespace"])
    return RenderedRelease(PLATFORM_STACK, name, release["namespace"], values, documents)


def render_bootstrap_release(synth: Synthesized) -> RenderedRelease:
    return render_platform_release(synth, BOOTSTRAP_RELEASE)


def app_stacks(synth: Synthesized) -> list[str]:
    return sorted(
        stack for stack in synth.stacks if synth.resources(stack, "helm_release") and stack.startswith(APP_STACK_PREFIX)
    )
