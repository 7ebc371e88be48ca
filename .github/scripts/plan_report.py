#!/usr/bin/env python3
"""Turn one stack's `terraform plan` output into a report: a pull-request comment (kind `changes`) or the body of the
stack's drift issue (kind `drift`, a `-refresh-only` plan).

The body starts with a marker naming the kind and the stack, so the comment job and the drift job update that
stack's comment or issue instead of adding a new one on every run. Values of the secrets in this step's environment
are scrubbed first, in every form a plan could print them (as they are, URL-encoded, base64 at any offset): GitHub
masks them in logs, not in artifacts, comments or issues. The plan is trimmed to fit (65,536 characters), keeping its
beginning and its final summary. Plans never see an app secret: their sensitive variables are PLACEHOLDER
(`placeholders` prints them for a stack), and a comment says why those values show as changes. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

COMMENT_LIMIT = 65_536
PLAN_BUDGET = 60_000
TAIL_KEPT = 3_000
#: Shorter fragments of an encoded secret are not scrubbed: they would match ordinary text.
MIN_FRAGMENT = 8
#: Environment variables whose values go into the report unchanged although they are TF_VAR_s.
IMAGE_TAG_VARIABLE = "TF_VAR_" + "image_tag"  # Terraform variable names are case-sensitive
IMAGE_DIGESTS_VARIABLE = "TF_VAR_" + "image_digests"
NOT_SECRET = frozenset({IMAGE_TAG_VARIABLE, IMAGE_DIGESTS_VARIABLE})
#: The value every sensitive variable of a plan gets: public, so not scrubbed.
PLACEHOLDER = "plan-placeholder"
PLACEHOLDER_NOTE = (
    f"> **Secrets are placeholders in this plan.** A pull request never receives the real values: every "
    f"sensitive variable is `{PLACEHOLDER}`, so the revisions of the write-only Secrets (`app-secrets`, the GHCR "
    "pull secret, Grafana's login, the Alertmanager configuration) show as changes here; no plan ever shows a "
    "secret value. The image digests are the all-zero placeholder too: a deploy uses the digests it verified, and the "
    "values of its GitHub environment."
)
NO_REFRESH_NOTE = (
    "> **Planned with `-refresh=false`.** An app stack's plan reads the cluster as the environment's reader "
    "ServiceAccount, which may not read Secrets, and Helm keeps its release records in Secrets: so this plan "
    "shows what the pull request's code changes against the recorded state, not what changed in the cluster "
    "since (the deploy's own plan refreshes)."
)
DRIFT_NOTE = (
    "> `terraform plan -refresh-only`: what differs between the real infrastructure and the stack's state, for "
    "example a change made by hand in the cluster or in DigitalOcean. The next deploy of the stack would set it back "
    "(or fail on it). Nothing was applied. Fix it by deploying the stack (the change is undone) or by changing the "
    "code to match and deploying. This issue is updated every night and closed when the stack is clean again."
)
#: Credentials that are not TF_VAR_s.
CREDENTIALS = ("DIGITALOCEAN_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
OUTCOMES = {
    "changes": {0: ("white_check_mark", "no changes"), 2: ("yellow_circle", "changes")},
    "drift": {0: ("white_check_mark", "no drift"), 2: ("warning", "drift")},
}
TITLES = {"changes": "cdktf diff {stack}", "drift": "drift of {stack}"}
_VARIABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def marker(stack: str, kind: str = "changes") -> str:
    return f"<!-- {'cdktf-diff' if kind == 'changes' else 'drift'}:{stack} -->"


def secret_values(environ: Mapping[str, str]) -> list[str]:
    names = [n for n in environ if (n.startswith("TF_VAR_") and n not in NOT_SECRET) or n in CREDENTIALS]
    return [environ[n] for n in names if len(environ[n]) >= 4 and environ[n] != PLACEHOLDER]


def uses_placeholders(environ: Mapping[str, str]) -> bool:
    return any(name.startswith("TF_VAR_") and value == PLACEHOLDER for name, value in environ.items())


def base64_fragments(secret: bytes) -> Iterator[str]:
    """What of `secret` survives in any base64 text that contains it: for each of the three offsets it can start at,
    the characters that depend on its bytes alone (standard and URL-safe alphabets)."""
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + secret).decode()
        first = -(-8 * offset // 6)  # the first character no padding byte reaches into
        last = 8 * (offset + len(secret)) // 6  # after the last character the secret fills completely
        fragment = encoded[first:last]
        if len(fragment) >= MIN_FRAGMENT:
            yield fragment
            yield fragment.replace("+", "-").replace("/", "_")


def variants(secret: str) -> set[str]:
    """The forms a plan may print a secret in: as it is, URL-encoded (a password in a connection string), base64."""
    found = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    found.update(base64_fragments(secret.encode()))
    return {value for value in found if len(value) >= 4}


def scrub(text: str, secrets: Iterable[str]) -> str:
    every = {form for secret in secrets for form in variants(secret)}
    for value in sorted(every, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def trim(text: str, budget: int = PLAN_BUDGET) -> str:
    if len(text) <= budget:
        return text
    tail = text[-TAIL_KEPT:]
    dropped = len(text) - budget
    note = f"\n\n… {dropped} characters trimmed: the whole plan is in the job log …\n\n"
    return text[: budget - TAIL_KEPT - len(note)] + note + tail


def render(
    *,
    stack: str,
    exit_code: int,
    plan: str,
    commit: str,
    run_url: str,
    image_tag: str,
    environ: Mapping[str, str],
    kind: str = "changes",
    refreshed: bool = True,
) -> str:
    icon, outcome = OUTCOMES[kind].get(exit_code, ("x", f"plan failed (exit code {exit_code})"))
    body = trim(scrub(plan, secret_values(environ)).strip())
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", body)), default=0))
    note = {"drift": [DRIFT_NOTE, ""], "changes": [PLACEHOLDER_NOTE, ""] if uses_placeholders(environ) else []}[kind]
    if not refreshed:
        note = [NO_REFRESH_NOTE, "", *note]
    return "\n".join(
        [
            marker(stack, kind),
            f"### :{icon}: `{TITLES[kind].format(stack=stack)}`: {outcome}",
            "",
            f"Commit `{commit[:7]}` · image_tag `{image_tag}` for this plan · [job log]({run_url})",
            "",
            *note,
            "<details><summary>terraform plan</summary>",
            "",
            f"{fence}text",
            body,
            fence,
            "</details>",
            "",
        ]
    )


def placeholder_exports(stack: Mapping[str, Any], *, keep: Iterable[str] = ()) -> list[str]:
    """`export TF_VAR_<name>=plan-placeholder` for every sensitive variable a synthesized stack declares: read from
    the stack, so a new secret can never reach a plan with a real value or none. `keep`: variables that carry the
    plan environment's own read credentials (an app stack's `kube_token`), which the job sets and a placeholder must
    not replace."""
    exports = []
    kept = set(keep)
    for name, spec in sorted((stack.get("variable") or {}).items()):
        if spec.get("sensitive") and name not in kept:
            if not _VARIABLE_NAME.fullmatch(name):
                raise ValueError(f"variable name {name!r} is not lower_snake_case")
            exports.append(f"export TF_VAR_{name}={PLACEHOLDER}")
    return exports


def _render_command(args: argparse.Namespace) -> None:
    run_url = "{}/{}/actions/runs/{}".format(
        *(os.environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    )
    text = render(
        stack=args.stack,
        exit_code=args.exit_code,
        plan=args.plan.read_text(errors="replace"),
        commit=args.commit,
        run_url=run_url,
        image_tag=os.environ.get(IMAGE_TAG_VARIABLE, "(default)"),
        environ=os.environ,
        kind=args.kind,
        refreshed=not args.no_refresh,
    )
    assert len(text) < COMMENT_LIMIT
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("render", help="write the report of one plan")
    report.add_argument("--kind", choices=sorted(OUTCOMES), default="changes")
    report.add_argument("--stack", required=True)
    report.add_argument("--exit-code", type=int, required=True)
    report.add_argument("--plan", type=Path, required=True)
    report.add_argument("--commit", required=True)
    report.add_argument("--out", type=Path, required=True)
    report.add_argument("--no-refresh", action="store_true", help="the plan ran with -refresh=false (say so)")
    placeholders = commands.add_parser("placeholders", help="print the placeholder exports of a stack's secrets")
    placeholders.add_argument("--stack-json", type=Path, required=True)
    placeholders.add_argument(
        "--keep", action="append", default=[], metavar="NAME", help="a credential variable the job sets: no placeholder"
    )
    args = parser.parse_args(argv)
    if args.command == "render":
        _render_command(args)
        return 0
    try:
        print("\n".join(placeholder_exports(json.loads(args.stack_json.read_text()), keep=args.keep)))
    except (OSError, ValueError) as error:
        print(f"::error title=Plan placeholders::{args.stack_json}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
