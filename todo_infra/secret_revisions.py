"""Revisions of the write-only secrets: a keyed digest of their values, computed before Terraform runs.

Secret inputs are ephemeral Terraform variables: Terraform keeps them out of state and plan files and lets them
reach only write-only arguments (`kubernetes_secret_v1.data_wo`). The provider sends `data_wo` to the cluster
only when its `data_wo_revision` changes, and Terraform allows no value derived from an ephemeral one in that
(stored) argument. So `dev.py` derives each revision before Terraform runs: HMAC-SHA256, under the key in
`SECRETS_DIGEST_KEY`, of the names and values of the variables that feed that write-only argument, cut to 52 bits.
A changed secret changes its revision, so rotation needs no one to bump a number; the number stored in state
tells nothing about the values without the key — not even whether a guess is right.

Which variables feed which revision is read from the synthesized stack (`<attr>_wo` next to `<attr>_wo_revision`),
never listed twice. Standard library only: dev.py imports this before any virtual environment exists.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from todo_infra.trees import walk

DIGEST_KEY_ENV = "SECRETS_DIGEST_KEY"
MIN_KEY_LENGTH = 32
#: Revisions are JSON numbers in state; 52 bits keep them exact in every JSON reader.
REVISION_BITS = 52
_VARIABLE = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")
_SINGLE_VARIABLE = re.compile(r"^\$\{var\.([A-Za-z_][A-Za-z0-9_-]*)\}$")


class DigestKeyError(ValueError):
    """SECRETS_DIGEST_KEY is missing or too short; the message is one line saying what to set."""


def _strings(node: Any) -> Iterator[str]:
    return (value for value in walk(node) if isinstance(value, str))


def revision_inputs(stack: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """revision variable -> the variables whose values its write-only argument carries, for one stack."""
    found: dict[str, tuple[str, ...]] = {}
    for resources in stack.get("resource", {}).values():
        for resource in resources.values():
            for attribute, value in resource.items():
                if not attribute.endswith("_wo_revision"):
                    continue
                match = _SINGLE_VARIABLE.match(str(value))
                if not match:
                    raise ValueError(f"{attribute} must be a single variable reference, found {value!r}")
                carried = resource.get(attribute.removesuffix("_revision"), {})
                found[match.group(1)] = tuple(
                    sorted({name for text in _strings(carried) for name in _VARIABLE.findall(text)})
                )
    return found


def digest_key(environ: Mapping[str, str]) -> bytes:
    key = environ.get(DIGEST_KEY_ENV, "")
    if len(key) < MIN_KEY_LENGTH:
        raise DigestKeyError(
            f"{DIGEST_KEY_ENV} must be set to a random string of at least {MIN_KEY_LENGTH} characters "
            f"(e.g. `openssl rand -hex 32`; in CI the environment secret {DIGEST_KEY_ENV})"
            + (f", it has {len(key)}" if key else "")
        )
    return key.encode()


def revision(key: bytes, values: Mapping[str, str]) -> int:
    """The keyed digest of some named values, as a positive integer below 2**52 + 1."""
    message = json.dumps(sorted(values.items()), separators=(",", ":")).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return int.from_bytes(digest, "big") >> (256 - REVISION_BITS) | 1


def revisions(stack: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, int]:
    """TF_VAR_<revision> values for one stack, from the TF_VAR_<secret> values (or their defaults) in environ.

    A revision whose inputs are not all given is left out (Terraform then refuses the plan and names what is
    missing); the digest key is needed only when there is a revision to derive."""
    variables = stack.get("variable", {})
    given: dict[str, dict[str, str]] = {}
    for name, carried in revision_inputs(stack).items():
        values = {}
        for variable in carried:
            value = environ.get(f"TF_VAR_{variable}")
            if value is None and "default" not in variables.get(variable, {}):
                break
            values[variable] = value if value is not None else str(variables[variable]["default"])
        else:
            given[name] = values
    if not given:
        return {}
    key = digest_key(environ)
    return {name: revision(key, values) for name, values in given.items()}
