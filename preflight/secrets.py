"""Secret flow: follow every secret input through each synthesized stack and prove it reaches only write-only
arguments (never stored in state or plan) or provider configuration (never stored either).

A secret input is a variable marked sensitive or ephemeral. The check reads the Terraform JSON statically: every
expression that names `var.<secret>`, or a local computed from one, is a place the value flows to. Allowed
places: an argument whose name ends in `_wo` (data_wo, binary_data_wo, set_wo, ...) at any depth below it,
a provider block, and the variable's own validation. Anything else — an ordinary argument, an output, a data
source, a helm value — is reported with its resource and argument.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from preflight.report import CheckResult
from preflight.synth import Synthesized

_REFERENCE = re.compile(r"\b(var|local)\.([A-Za-z_][A-Za-z0-9_-]*)")


def secret_variables(stack: Mapping[str, Any]) -> set[str]:
    return {name for name, spec in stack.get("variable", {}).items() if spec.get("sensitive") or spec.get("ephemeral")}


def _places(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path, string) of every string in a JSON value."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _places(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _places(value, (*path, str(index)))


def _tainted_locals(stack: Mapping[str, Any], secrets: set[str]) -> set[str]:
    """Locals whose value is computed from a secret, directly or through other locals."""
    locals_ = stack.get("locals", {})
    tainted: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, value in locals_.items():
            if name in tainted:
                continue
            for _, text in _places(value, ()):
                if any(
                    (kind == "var" and ref in secrets) or (kind == "local" and ref in tainted)
                    for kind, ref in _REFERENCE.findall(text)
                ):
                    tainted.add(name)
                    changed = True
                    break
    return tainted


def _allowed(path: tuple[str, ...], secret: str) -> bool:
    if path[:1] == ("provider",):
        return True
    if path[:1] == ("locals",):
        return True  # followed: the local is tainted and judged where it is used
    if path[:3] == ("variable", secret, "validation"):
        return True
    if path[:1] == ("resource",) and len(path) >= 4:
        return path[3].endswith("_wo")
    return False


def secret_leaks(stack: Mapping[str, Any]) -> list[str]:
    """Where a secret input of the stack flows that is stored (state, plan) or shown (outputs); empty when none."""
    secrets = secret_variables(stack)
    tainted = _tainted_locals(stack, secrets)
    leaks = set()
    for path, text in _places(stack, ()):
        for kind, ref in _REFERENCE.findall(text):
            if kind == "var" and ref in secrets:
                source, secret = f"var.{ref}", ref
            elif kind == "local" and ref in tainted:
                source, secret = f"local.{ref} (computed from a secret)", ""
            else:
                continue
            if not _allowed(path, secret):
                leaks.add(f"{source} flows into {_describe(path)}")
    return sorted(leaks)


def _describe(path: tuple[str, ...]) -> str:
    if path[0] in ("resource", "data") and len(path) >= 4:
        kind = "data source " if path[0] == "data" else ""
        return f"{kind}{path[1]}.{path[2]} argument {'.'.join(path[3:])}"
    return ".".join(path)


def check_secret_flow(synth: Synthesized) -> CheckResult:
    rows: list[list[str]] = []
    problems: list[str] = []
    for stack_id, stack in synth.stacks.items():
        leaks = secret_leaks(stack)
        problems += [f"{stack_id}: {leak}" for leak in leaks]
        rows.append([stack_id, str(len(secret_variables(stack))), "ok" if not leaks else f"{len(leaks)} leak(s)"])
    return CheckResult(
        name="secrets",
        title="Secret flow (secret inputs reach only write-only arguments and providers)",
        headers=["stack", "secret inputs", "result"],
        rows=rows,
        problems=problems,
    )
