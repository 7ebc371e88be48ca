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
from pathlib import Path
from typing import Any

from tests.workflows import fake_cli
from tests.workflows.gha_support import load_script

images = load_script("images")
deploy_gate = load_script("deploy_gate")

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
    any_branch: bool = False,
    reviewers: bool = True,
    reviewer_team: int = 1,
    self_review: bool = False,
    admins_bypass: bool = False,
    repository: str = REPOSITORY,
) -> dict[str, Any]:
    """The API answers for one environment and its deployment branch policies (the documented settings by default).
    `any_branch`: no deployment branch rule at all (the plan environments), and no branch policies to list."""
    rules: list[dict[str, Any]] = [] if any_branch else [{"type": "branch_policy"}]
    if reviewers:
        rules.append(
            {
                "type": "required_reviewers",
                "prevent_self_review": not self_review,
                "reviewers": [{"type": "Team", "reviewer": {"id": reviewer_team}}],
            }
        )
    settings = {
        "name": name,
        "protection_rules": rules,
        "deployment_branch_policy": None
        if any_branch
        else {"protected_branches": protected, "custom_branch_policies": custom},
        "can_admins_bypass": admins_bypass,
    }
    base = f"repos/{repository}/environments/{name}"
    if any_branch:
        return {"api": {base: settings}}
    policies = {"branch_policies": [{"type": kind, "name": pattern} for kind, pattern in branches]}
    return {"api": {base: settings, f"{base}/deployment-branch-policies": policies}}


#: The required settings (docs/workflows.md) of every environment, as `environment()` arguments: deploys from main
#: only, reviewers where a person must approve, the plan environments open to any branch (a pull request's).
DOCUMENTED: Mapping[str, Mapping[str, Any]] = {
    "staging": {"reviewers": False},
    "production": {},
    "staging-plan": {"any_branch": True},
    "production-plan": {"any_branch": True},
    "drift": {},
}


def environments(
    changed: Mapping[str, Mapping[str, Any]] | None = None, *, missing: Iterable[str] = ()
) -> dict[str, Any]:
    """Every environment with the required settings, those in `changed` with other `environment()` arguments, those in
    `missing` not there at all."""
    changed = changed or {}
    absent = set(missing)
    return world(
        *(
            environment(name, **{**settings, **changed.get(name, {})})
            for name, settings in DOCUMENTED.items()
            if name not in absent
        )
    )


def build_runs(*runs: Mapping[str, Any], repository: str = REPOSITORY) -> dict[str, Any]:
    """build.yml's runs as the API lists them, newest first."""
    return {"api": {f"repos/{repository}/actions/workflows/build.yml/runs": {"workflow_runs": list(runs)}}}


def run_id(commit: str) -> int:
    """The id of the build run of `commit` in these worlds."""
    return int(commit[:8], 16)


def build_run(commit: str, *, conclusion: str = "success", event: str = "push", branch: str = "main") -> dict[str, Any]:
    return {
        "id": run_id(commit),
        "head_sha": commit,
        "conclusion": conclusion,
        "event": event,
        "head_branch": branch,
        "status": "completed",
    }


def recorded(
    commit: str, *, build: str = "main", services: Iterable[str] = SERVICES, run: int | None = None
) -> dict[str, Any]:
    """The build record main's build run of `commit` kept: the artifact image-digest-<service> of each image."""
    artifacts = {
        images.RECORD_ARTIFACT.format(service=s): {"digest": digest(s, commit, build) + "\n"} for s in services
    }
    return {"artifacts": {str(run if run is not None else run_id(commit)): artifacts}}


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


def api_answers(folder: Path, fake_world: Mapping[str, Any], environment: str) -> Path:
    """What check_environments.sh leaves for deploy_gate.py when `gh api` answers from `fake_world`: `<name>.json` and
    `<name>.policies.json` of every environment a run for `environment` checks, `.error` beside a failed call."""
    answers = folder / "answers"
    answers.mkdir(parents=True, exist_ok=True)
    for name in deploy_gate.checked_environments(environment):
        base = f"repos/{REPOSITORY}/environments/{name}"
        for stem, path in ((name, base), (f"{name}.policies", f"{base}/deployment-branch-policies")):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                fake_cli.gh(dict(fake_world), ["api", path])
            (answers / f"{stem}.json").write_text(out.getvalue())
            (answers / f"{stem}.error").write_text(err.getvalue())
    return answers


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
