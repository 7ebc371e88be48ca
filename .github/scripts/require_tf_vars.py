#!/usr/bin/env python3
"""Refuse to plan or apply a stack while a Terraform variable it needs is empty.

GitHub expands a secret that is not set to an empty string, and an empty `TF_VAR_x` counts as a value for
Terraform, so a forgotten environment secret would otherwise be applied as "" (an empty DATABASE_URL in
the cluster). The list of what a stack needs is read from its synthesized `cdk.tf.json`, never repeated
here: every variable without a default, plus those named with `--require` (e.g. `image_tag`, whose
default must never be what a deploy falls back to). Credentials that are not Terraform variables (the
provider token, the state keys) are named with `--credential ENV[=SECRET]`, or with `--stack-credentials`: the ones
the stack's kind needs (STACK_CREDENTIALS), refusing those it must not receive. The app stacks reach the cluster with a
Kubernetes ServiceAccount token confined to their namespace, which is a Terraform variable without default
(`kube_token`, with `kube_endpoint` and `kube_ca_certificate`) and so checked as one; they must never receive a
DigitalOcean token, which DOKS turns into cluster-admin. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

#: Credentials that are not Terraform variables, by kind of stack: (environment variable, the GitHub secret that fills
#: it). Every stack's state lives in Spaces; only cluster and platform manage DigitalOcean resources.
STATE_KEYS = (("AWS_ACCESS_KEY_ID", "SPACES_ACCESS_KEY_ID"), ("AWS_SECRET_ACCESS_KEY", "SPACES_SECRET_ACCESS_KEY"))
STACK_CREDENTIALS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "infrastructure": (("DIGITALOCEAN_TOKEN", "DIGITALOCEAN_TOKEN"), *STATE_KEYS),
    "app": STATE_KEYS,
}
#: Credentials a kind of stack must not receive at all (set and not empty is refused).
FORBIDDEN_CREDENTIALS: Mapping[str, tuple[str, ...]] = {"app": ("DIGITALOCEAN_TOKEN",)}


def stack_kind(stack: str) -> str:
    """`app` for the app stacks (`app-<environment>`, as the workflows' `startsWith(stack, 'app-')`), else
    `infrastructure` (cluster, platform)."""
    return "app" if stack.startswith("app-") else "infrastructure"


def forbidden_credentials(stack: str, environ: Mapping[str, str]) -> list[str]:
    """The credentials set in `environ` that a stack of this kind must not receive."""
    return [name for name in FORBIDDEN_CREDENTIALS.get(stack_kind(stack), ()) if environ.get(name, "")]


def missing_variables(
    stack_json: Mapping[str, object], environ: Mapping[str, str], *, also_required: tuple[str, ...] = ()
) -> list[str]:
    """Names of the declared variables that need a value and have an empty or absent `TF_VAR_<name>`."""
    declared = stack_json.get("variable") or {}
    assert isinstance(declared, dict)
    needed = [name for name, spec in declared.items() if "default" not in spec or name in also_required]
    return sorted(name for name in needed if not environ.get(f"TF_VAR_{name}", ""))


def missing_credentials(credentials: Mapping[str, str], environ: Mapping[str, str]) -> list[str]:
    """The secrets (values of `credentials`, by environment variable) whose variable is empty or absent."""
    return [secret for variable, secret in credentials.items() if not environ.get(variable, "")]


def credential(text: str) -> tuple[str, str]:
    """`ENV=SECRET` (the secret that fills the environment variable), or `NAME` when both are the same."""
    variable, _, secret = text.partition("=")
    return variable, secret or variable


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack_json", type=Path, help="cdktf.out/stacks/<stack>/cdk.tf.json")
    parser.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="NAME",
        help="a variable that must be set even though it has a default (when declared)",
    )
    parser.add_argument(
        "--credential",
        action="append",
        default=[],
        type=credential,
        metavar="ENV[=SECRET]",
        help="an environment variable that must be set, from the named secret (default: same name)",
    )
    parser.add_argument(
        "--stack-credentials",
        action="store_true",
        help="also the credentials the stack's kind needs, and refuse those it must not receive (STACK_CREDENTIALS)",
    )
    parser.add_argument("--environment", default="(unknown)", help="GitHub environment named in the message")
    args = parser.parse_args(argv)
    stack = args.stack_json.parent.name
    credentials = dict(args.credential)
    forbidden: list[str] = []
    if args.stack_credentials:
        credentials |= dict(STACK_CREDENTIALS[stack_kind(stack)])
        forbidden = forbidden_credentials(stack, os.environ)
    for name in forbidden:
        print(
            f"::error title=Credential refused: {name}::stack {stack} must not receive {name}: an app stack reaches "
            "its namespace with the environment's ServiceAccount (KUBE_TOKEN); a DigitalOcean token is cluster-admin"
        )
    secrets = missing_credentials(credentials, os.environ)
    for secret in secrets:
        print(
            f"::error title=Missing value for {secret}::stack {stack} needs the secret {secret}: "
            f"set it in the GitHub environment '{args.environment}'"
        )
    missing = missing_variables(json.loads(args.stack_json.read_text()), os.environ, also_required=tuple(args.require))
    for name in missing:
        if name in args.require:
            where = "a deploy must give it explicitly (deploy.yml's gate sets it from the images it verified)"
        else:
            where = f"set the secret {name.upper()} in the GitHub environment '{args.environment}'"
        print(f"::error title=Missing value for {name}::stack {stack} needs TF_VAR_{name}: {where}")
    if forbidden:
        print(f"{stack}: must not receive: {', '.join(forbidden)}", file=sys.stderr)
    if missing or secrets:
        print(f"{stack}: without a value: {', '.join([*missing, *secrets])}", file=sys.stderr)
    if missing or secrets or forbidden:
        return 1
    print(f"{stack}: every required Terraform variable has a value")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
