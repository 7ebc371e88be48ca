"""What a plan or deploy of a stack needs from the environment, read from its synthesized JSON.

`dev.py cdktf diff|deploy|destroy` checks these before Terraform starts, so a missing Spaces key is named as such
instead of surfacing as "No valid credential sources found … EC2 IMDS" from the S3 backend. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from todo_infra.secret_revisions import DIGEST_KEY_ENV, revision_inputs
from todo_infra.settings import BREAK_GLASS_ENV, ConfigError, env_flag

#: Set to true by GitHub Actions in every workflow run (read with the one boolean parser, like every flag).
GITHUB_ACTIONS_ENV = "GITHUB_ACTIONS"

#: Credentials by what needs them, with what they are.
STATE_KEYS = dict.fromkeys(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "the Spaces keys of the state bucket")
PROVIDER_TOKENS = {"digitalocean": {"DIGITALOCEAN_TOKEN": "DigitalOcean API token"}}


def _uses_s3(stack: Mapping[str, Any]) -> bool:
    remote = stack.get("data", {}).get("terraform_remote_state", {}).values()
    return "s3" in stack.get("terraform", {}).get("backend", {}) or any(r.get("backend") == "s3" for r in remote)


def required_inputs(stack: Mapping[str, Any]) -> dict[str, str]:
    """Environment variable -> what it is, for one stack: state keys, provider tokens, variables without default
    (the secrets' revisions excepted: dev.py derives them)."""
    needed: dict[str, str] = {}
    if _uses_s3(stack):
        needed |= STATE_KEYS
    for provider in stack.get("provider", {}):
        needed |= PROVIDER_TOKENS.get(provider, {})
    derived = set(revision_inputs(stack))
    if derived:
        needed[DIGEST_KEY_ENV] = "key of the write-only secrets' revisions"
    for name, spec in stack.get("variable", {}).items():
        if "default" not in spec and name not in derived:
            needed[f"TF_VAR_{name}"] = "a secret of the stack" if spec.get("sensitive") else "a setting of the deploy"
    return needed


def missing_inputs(stacks: Mapping[str, Mapping[str, Any]], environ: Mapping[str, str]) -> dict[str, str]:
    """What the stacks need that environ lacks (empty counts as missing)."""
    missing: dict[str, str] = {}
    for stack in stacks.values():
        for name, what in required_inputs(stack).items():
            if not environ.get(name):
                missing[name] = what
    return missing


#: A deploy or destroy from a shell is a break-glass path (docs/runbooks/deploy.md, "Manual deploy from a shell"): it
#: bypasses the workflows' gate, queue and reviewers, so it must name the GitHub issue that records it.
BREAK_GLASS_COMMANDS = ("deploy", "destroy")
_ISSUE_URL = re.compile(r"^https://github[.]com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/issues/[1-9][0-9]*$")


def break_glass_refusal(command: str, environ: Mapping[str, str]) -> str | None:
    """Why a command may not run here, or None: outside GitHub Actions a deploy or destroy needs TODO_BREAK_GLASS set
    to the URL of the issue that records it."""
    if command not in BREAK_GLASS_COMMANDS:
        return None
    try:
        if env_flag(environ, GITHUB_ACTIONS_ENV):
            return None
    except ConfigError as error:
        return str(error)
    value = environ.get(BREAK_GLASS_ENV, "")
    if _ISSUE_URL.fullmatch(value):
        return None
    return (
        f"cdktf {command} from a shell bypasses the deploy workflows' gate and reviewers: open a break-glass issue "
        f"(template 'Break glass') and set {BREAK_GLASS_ENV} to its URL (https://github.com/<owner>/<repo>/issues/<n>)"
        + (f", not {value[:60]!r}" if value else "")
    )


def break_glass_record(command: str, stacks: list[str], environ: Mapping[str, str]) -> str:
    """The line a shell deploy prints (and the runbook copies into the issue): what, by whom, recorded where."""
    who = environ.get("USER") or environ.get("USERNAME") or "unknown user"
    return f"break-glass: cdktf {command} {' '.join(stacks)} by {who}, recorded in {environ[BREAK_GLASS_ENV]}"


def describe_missing(command: str, stacks: list[str], missing: Mapping[str, str]) -> str:
    """One line: what is missing, grouped by what it is."""
    groups: dict[str, list[str]] = {}
    for name, what in missing.items():
        groups.setdefault(what, []).append(name)
    parts = [f"{', '.join(names)} ({what})" for what, names in groups.items()]
    return f"cdktf {command} {' '.join(stacks)} needs values for: {'; '.join(parts)}"
