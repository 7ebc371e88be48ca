#!/usr/bin/env python3
"""Who may deploy, from where, and what: the checks the deploy workflows make before an environment's secrets are used.

The trust boundary is GitHub's environments (README, "Threat model"): `staging`, `production` and `drift` accept
jobs from refs/heads/main only, and production only after a reviewer who did not start the run. No workflow can
enforce that for code it does not control, so the settings are required, and the workflows on main check them through
the API and refuse to go on when they are weaker, or when a run comes from a ref, event or workflow the environment
does not serve: a misconfiguration stops a deploy instead of passing unnoticed. This script also picks what staging
deploys (the newest commit of main whose build succeeded) and which release runs a rollback stops. Standard library
only; GitHub's answers arrive as JSON files or on stdin (`gh api`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MAIN = "refs/heads/main"
COMMIT = re.compile(r"^[0-9a-f]{40}$")
#: environment -> the (event, workflow file) pairs that may deploy to it, always from refs/heads/main.
CALLERS: Mapping[str, frozenset[tuple[str, str]]] = {
    "staging": frozenset({("workflow_run", "deploy-staging.yml")}),
    "production": frozenset(
        {("workflow_dispatch", "deploy-production.yml"), ("workflow_dispatch", "deploy-infrastructure.yml")}
    ),
    "drift": frozenset({("schedule", "drift.yml"), ("workflow_dispatch", "drift.yml")}),
}
#: Environments whose jobs wait for a reviewer (and whose administrators may not skip that).
REVIEWED = frozenset({"production"})
#: The suffix deploy-production.yml's run-name gives a run a published release started.
RELEASE_RUN_SUFFIX = "(release)"


class GateError(ValueError):
    """A run, an environment or an API answer the deploy must not go on with; the message says what and why."""


def workflow_file(workflow_ref: str, repository: str) -> tuple[str, str]:
    """(file, ref) of `owner/repo/.github/workflows/<file>@<ref>`, GitHub's `github.workflow_ref`."""
    path, _, ref = workflow_ref.partition("@")
    prefix = f"{repository}/.github/workflows/"
    return (path.removeprefix(prefix) if path.startswith(prefix) else path), ref


def check_run(environment: str, *, ref: str, event: str, workflow_ref: str, repository: str) -> None:
    """Refuse a run that is not one of the environment's callers on main (the workflow file's own ref included)."""
    callers = CALLERS.get(environment)
    if callers is None:
        raise GateError(f"unknown environment {environment!r}: expected one of {', '.join(sorted(CALLERS))}")
    file, file_ref = workflow_file(workflow_ref, repository)
    if ref != MAIN or file_ref != MAIN or (event, file) not in callers:
        allowed = ", ".join(f"{name} on {kind}" for kind, name in sorted(callers))
        this = f"{event} of {file or '?'}@{file_ref or '?'} on {ref or '?'}"
        raise GateError(f"{environment} accepts only runs of {allowed} from {MAIN}; this is {this}")


def environment_problems(environment: str, settings: Mapping[str, Any], policies: Mapping[str, Any]) -> list[str]:
    """How the environment's settings (GET environments/<name> and its deployment-branch-policies) fall short."""
    problems = []
    branches = settings.get("deployment_branch_policy") or {}
    rules = [(policy.get("type", "branch"), policy.get("name")) for policy in policies.get("branch_policies", [])]
    only_main = branches.get("custom_branch_policies") and not branches.get("protected_branches")
    if not only_main or rules != [("branch", "main")]:
        problems.append(f"deployment branches must be the branch main alone (Selected branches and tags), not {rules}")
    if environment in REVIEWED:
        protection = settings.get("protection_rules", [])
        reviewers: Mapping[str, Any] = next((r for r in protection if r.get("type") == "required_reviewers"), {})
        if not reviewers.get("reviewers"):
            problems.append("required reviewers: none set")
        elif not reviewers.get("prevent_self_review"):
            problems.append("prevent self-review is off: whoever starts a deploy could approve it")
        if settings.get("can_admins_bypass", True):
            problems.append("administrators may bypass the protection rules: turn 'Allow administrators to bypass' off")
    return problems


def newest_main_build(runs: Mapping[str, Any]) -> str:
    """The commit of the newest successful push build of main, from the workflow-runs API (newest first)."""
    for run in runs.get("workflow_runs", []):
        if (run.get("event"), run.get("head_branch"), run.get("conclusion")) == ("push", "main", "success"):
            commit = str(run.get("head_sha", ""))
            if not COMMIT.fullmatch(commit):
                raise GateError(f"the newest build of main names no commit ({commit!r})")
            return commit
    raise GateError("main has no successful build yet: there is nothing to deploy")


#: Run states in which nothing has been applied yet: waiting for a reviewer, or not started.
NOT_APPROVED = frozenset({"waiting", "pending", "queued", "requested"})


def waiting_releases(runs: Mapping[str, Any], *, current_run: int) -> list[int]:
    """Runs of deploy-production a published release started that have not been approved yet: a rollback stops them,
    so that none blocks it and approving a stale release later cannot undo it. A run in progress may be applying
    (cancelling an apply leaves state locked), so it is left to finish; the rollback then applies after it."""
    return [
        int(run["id"])
        for run in runs.get("workflow_runs", [])
        if run.get("status") in NOT_APPROVED
        and str(run.get("display_title", "")).endswith(RELEASE_RUN_SUFFIX)
        and int(run["id"]) != current_run
    ]


def read_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise GateError(f"{what} is not JSON ({error})") from None


def run_command(args: argparse.Namespace) -> str:
    """The command's output (what the workflow step keeps)."""
    if args.command == "run":
        check_run(
            args.environment,
            ref=args.ref,
            event=args.event,
            workflow_ref=args.workflow_ref,
            repository=args.repository,
        )
        return f"{args.environment}: {args.event} of {args.workflow_ref} may deploy"
    if args.command == "environment":
        settings = read_json(Path(args.settings).read_text(), f"the settings of environment {args.environment}")
        policies = read_json(Path(args.policies).read_text(), f"the branch policies of {args.environment}")
        problems = environment_problems(args.environment, settings, policies)
        if problems:
            raise GateError(f"environment {args.environment} is weaker than required: " + "; ".join(problems))
        return f"{args.environment}: protection rules as required"
    if args.command == "newest-build":
        return newest_main_build(read_json(sys.stdin.read(), "the build runs of main"))
    if args.command == "commit":
        commit = str(args.commit)
        if not COMMIT.fullmatch(commit):
            raise GateError(f"commit {commit!r} is not a full commit id (40 lower-case hex digits)")
        return commit
    runs = read_json(sys.stdin.read(), "the runs of deploy-production")
    return "\n".join(str(run) for run in waiting_releases(runs, current_run=args.current_run))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="refuse a run the environment does not serve")
    for name in ("--environment", "--ref", "--event", "--workflow-ref", "--repository"):
        run.add_argument(name, required=True)
    environment = commands.add_parser("environment", help="refuse an environment weaker than required")
    for name in ("--environment", "--settings", "--policies"):
        environment.add_argument(name, required=True)
    commands.add_parser("newest-build", help="the commit of main's newest successful build (runs JSON on stdin)")
    commands.add_parser("commit", help="refuse anything but a full commit id").add_argument("--commit", required=True)
    waiting = commands.add_parser("waiting-releases", help="release runs waiting for a reviewer (runs JSON, stdin)")
    waiting.add_argument("--current-run", type=int, required=True)
    return root


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        output = run_command(args)
    except GateError as error:
        # stderr: steps capture the output (`commit="$(...)"`), and the runner reads workflow commands from both.
        print(f"::error title=Deploy refused::{error}", file=sys.stderr)
        return 1
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
