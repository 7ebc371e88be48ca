#!/usr/bin/env python3
"""Who may deploy, from where, and what: the checks the deploy workflows make before an environment's secrets are used.

The trust boundary is GitHub's environments (docs/workflows.md): `staging`, `production` and `drift` accept
jobs from refs/heads/main only, production and the pull-request plan environments only after a reviewer who did not
start the run. No workflow can enforce that for code it does not control, so the settings are required (one table,
ENVIRONMENTS), and the workflows on main check them through the API and refuse to go on when any of them is weaker,
or when a run comes from a ref, event or workflow the environment does not serve: a misconfiguration stops a deploy
instead of passing unnoticed. After production's approval, the deploy refuses an approval given by whoever published
the release or started the run (`approval`). Before applying, it looks for an apply of the same stack that was
cancelled (`interrupted`): concurrency groups are repository-wide, so any workflow of any branch can join a stack's
group with cancel-in-progress and cancel a running apply, which can leave the state lock held; that cannot be
prevented, only detected. This script also picks what staging deploys (the newest commit of main whose build
succeeded) and which release runs a rollback stops. Standard library only; GitHub's answers arrive as JSON files or on
stdin (`gh api`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    #: its required reviewers must be exactly this environment's: it holds a credential that reaches production (a
    #: DigitalOcean read token, which DOKS turns into cluster-admin): only production's reviewers may let a run use it
    reviewers_of: str = ""


#: Every environment the workflows use, and what it must enforce (docs/workflows.md, "GitHub settings they need").
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
    # production-plan and drift hold the DigitalOcean read token of the cluster and platform plans, which DOKS turns
    # into cluster-admin: production's own reviewers approve their runs (docs/architecture.md, "Environment isolation").
    "staging-plan": Rules(reviewed=True, checked_everywhere=True),
    "production-plan": Rules(reviewed=True, checked_everywhere=True, reviewers_of="production"),
    "drift": Rules(
        callers=frozenset({("schedule", "drift.yml"), ("workflow_dispatch", "drift.yml")}),
        main_only=True,
        reviewed=True,
        checked_everywhere=True,
        reviewers_of="production",
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
#: stack -> the workflows whose jobs take the stack's concurrency group `cdktf-deploy-<stack>` (deploy.yml's deploy
#: job, called by the deploy workflows; drift.yml's plan job).
GROUP_WORKFLOWS: Mapping[str, tuple[str, ...]] = {
    "cluster": ("deploy-infrastructure.yml", "drift.yml"),
    "platform": ("deploy-infrastructure.yml", "drift.yml"),
    "app-staging": ("deploy-staging.yml",),
    "app-production": ("deploy-production.yml",),
}
#: The names GitHub gives the jobs of a stack's group: deploy.yml's deploy job (`<caller job> / cdktf deploy <stack>
#: (<environment>)` when called) and drift.yml's plan job (`drift of <stack>`).
DEPLOY_JOB = re.compile(r"(?:^|/ )cdktf deploy (?P<stack>[a-z0-9-]+) \(")
DRIFT_JOB = re.compile(r"(?:^|/ )drift of (?P<stack>[a-z0-9-]+)$")
#: The step of the deploy job that applies (deploy.yml: `cdktf deploy <stack>`).
APPLY_STEP = "cdktf deploy "
#: How many completed runs of a group's workflows are looked at, newest first.
RECENT_RUNS = 10
#: A release tag as deploy-production.yml accepts it (images.py RELEASE_TAG): checked before it becomes part of an API
#: path.
RELEASE_TAG = re.compile(r"^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
#: Where an operator learns to clear a held state lock.
RUNBOOK = "docs/runbooks/deploy.md#cancelled-apply-clear-a-held-state-lock"


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
    compared = [ENVIRONMENTS[name].reviewers_of for name in [environment, *others] if ENVIRONMENTS[name].reviewers_of]
    return list(dict.fromkeys([environment, *others, *compared]))


def reviewers(settings: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(type, id) of an environment's required reviewers, from GET environments/<name>."""
    protection = settings.get("protection_rules", [])
    rule: Mapping[str, Any] = next((r for r in protection if r.get("type") == "required_reviewers"), {})
    return {(str(r.get("type")), str((r.get("reviewer") or {}).get("id"))) for r in rule.get("reviewers") or []}


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
            problems.append(f"environment {name} cannot be read ({error}): create it as docs/workflows.md says")
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
        reference = ENVIRONMENTS[name].reviewers_of
        if reference:
            expected, _ = _answer(answers, reference)
            # Compared when both have reviewers (an environment without any is reported above, or by its own check).
            mine, theirs = reviewers(settings), reviewers(expected) if expected is not None else set()
            if mine and theirs and mine != theirs:
                problems.append(
                    f"environment {name} is weaker than required: its required reviewers must be exactly {reference}'s "
                    "(it holds a credential DigitalOcean turns into cluster-admin)"
                )
    return problems


def held_problems(environment: str, held: Mapping[str, bool]) -> list[str]:
    """The secrets the environment holds (secret -> whether it is set, from `${{ secrets.X != '' }}`) but must not."""
    return [
        f"environment {environment} holds the secret {secret}, which it must not: delete it (Settings -> Environments "
        f"-> {environment}); docs/workflows.md, 'GitHub settings they need'"
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


# --- a cancelled apply: what cannot be prevented, detected ------------------------------------------------------


@dataclass(frozen=True)
class Interrupted:
    """A job of a stack's concurrency group that was cancelled after it had started on a runner."""

    run_id: int
    url: str
    title: str
    job: str
    #: the step that was running when it was cancelled ("" when the answer does not say)
    step: str
    #: the apply step had started: the state lock may still be held
    applying: bool
    #: a drift check (a plan with -lock=false: it never holds the lock)
    drift: bool
    when: str


def group_job(name: str) -> tuple[str, str] | None:
    """("deploy" | "drift", stack) of a job of a stack's concurrency group, from the name GitHub gives it."""
    for kind, pattern in (("deploy", DEPLOY_JOB), ("drift", DRIFT_JOB)):
        match = pattern.search(name)
        if match:
            return kind, match.group("stack")
    return None


def group_workflows(stack: str) -> tuple[str, ...]:
    if stack not in GROUP_WORKFLOWS:
        raise GateError(f"unknown stack {stack!r}: expected one of {', '.join(sorted(GROUP_WORKFLOWS))}")
    return GROUP_WORKFLOWS[stack]


def recent_runs(answers: Iterable[Mapping[str, Any]], *, current_run: int) -> list[Mapping[str, Any]]:
    """The newest completed runs of the group's workflows (GET actions/workflows/<file>/runs answers), newest
    completion first, this run left out."""
    runs = {
        int(run["id"]): run
        for answer in answers
        for run in answer.get("workflow_runs", [])
        if run.get("status") == "completed" and int(run["id"]) != current_run
    }
    ordered = sorted(runs.values(), key=lambda run: str(run.get("updated_at", "")), reverse=True)
    return ordered[:RECENT_RUNS]


def _started(step: Mapping[str, Any]) -> bool:
    return bool(step.get("started_at")) and step.get("conclusion") != "skipped"


def interrupted(
    stack: str, runs: Sequence[Mapping[str, Any]], jobs: Mapping[int, Mapping[str, Any]]
) -> list[Interrupted]:
    """The jobs of `stack`'s group cancelled after they had started, from the newest completed run back to the last
    successful deploy of the stack (an apply that succeeded took and released the lock: nothing older matters).
    `runs` newest first (recent_runs); `jobs`: run id -> GET actions/runs/<id>/jobs. A job cancelled before it
    started (waiting for a reviewer or in the queue, e.g. a release a rollback stopped) never held the lock."""
    found: list[Interrupted] = []
    for run in runs:
        run_id = int(run["id"])
        for job in (jobs.get(run_id) or {}).get("jobs", []):
            kind_stack = group_job(str(job.get("name", "")))
            if kind_stack is None or kind_stack[1] != stack:
                continue
            kind = kind_stack[0]
            if kind == "deploy" and job.get("conclusion") == "success":
                return found
            steps = [step for step in job.get("steps") or [] if _started(step)]
            if job.get("conclusion") != "cancelled" or not steps:
                continue
            running = [step for step in steps if step.get("conclusion") == "cancelled"] or steps[-1:]
            found.append(
                Interrupted(
                    run_id=run_id,
                    url=str(run.get("html_url", "")),
                    title=str(run.get("display_title") or run.get("name") or ""),
                    job=str(job.get("name", "")),
                    step=str(running[-1].get("name", "")),
                    applying=any(str(step.get("name", "")).startswith(APPLY_STEP) for step in steps),
                    drift=kind == "drift",
                    when=str(job.get("completed_at") or run.get("updated_at") or ""),
                )
            )
    return found


def interrupted_report(stack: str, found: Sequence[Interrupted], *, runbook_url: str) -> tuple[list[str], str]:
    """(workflow command lines, step summary markdown) for what `interrupted` found; nothing when it found nothing."""
    lines, bullets = [], []
    group = f"cdktf-deploy-{stack}"
    for item in found:
        where = f"run {item.run_id} ({item.title}, {item.url}), job '{item.job}'"
        if item.applying:
            lines.append(
                f"::error title=An apply of {stack} was cancelled::{where} was cancelled during '{item.step}' at "
                f"{item.when}: its state lock may still be held and resources may be half-changed. If this deploy "
                f"stops on 'Error acquiring the state lock', clear the lock as {runbook_url} says; find out who "
                f"cancelled it (any workflow of any branch can join the group {group} with cancel-in-progress)"
            )
            bullets.append(
                f"- :x: [{item.title or item.run_id}]({item.url}): `{item.job}` was **cancelled during the apply** "
                f"(`{item.step}`, {item.when}): the state lock may still be held"
            )
        else:
            what = "a drift check (it holds no lock)" if item.drift else "before its apply started (no lock taken)"
            lines.append(
                f"::warning title=A run of the deploy queue of {stack} was cancelled::{where} was cancelled "
                f"{what}, during '{item.step}' at {item.when}; runs of the group {group} are never cancelled by "
                f"this repository's workflows: find out who cancelled it ({runbook_url})"
            )
            bullets.append(
                f"- :warning: [{item.title or item.run_id}]({item.url}): `{item.job}` was cancelled {what} "
                f"(`{item.step}`, {item.when})"
            )
    if not found:
        return [], ""
    summary = "\n".join(
        [
            f"### Cancelled runs in the deploy queue of `{stack}` (group `{group}`)",
            "",
            *bullets,
            "",
            f"Since the last successful deploy of `{stack}`. Concurrency groups are repository-wide: any workflow of "
            f"any branch can join `{group}` with `cancel-in-progress` and cancel a running apply. What to do: "
            f"[Cancelled apply: clear a held state lock]({runbook_url}).",
            "",
        ]
    )
    return lines, summary


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


def _interrupted(args: argparse.Namespace) -> str:
    folder = Path(args.runs)
    runs = recent_runs(
        [read_file(str(path), f"the runs in {path.name}") for path in sorted(folder.glob("runs-*.json"))],
        current_run=args.current_run,
    )
    if args.command == "recent-runs":
        return "\n".join(str(run["id"]) for run in runs)
    jobs = {
        int(run["id"]): read_file(str(folder / f"jobs-{run['id']}.json"), f"the jobs of run {run['id']}")
        for run in runs
        if (folder / f"jobs-{run['id']}.json").exists()
    }
    runbook_url = f"{args.server_url}/{args.repository}/blob/main/{RUNBOOK}"
    lines, summary = interrupted_report(args.stack, interrupted(args.stack, runs, jobs), runbook_url=runbook_url)
    if summary and args.summary:
        with Path(args.summary).open("a") as out:
            out.write(summary)
    if not lines:
        return f"{args.stack}: no run of its deploy queue was cancelled since its last successful deploy"
    return "\n".join(lines)


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


def _group(args: argparse.Namespace) -> str:
    workflows = group_workflows(args.stack)
    return "\n".join(workflows) if args.command == "group-workflows" else _interrupted(args)


#: subcommand -> what it does; each returns what the workflow step keeps (printed) or raises GateError.
COMMANDS: Mapping[str, Callable[[argparse.Namespace], str]] = {
    "run": _run,
    "checked": lambda args: "\n".join(checked_environments(args.environment)),
    "environments": _environments,
    "held": _held,
    "release-tag": _release_tag,
    "approval": _approval,
    "group-workflows": _group,
    "recent-runs": _group,
    "interrupted": _group,
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
    workflows = commands.add_parser("group-workflows", help="the workflows whose jobs take the stack's group")
    workflows.add_argument("--stack", required=True)
    for name, what in (
        ("recent-runs", "ids of the newest completed runs of the stack's group workflows (runs-*.json in --runs)"),
        ("interrupted", "flag a run of the stack's group cancelled since its last successful deploy"),
    ):
        command = commands.add_parser(name, help=what)
        command.add_argument("--stack", required=True)
        command.add_argument("--runs", required=True, help="folder: runs-<workflow>.json, jobs-<run id>.json")
        command.add_argument("--current-run", type=int, required=True)
        if name == "interrupted":
            command.add_argument("--server-url", default="https://github.com")
            command.add_argument("--repository", required=True)
            command.add_argument("--summary", default="", help="append the findings here ($GITHUB_STEP_SUMMARY)")
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
