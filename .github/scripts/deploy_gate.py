#!/usr/bin/env python3
"""Who may deploy, from where, and what: the checks the deploy workflows make before an environment's secrets are used.

The trust boundary is GitHub's environments (README, "Threat model"): `staging`, `production` and `drift` accept
jobs from refs/heads/main only, production and the pull-request plan environments only after a reviewer who did not
start the run. No workflow can enforce that for code it does not control, so the settings are required (one table,
ENVIRONMENTS), and the workflows on main check them through the API and refuse to go on when any of them is weaker,
or when a run comes from a ref, event or workflow the environment does not serve: a misconfiguration stops a deploy
instead of passing unnoticed. After production's approval, the deploy refuses an approval given by whoever published
the release or started the run (`approval`). This script also picks what staging deploys (the newest commit of main
whose build succeeded) and which release runs a rollback stops. Standard library only; GitHub's answers arrive as JSON
files or on stdin (`gh api`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAIN = "refs/heads/main"
COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Rules:
    """What one GitHub environment must enforce, and who may run jobs in it."""

    #: the (event, workflow file) pairs that may run jobs in it, always from refs/heads/main; none for the plan
    #: environments, whose jobs run a pull request's code from its own branch (a maintainer approves each one)
    callers: frozenset[tuple[str, str]] = frozenset()
    #: deployment branches and tags: the branch main alone
    main_only: bool = False
    #: required reviewers, prevent self-review on, administrators may not bypass
    reviewed: bool = False
    #: the deploy refuses an approval by whoever published the release or started the run (`approval`)
    four_eyes: bool = False
    #: checked by every gate on main (each deploy's and the drift check's), not only by the runs that use it
    checked_everywhere: bool = False
    #: secrets the environment must not hold: a workflow change merged to main could read them from any of its jobs
    forbidden_secrets: tuple[str, ...] = ()


#: Every environment the workflows use, and what it must enforce (README, "GitHub settings they need").
ENVIRONMENTS: Mapping[str, Rules] = {
    # Deployed on every merge, without a reviewer: never a DigitalOcean token, which DOKS turns into cluster-admin of
    # the cluster production shares (the app stacks use the namespace's ServiceAccount instead).
    "staging": Rules(
        callers=frozenset({("workflow_run", "deploy-staging.yml")}),
        main_only=True,
        forbidden_secrets=("DIGITALOCEAN_TOKEN",),
    ),
    "production": Rules(
        callers=frozenset(
            {("workflow_dispatch", "deploy-production.yml"), ("workflow_dispatch", "deploy-infrastructure.yml")}
        ),
        main_only=True,
        reviewed=True,
        four_eyes=True,
    ),
    # Pull-request plans: any branch (a pull request's), so a maintainer approves each plan, and not its author.
    "staging-plan": Rules(reviewed=True, checked_everywhere=True),
    "production-plan": Rules(reviewed=True, checked_everywhere=True),
    "drift": Rules(
        callers=frozenset({("schedule", "drift.yml"), ("workflow_dispatch", "drift.yml")}),
        main_only=True,
        checked_everywhere=True,
    ),
}
#: environment -> the (event, workflow file) pairs that may run jobs in it, always from refs/heads/main.
CALLERS: Mapping[str, frozenset[tuple[str, str]]] = {
    name: rules.callers for name, rules in ENVIRONMENTS.items() if rules.callers
}
#: Environments whose jobs wait for a reviewer (and whose administrators may not skip that).
REVIEWED = frozenset(name for name, rules in ENVIRONMENTS.items() if rules.reviewed)
#: The suffix deploy-production.yml's run-name gives a run a published release started.
RELEASE_RUN_SUFFIX = "(release)"
#: A release tag as deploy-production.yml accepts it (images.py RELEASE_TAG): checked before it becomes part of an API
#: path.
RELEASE_TAG = re.compile(r"^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")


class GateError(ValueError):
    """A run, an environment or an API answer the deploy must not go on with; each argument is one problem, whose
    message says what and why (main() prints one `::error` line per problem)."""


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


def checked_environments(environment: str) -> list[str]:
    """The environments a run for `environment` checks: its own first, then every one checked everywhere (the plan
    environments and drift), so that a weakened one is noticed by the next deploy or drift check on main."""
    if environment not in ENVIRONMENTS:
        raise GateError(f"unknown environment {environment!r}: expected one of {', '.join(sorted(ENVIRONMENTS))}")
    others = [name for name, rules in ENVIRONMENTS.items() if rules.checked_everywhere and name != environment]
    return [environment, *others]


def environment_problems(environment: str, settings: Mapping[str, Any], policies: Mapping[str, Any]) -> list[str]:
    """How the environment's settings (GET environments/<name> and its deployment-branch-policies) fall short of its
    row in ENVIRONMENTS."""
    rules = ENVIRONMENTS[environment]
    problems = []
    if rules.main_only:
        branches = settings.get("deployment_branch_policy") or {}
        allowed = [(policy.get("type", "branch"), policy.get("name")) for policy in policies.get("branch_policies", [])]
        only_main = branches.get("custom_branch_policies") and not branches.get("protected_branches")
        if not only_main or allowed != [("branch", "main")]:
            problems.append(
                f"deployment branches must be the branch main alone (Selected branches and tags), not {allowed}"
            )
    if rules.reviewed:
        protection = settings.get("protection_rules", [])
        reviewers: Mapping[str, Any] = next((r for r in protection if r.get("type") == "required_reviewers"), {})
        if not reviewers.get("reviewers"):
            problems.append("required reviewers: none set")
        elif not reviewers.get("prevent_self_review"):
            problems.append("prevent self-review is off: whoever starts a run could approve it")
        if settings.get("can_admins_bypass", True):
            problems.append("administrators may bypass the protection rules: turn 'Allow administrators to bypass' off")
    return problems


def _answer(answers: Path, stem: str) -> tuple[Any, str]:
    """(parsed JSON, "") of `<stem>.json` as `gh api` wrote it, or (None, why not) from `<stem>.error`."""
    text = (answers / f"{stem}.json").read_text() if (answers / f"{stem}.json").exists() else ""
    try:
        return json.loads(text), ""
    except json.JSONDecodeError:
        error = (answers / f"{stem}.error").read_text() if (answers / f"{stem}.error").exists() else ""
        lines = [line.strip() for line in error.splitlines() if line.strip()]
        return None, lines[-1] if lines else "no answer"


def weaker_environments(environment: str, answers: Path) -> list[str]:
    """Every problem of every environment a run for `environment` checks, each naming its environment. `answers`
    holds `gh api`'s answers: `<name>.json` (environments/<name>) and `<name>.policies.json` (its
    deployment-branch-policies), with `<name>.error` / `<name>.policies.error` when a call failed."""
    problems = []
    for name in checked_environments(environment):
        settings, error = _answer(answers, name)
        if settings is None:
            problems.append(f"environment {name} cannot be read ({error}): create it with the settings README lists")
            continue
        policies: Any = {}
        custom = ((settings.get("deployment_branch_policy") or {}).get("custom_branch_policies")) is True
        if ENVIRONMENTS[name].main_only and custom:
            # Only custom policies are listed there; without them the settings alone show the branches are not main's.
            policies, error = _answer(answers, f"{name}.policies")
            if policies is None:
                problems.append(f"environment {name}: its deployment branch policies cannot be read ({error})")
                continue
        problems += [
            f"environment {name} is weaker than required: {p}" for p in environment_problems(name, settings, policies)
        ]
    return problems


def held_problems(environment: str, held: Mapping[str, bool]) -> list[str]:
    """The secrets the environment holds (secret -> whether it is set, from `${{ secrets.X != '' }}`) but must not."""
    return [
        f"environment {environment} holds the secret {secret}, which it must not: delete it (Settings -> Environments "
        f"-> {environment}); README, 'GitHub settings they need'"
        for secret in ENVIRONMENTS[environment].forbidden_secrets
        if held.get(secret, False)
    ]


# --- four eyes: who approved the deploy -------------------------------------------------------------------------


def release_author(release: Mapping[str, Any], *, tag: str) -> str:
    """The login of whoever created the release of `tag` (GET repos/<repo>/releases/tags/<tag>: `author.login`)."""
    if release.get("tag_name") != tag:
        raise GateError(f"the API answered with the release of {release.get('tag_name')!r}, not of {tag!r}")
    login = str((release.get("author") or {}).get("login") or "")
    if not login:
        raise GateError(f"the release of {tag} names no author: cannot tell who published it")
    return login


def approval_problems(
    approvals: Sequence[Mapping[str, Any]], *, environment: str, excluded: Sequence[tuple[str, str]]
) -> list[str]:
    """Why the approvals of this run (GET actions/runs/<id>/approvals) do not let `environment` go ahead: none was
    recorded for it, or one was given by a person in `excluded` ((login, who they are) pairs: the release's author,
    the run's actor and triggering actor). GitHub logins are compared without regard to case."""
    approved = [
        entry
        for entry in approvals
        if entry.get("state") == "approved"
        and environment in {str(env.get("name")) for env in entry.get("environments") or []}
    ]
    if not approved:
        return [f"no approval of {environment} is recorded for this run: a reviewer must approve it"]
    roles: dict[str, list[str]] = {}
    for login, role in excluded:
        if login:
            roles.setdefault(login.casefold(), []).append(role)
    problems = []
    for entry in approved:
        login = str((entry.get("user") or {}).get("login") or "")
        if login.casefold() in roles:
            who = " and ".join(dict.fromkeys(roles[login.casefold()]))
            problems.append(
                f"{environment} was approved by {login}, who {who}: another reviewer must approve "
                "(reject this run in Review deployments and start it again)"
            )
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


def read_file(path: str, what: str) -> Any:
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise GateError(f"{what} cannot be read ({error.strerror}: {path})") from None
    return read_json(text, what)


def _approval(args: argparse.Namespace) -> str:
    approvals = read_file(args.approvals, "the approvals of this run")
    if not isinstance(approvals, list):
        raise GateError(f"the approvals of this run are not a list: {str(approvals)[:200]}")
    excluded = [(args.actor, "started this run"), (args.triggering_actor, "started this run")]
    if args.release_tag:
        release = read_file(args.release, f"the release of {args.release_tag}")
        excluded.append((release_author(release, tag=args.release_tag), f"published release {args.release_tag}"))
    problems = approval_problems(approvals, environment=args.environment, excluded=excluded)
    if problems:
        raise GateError(*problems)
    approvers = sorted({str(a["user"]["login"]) for a in approvals if a.get("state") == "approved"})
    return f"{args.environment}: approved by {', '.join(approvers)}, neither the publisher nor the starter"


def _run(args: argparse.Namespace) -> str:
    check_run(
        args.environment, ref=args.ref, event=args.event, workflow_ref=args.workflow_ref, repository=args.repository
    )
    return f"{args.environment}: {args.event} of {args.workflow_ref} may deploy"


def _environments(args: argparse.Namespace) -> str:
    problems = weaker_environments(args.environment, Path(args.answers))
    if problems:
        raise GateError(*problems)
    return f"{', '.join(checked_environments(args.environment))}: protection rules as required"


def _held(args: argparse.Namespace) -> str:
    checked_environments(args.environment)
    held = {name: value == "true" for name, _, value in (item.partition("=") for item in args.held)}
    problems = held_problems(args.environment, held)
    if problems:
        raise GateError(*problems)
    return f"{args.environment}: holds no secret it must not"


def _release_tag(args: argparse.Namespace) -> str:
    if not RELEASE_TAG.fullmatch(args.tag):
        raise GateError(f"release tag {args.tag!r} is not v<semver>")
    return ""


def _commit(args: argparse.Namespace) -> str:
    commit = str(args.commit)
    if not COMMIT.fullmatch(commit):
        raise GateError(f"commit {commit!r} is not a full commit id (40 lower-case hex digits)")
    return commit


def _waiting(args: argparse.Namespace) -> str:
    runs = read_json(sys.stdin.read(), "the runs of deploy-production")
    return "\n".join(str(run) for run in waiting_releases(runs, current_run=args.current_run))


#: subcommand -> what it does; each returns what the workflow step keeps (printed) or raises GateError.
COMMANDS: Mapping[str, Callable[[argparse.Namespace], str]] = {
    "run": _run,
    "checked": lambda args: "\n".join(checked_environments(args.environment)),
    "environments": _environments,
    "held": _held,
    "release-tag": _release_tag,
    "approval": _approval,
    "newest-build": lambda args: newest_main_build(read_json(sys.stdin.read(), "the build runs of main")),
    "commit": _commit,
    "waiting-releases": _waiting,
}


def run_command(args: argparse.Namespace) -> str:
    """The command's output (what the workflow step keeps)."""
    return COMMANDS[args.command](args)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="refuse a run the environment does not serve")
    for name in ("--environment", "--ref", "--event", "--workflow-ref", "--repository"):
        run.add_argument(name, required=True)
    checked = commands.add_parser("checked", help="the environments a run for this environment checks, one a line")
    checked.add_argument("--environment", required=True)
    environments = commands.add_parser("environments", help="refuse when a checked environment is weaker than required")
    environments.add_argument("--environment", required=True)
    environments.add_argument(
        "--answers", required=True, help="folder of gh api answers: <name>.json, <name>.policies.json"
    )
    held = commands.add_parser("held", help="refuse an environment that holds a secret it must not")
    held.add_argument("--environment", required=True)
    held.add_argument("--held", action="append", default=[], metavar="SECRET=true|false", help="whether it is set")
    commands.add_parser("release-tag", help="refuse a tag that is not v<semver>").add_argument("--tag", required=True)
    approval = commands.add_parser(
        "approval", help="refuse an approval by the release's publisher or the run's starter"
    )
    approval.add_argument("--environment", required=True)
    approval.add_argument("--approvals", required=True, help="GET actions/runs/<id>/approvals, as a file")
    approval.add_argument("--actor", required=True)
    approval.add_argument("--triggering-actor", required=True)
    approval.add_argument("--release-tag", default="", help="the release deployed (empty: none)")
    approval.add_argument("--release", default="", help="GET releases/tags/<tag>, as a file (with --release-tag)")
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
        for problem in error.args:
            print(f"::error title=Deploy refused::{problem}", file=sys.stderr)
        return 1
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
