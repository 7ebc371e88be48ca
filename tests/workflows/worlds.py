"""Worlds for fake_cli: the GitHub, registry and attestation states the release-integrity scenarios start from.

Each function returns a fragment of a world; `world(...)` merges fragments. Digests are derived from the service, the
commit and a build label, so a rebuild of the same commit (another label) has another digest, as it would for real.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tests.workflows import fake_cli
from tests.workflows.gha_support import load_script

images = load_script("images")

REPOSITORY = "example-org/hackathon-todo-infra"
OWNER = "example-org"
BUILD_WORKFLOW = f"{REPOSITORY}/{images.BUILD_WORKFLOW}"
SERVICES = tuple(entry["service"] for entry in images.load()["services"])
MAIN = "refs/heads/main"


def digest(service: str, commit: str, build: str = "main") -> str:
    return "sha256:" + hashlib.sha256(f"{service}@{commit}#{build}".encode()).hexdigest()


def image(service: str) -> str:
    return str(images.image_name(images.load(), owner=OWNER, service=service))


def built(
    commit: str,
    *,
    build: str = "main",
    tag: str | None = None,
    ref: str = MAIN,
    workflow: str = BUILD_WORKFLOW,
    repository: str = REPOSITORY,
    predicates: Iterable[str] = tuple(images.PREDICATES.values()),
    services: Iterable[str] = SERVICES,
    self_hosted: bool = False,
) -> dict[str, Any]:
    """Images of `commit` pushed under `tag` (default sha-<7>) and attested by `workflow` on `ref`."""
    tag = tag or images.commit_tag(commit)
    registry = {f"{image(s)}:{tag}": digest(s, commit, build) for s in services}
    attestations = [
        {
            "digest": digest(s, commit, build),
            "predicate": predicate,
            "repository": repository,
            "workflow": workflow,
            "ref": ref,
            "commit": commit,
            "self_hosted": self_hosted,
        }
        for s in services
        for predicate in predicates
    ]
    return {"registry": registry, "attestations": attestations}


def environment(
    name: str,
    *,
    branches: Iterable[tuple[str, str]] = (("branch", "main"),),
    custom: bool = True,
    protected: bool = False,
    reviewers: bool = True,
    self_review: bool = False,
    admins_bypass: bool = False,
    repository: str = REPOSITORY,
) -> dict[str, Any]:
    """The API answers for one environment and its deployment branch policies (the documented settings by default)."""
    rules: list[dict[str, Any]] = [{"type": "branch_policy"}]
    if reviewers:
        rules.append(
            {"type": "required_reviewers", "prevent_self_review": not self_review, "reviewers": [{"type": "Team"}]}
        )
    settings = {
        "name": name,
        "protection_rules": rules,
        "deployment_branch_policy": {"protected_branches": protected, "custom_branch_policies": custom},
        "can_admins_bypass": admins_bypass,
    }
    policies = {"branch_policies": [{"type": kind, "name": pattern} for kind, pattern in branches]}
    base = f"repos/{repository}/environments/{name}"
    return {"api": {base: settings, f"{base}/deployment-branch-policies": policies}}


def build_runs(*runs: Mapping[str, Any], repository: str = REPOSITORY) -> dict[str, Any]:
    """build.yml's runs as the API lists them, newest first."""
    return {"api": {f"repos/{repository}/actions/workflows/build.yml/runs": {"workflow_runs": list(runs)}}}


def build_run(commit: str, *, conclusion: str = "success", event: str = "push", branch: str = "main") -> dict[str, Any]:
    return {"head_sha": commit, "conclusion": conclusion, "event": event, "head_branch": branch, "status": "completed"}


def world(*fragments: Mapping[str, Any]) -> dict[str, Any]:
    """The fragments merged: mappings key by key, lists concatenated."""
    merged: dict[str, Any] = {}
    for fragment in fragments:
        for key, value in fragment.items():
            if isinstance(value, Mapping):
                merged[key] = {**merged.get(key, {}), **value}
            elif isinstance(value, list):
                merged[key] = [*merged.get(key, []), *value]
            else:
                merged[key] = value
    return merged


def in_process(fake_world: Mapping[str, Any]) -> Callable[[Sequence[str]], subprocess.CompletedProcess[str]]:
    """A stand-in for images.py's `_run` that answers `gh` and `docker` from `fake_world` without a process: the
    same model as the fakes on PATH (fake_cli.py), for the many refusal cases that need no shell around them."""

    def run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        out, err = io.StringIO(), io.StringIO()
        tool = fake_cli.gh if command[0] == "gh" else fake_cli.docker
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = tool(dict(fake_world), list(command[1:]))
        return subprocess.CompletedProcess(list(command), code, out.getvalue(), err.getvalue())

    return run
