#!/usr/bin/env python3
"""Keep one GitHub issue per stack with drift: open it when drift appears, update it while it lasts, close it when
the stack is clean again.

Reads what drift.yml's plan jobs wrote (`<stack>.md`, the report whose first line marks the stack, and
`<stack>.status`, terraform's exit code: 0 clean, 2 drift, anything else a failed check) and talks to GitHub through
`gh`. An issue is found again by the marker at the start of its body, among the open issues labelled `drift`. A
failed check changes no issue: its job fails and says why, and a stack's issue is never closed without a clean plan.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LABEL = "drift"
DRIFT, CLEAN = 2, 0


@dataclass(frozen=True)
class Action:
    """One change to one issue: `create` (title, body), `edit` (number, body) or `close` (number, comment)."""

    kind: str
    stack: str
    number: int = 0
    text: str = ""


def marker(stack: str) -> str:
    return f"<!-- drift:{stack} -->"


def read_reports(folder: Path) -> dict[str, tuple[int, str]]:
    """stack -> (exit code, report body), for every `<stack>.status` in the folder (a missing report: empty body)."""
    reports = {}
    for status_file in sorted(folder.glob("*.status")):
        stack = status_file.stem
        try:
            status = int(status_file.read_text().strip())
        except ValueError:
            status = 1
        report = folder / f"{stack}.md"
        reports[stack] = (status, report.read_text() if report.exists() else "")
    return reports


def issue_of(issues: Sequence[Mapping[str, Any]], stack: str) -> Mapping[str, Any] | None:
    return next((issue for issue in issues if str(issue.get("body", "")).startswith(marker(stack))), None)


def plan_actions(
    reports: Mapping[str, tuple[int, str]], issues: Sequence[Mapping[str, Any]], *, run_url: str
) -> list[Action]:
    """What to change, decided from the reports and the open drift issues alone (no side effect)."""
    actions = []
    for stack, (status, body) in sorted(reports.items()):
        existing = issue_of(issues, stack)
        if status == DRIFT and not body.startswith(marker(stack)):
            raise ValueError(f"the drift report of {stack} does not start with {marker(stack)}")
        if status == DRIFT and existing is None:
            actions.append(Action("create", stack, text=body))
        elif status == DRIFT and existing is not None:
            actions.append(Action("edit", stack, int(existing["number"]), body))
        elif status == CLEAN and existing is not None:
            comment = f"No drift any more: `{stack}` matches its state ([drift check]({run_url})). Closing."
            actions.append(Action("close", stack, int(existing["number"]), comment))
    return actions


def gh(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["gh", *args], input=stdin, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"gh {' '.join(args[:2])} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def apply(action: Action, repository: str) -> None:
    if action.kind == "create":
        gh("label", "create", LABEL, "--repo", repository, "--force", "--color", "d93f0b",
           "--description", "Real infrastructure differs from Terraform state (drift.yml)")  # fmt: skip
        title = f"Drift: {action.stack} differs from its Terraform state"
        gh("issue", "create", "--repo", repository, "--title", title, "--label", LABEL, "--body-file", "-",
           stdin=action.text)  # fmt: skip
    elif action.kind == "edit":
        gh("issue", "edit", str(action.number), "--repo", repository, "--body-file", "-", stdin=action.text)
    else:
        gh("issue", "close", str(action.number), "--repo", repository, "--comment", action.text)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, required=True, help="folder of <stack>.md and <stack>.status")
    parser.add_argument("--repository", required=True, help="owner/name")
    args = parser.parse_args(argv)
    run_url = f"https://github.com/{args.repository}/actions/runs/{os.environ.get('GITHUB_RUN_ID', '')}"
    try:
        reports = read_reports(args.reports)
        if not reports:
            raise ValueError(f"no drift report in {args.reports}: every plan job failed before writing one")
        listed = gh("issue", "list", "--repo", args.repository, "--state", "open", "--label", LABEL,
                    "--json", "number,title,body", "--limit", "100")  # fmt: skip
        for action in plan_actions(reports, json.loads(listed or "[]"), run_url=run_url):
            apply(action, args.repository)
            print(f"{action.stack}: {action.kind} {('#' + str(action.number)) if action.number else ''}".rstrip())
    except (RuntimeError, ValueError) as error:
        print(f"::error title=Drift issues::{error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
