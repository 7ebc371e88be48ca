"""Revisions of the write-only secrets: a keyed digest of everything a write-only argument carries, computed
before Terraform runs.

Secret inputs are ephemeral Terraform variables: Terraform keeps them out of state and plan files and lets them
reach only write-only arguments (`kubernetes_secret_v1.data_wo`). The provider sends `data_wo` to the cluster
only when its `data_wo_revision` changes, and Terraform allows no value derived from an ephemeral one in that
(stored) argument. So `dev.py` derives each revision before Terraform runs: HMAC-SHA256, under the key in
`SECRETS_DIGEST_KEY`, of everything the provider cannot diff, cut to 52 bits:

- the names and values of the secret variables the write-only argument carries;
- the synthesized write-only map itself: its key names and each value's expression text as synthesized (e.g.
  `${templatefile("assets/…/alertmanager.yaml.tftpl", {…})}` or `${jsonencode({…})}`: references, never values);
- the content of every file those expressions read (`file()`, `templatefile()`, …), from the stack's directory.

A rotated secret, a renamed key or an edited template changes the revision, so none needs anyone to bump a number;
the number stored in state tells nothing about the values without the key — not even whether a guess is right.
Secret values enter the HMAC input and nothing else.

Which variables feed which revision is read from the synthesized stack (`<attr>_wo` next to `<attr>_wo_revision`),
never listed twice. Standard library only: dev.py imports this before any virtual environment exists.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from todo_infra.trees import walk

DIGEST_KEY_ENV = "SECRETS_DIGEST_KEY"
MIN_KEY_LENGTH = 32
#: Revisions are JSON numbers in state; 52 bits keep them exact in every JSON reader.
REVISION_BITS = 52
_VARIABLE = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")
_SINGLE_VARIABLE = re.compile(r"^\$\{var\.([A-Za-z_][A-Za-z0-9_-]*)\}$")
#: A call of a Terraform function that reads a file (file, filebase64, filesha256, …, templatefile).
_FILE_CALL = re.compile(r"\b(file[a-z0-9]*|templatefile)\s*\(")
#: Its first argument when it is a plain string literal (no escapes, no interpolation): the only form that can be read.
_LITERAL_PATH = re.compile(r'\s*"([^"\\$%]+)"\s*[,)]')
#: A function call inside an interpolation or directive of a template (a template reading a file is not followed).
_TEMPLATE_FILE_CALL = re.compile(r"[$%]\{[^}]*\b(?:file[a-z0-9]*|templatefile)\s*\(")


class DigestKeyError(ValueError):
    """SECRETS_DIGEST_KEY is missing or too short; the message is one line saying what to set."""


def _strings(node: Any) -> Iterator[str]:
    return (value for value in walk(node) if isinstance(value, str))


def write_only_arguments(stack: Mapping[str, Any]) -> dict[str, Any]:
    """revision variable -> the synthesized write-only argument it versions (e.g. a `data_wo` map), for one stack."""
    found: dict[str, Any] = {}
    for resources in stack.get("resource", {}).values():
        for resource in resources.values():
            for attribute, value in resource.items():
                if not attribute.endswith("_wo_revision"):
                    continue
                match = _SINGLE_VARIABLE.match(str(value))
                if not match:
                    raise ValueError(f"{attribute} must be a single variable reference, found {value!r}")
                found[match.group(1)] = resource.get(attribute.removesuffix("_revision"), {})
    return found


def revision_inputs(stack: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """revision variable -> the variables whose values its write-only argument carries, for one stack."""
    return {
        name: tuple(sorted({variable for text in _strings(carried) for variable in _VARIABLE.findall(text)}))
        for name, carried in write_only_arguments(stack).items()
    }


def files_read(carried: Any, *, templates_only: bool = False) -> tuple[str, ...]:
    """The paths (relative to the stack's directory) of the files a write-only argument's expressions read (only
    those rendered by templatefile() with `templates_only`).

    Refuses a file function whose path is not a plain string literal: what it reads could not be digested."""
    paths: set[str] = set()
    for text in _strings(carried):
        for call in _FILE_CALL.finditer(text):
            literal = _LITERAL_PATH.match(text, call.end())
            if not literal:
                raise ValueError(
                    f"a write-only argument reads a file through {text[call.start() : call.end()]}…) with a path "
                    "that is not a plain string literal: its revision could not cover the file's content"
                )
            if not templates_only or call.group(1) == "templatefile":
                paths.add(literal.group(1))
    return tuple(sorted(paths))


@dataclass(frozen=True)
class Shape:
    """The non-secret part of a revision's input: what the provider cannot diff besides the secret values.

    `argument` is the synthesized write-only argument (key names and expression text: references, never values);
    `files` maps each file its expressions read to that file's content."""

    argument: Any
    files: Mapping[str, str]

    def canonical(self) -> list[Any]:
        return [self.argument, sorted(self.files.items())]


def shape(carried: Any, workdir: Path | None) -> Shape:
    """The Shape of one write-only argument; `workdir` is the stack's directory, which relative paths start from."""
    contents: dict[str, str] = {}
    templates = files_read(carried, templates_only=True)
    for path in files_read(carried):
        if workdir is None:
            raise ValueError(f"a write-only argument reads {path}: the stack's directory is needed to digest it")
        file = workdir / path
        if not file.is_file():
            raise ValueError(f"a write-only argument reads {path}, which is not in {workdir}: synthesize first")
        content = file.read_text(encoding="utf-8")
        if path in templates and _TEMPLATE_FILE_CALL.search(content):
            raise ValueError(f"the template {path} reads a file itself: its revision could not cover that file")
        contents[path] = content
    return Shape(argument=carried, files=contents)


def digest_key(environ: Mapping[str, str]) -> bytes:
    key = environ.get(DIGEST_KEY_ENV, "")
    if len(key) < MIN_KEY_LENGTH:
        raise DigestKeyError(
            f"{DIGEST_KEY_ENV} must be set to a random string of at least {MIN_KEY_LENGTH} characters "
            f"(e.g. `openssl rand -hex 32`; in CI the environment secret {DIGEST_KEY_ENV})"
            + (f", it has {len(key)}" if key else "")
        )
    return key.encode()


def revision(key: bytes, values: Mapping[str, str], carries: Shape | None = None) -> int:
    """The keyed digest of some named values and the shape that carries them, as a positive integer below 2**52 + 1.

    The message is canonical JSON (sorted keys and names), so neither the order of the values nor that of a map's
    keys changes it."""
    message = json.dumps(
        {"values": sorted(values.items()), "shape": carries.canonical() if carries else None},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return int.from_bytes(digest, "big") >> (256 - REVISION_BITS) | 1


def revisions(stack: Mapping[str, Any], environ: Mapping[str, str], workdir: Path | None = None) -> dict[str, int]:
    """TF_VAR_<revision> values for one stack, from the TF_VAR_<secret> values (or their defaults) in environ and
    the synthesized write-only arguments; `workdir` is the stack's directory (cdktf.out/stacks/<stack>), needed
    when an argument reads a file.

    A revision whose inputs are not all given is left out (Terraform then refuses the plan and names what is
    missing); the digest key is needed only when there is a revision to derive."""
    variables = stack.get("variable", {})
    arguments = write_only_arguments(stack)
    shapes = {name: shape(carried, workdir) for name, carried in arguments.items()}
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
    return {name: revision(key, values, shapes[name]) for name, values in given.items()}
