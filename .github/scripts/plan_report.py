#!/usr/bin/env python3
"""Turn one stack's `terraform plan` output into the body of its pull-request comment.

The body starts with a marker naming the stack, so the comment job updates that stack's comment instead
of adding a new one on every push. Values of the secrets in this step's environment are scrubbed first:
GitHub masks them in logs, not in artifacts or comments. The plan is trimmed to fit a comment (65,536
characters), keeping its beginning and its final summary. Pull-request plans never see an app secret: their
sensitive variables are PLACEHOLDER, and the comment says why those values show as changes. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

COMMENT_LIMIT = 65_536
PLAN_BUDGET = 60_000
TAIL_KEPT = 3_000
#: Environment variables whose values go into the comment unchanged although they are TF_VAR_s.
IMAGE_TAG_VARIABLE = "TF_VAR_" + "image_tag"  # Terraform variable names are case-sensitive
IMAGE_DIGESTS_VARIABLE = "TF_VAR_" + "image_digests"
NOT_SECRET = frozenset({IMAGE_TAG_VARIABLE, IMAGE_DIGESTS_VARIABLE})
#: The value cdktf-diff.yml gives every sensitive variable of a pull-request plan: public, so not scrubbed.
PLACEHOLDER = "plan-placeholder"
PLACEHOLDER_NOTE = (
    f"> **Secrets are placeholders in this plan.** A pull request never receives the real values: every "
    f"sensitive variable is `{PLACEHOLDER}`, so the revisions of the write-only Secrets (`app-secrets`, the GHCR "
    "pull secret, Grafana's login, the Alertmanager configuration) show as changes here; no plan ever shows a "
    "secret value. The image digests are the all-zero placeholder too: a deploy uses the digests it verified, and the "
    "values of its GitHub environment."
)
#: Credentials that are not TF_VAR_s.
CREDENTIALS = ("DIGITALOCEAN_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
OUTCOMES = {0: ("white_check_mark", "no changes"), 2: ("yellow_circle", "changes")}


def marker(stack: str) -> str:
    return f"<!-- cdktf-diff:{stack} -->"


def secret_values(environ: Mapping[str, str]) -> list[str]:
    names = [n for n in environ if (n.startswith("TF_VAR_") and n not in NOT_SECRET) or n in CREDENTIALS]
    return [environ[n] for n in names if len(environ[n]) >= 4 and environ[n] != PLACEHOLDER]


def uses_placeholders(environ: Mapping[str, str]) -> bool:
    return any(name.startswith("TF_VAR_") and value == PLACEHOLDER for name, value in environ.items())


def scrub(text: str, secrets: Iterable[str]) -> str:
    for value in sorted(set(secrets), key=len, reverse=True):
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
    *, stack: str, exit_code: int, plan: str, commit: str, run_url: str, image_tag: str, environ: Mapping[str, str]
) -> str:
    icon, outcome = OUTCOMES.get(exit_code, ("x", f"plan failed (exit code {exit_code})"))
    body = trim(scrub(plan, secret_values(environ)).strip())
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", body)), default=0))
    note = [PLACEHOLDER_NOTE, ""] if uses_placeholders(environ) else []
    return "\n".join(
        [
            marker(stack),
            f"### :{icon}: `cdktf diff {stack}`: {outcome}",
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--exit-code", type=int, required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--commit", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    run_url = "{}/{}/actions/runs/{}".format(
        *(os.environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    )
    image_tag = os.environ.get(IMAGE_TAG_VARIABLE, "(default)")
    plan = args.plan.read_text(errors="replace")
    text = render(
        stack=args.stack,
        exit_code=args.exit_code,
        plan=plan,
        commit=args.commit,
        run_url=run_url,
        image_tag=image_tag,
        environ=os.environ,
    )
    assert len(text) < COMMENT_LIMIT
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
