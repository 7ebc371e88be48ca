"""Terraform itself, offline: load every synthesized stack, and run provider-free configurations.

No provider is downloaded: Terraform gets a CLI configuration of its own whose only provider source is an empty
filesystem mirror. `terraform init` decodes the whole configuration before it looks for providers: every block and
argument name, the variables with their validation rules, outputs, locals, backend and required_providers. A
configuration error is reported with Terraform's own message, and a valid stack stops at "provider not found" for
exactly the providers it requires. What init cannot judge without provider schemas (resource arguments, and
expressions that are only parsed when evaluated in JSON syntax) is left to `terraform plan` in the workflows.
Configurations without providers (variables and their validations, locals, outputs, `terraform_remote_state`,
backends) run for real here: `plan` and `apply` work on them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import toolchain
from preflight.report import CheckResult
from preflight.synth import Synthesized

#: The only error a stack may end `terraform init` with here: its providers are not in the (empty) mirror.
PROVIDER_NOT_FOUND = "Failed to query available provider packages"
#: Terraform's wrapper around configuration errors found during init; the errors themselves follow it.
_INIT_WRAPPER = "Terraform encountered problems during initialisation"

_CLI_CONFIG = """\
provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = ["*/*/*"]
  }}
  direct {{
    exclude = ["*/*/*"]
  }}
}}
disable_checkpoint = true
"""


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    summary: str
    detail: str
    where: str

    def __str__(self) -> str:
        return f"{self.where}: {self.summary}: {' '.join(self.detail.split())}".strip(": ")


@dataclass(frozen=True)
class Outcome:
    """What one Terraform command did: its exit code, diagnostics (from -json output) and raw output."""

    returncode: int
    diagnostics: tuple[Diagnostic, ...]
    stdout: str
    stderr: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def first_error(self) -> str:
        return str(self.errors[0]) if self.errors else self.output.strip()[-500:]


def _diagnostics(lines: str) -> tuple[Diagnostic, ...]:
    found = []
    for line in lines.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        diagnostic = message.get("diagnostic") if isinstance(message, dict) else None
        if not diagnostic:
            continue
        where = ""
        if diagnostic.get("range"):
            where = f"{diagnostic['range']['filename']}:{diagnostic['range']['start']['line']}"
        if diagnostic.get("snippet", {}).get("context"):
            where = f"{where} ({diagnostic['snippet']['context']})"
        found.append(Diagnostic(diagnostic["severity"], diagnostic["summary"], diagnostic.get("detail", ""), where))
    return tuple(found)


class Terraform:
    """The pinned Terraform binary with an offline CLI configuration, run in folders of the caller's choosing."""

    def __init__(self, scratch: Path, binary: Path | None = None) -> None:
        self.binary = binary or toolchain.find("terraform")
        mirror = scratch / "empty-provider-mirror"
        mirror.mkdir(parents=True, exist_ok=True)
        self.cli_config = scratch / "offline.tfrc"
        self.cli_config.write_text(_CLI_CONFIG.format(mirror=mirror))

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))}
        env.update(TF_CLI_CONFIG_FILE=str(self.cli_config), CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1")
        env.update(extra or {})
        return env

    def run(self, folder: Path, *args: str, env: Mapping[str, str] | None = None) -> Outcome:
        result = subprocess.run(
            [str(self.binary), *args],
            cwd=folder,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Outcome(result.returncode, _diagnostics(result.stdout + result.stderr), result.stdout, result.stderr)

    def apply(self, folder: Path, *args: str, env: Mapping[str, str] | None = None) -> Outcome:
        """`init` + `apply` of a provider-free configuration; `values` holds its outputs."""
        init = self.run(folder, "init", "-input=false", "-no-color", "-json", *args, env=env)
        if init.returncode != 0:
            return init
        applied = self.run(folder, "apply", "-auto-approve", "-input=false", "-no-color", "-json", env=env)
        if applied.returncode != 0:
            return applied
        shown = self.run(folder, "output", "-json", env=env)
        values = {name: item["value"] for name, item in json.loads(shown.stdout or "{}").items()}
        return Outcome(applied.returncode, applied.diagnostics, applied.stdout, applied.stderr, values)


def write_config(folder: Path, document: Mapping[str, Any] | str, name: str = "main.tf.json") -> Path:
    """Write a Terraform JSON configuration (a document, or its text as synthesized) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=2))
    return path


@dataclass(frozen=True)
class StackLoad:
    """The result of loading one synthesized stack with `terraform init -backend=false`."""

    stack: str
    required_providers: frozenset[str]
    missing_providers: frozenset[str]
    configuration_errors: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return not self.configuration_errors and self.missing_providers == self.required_providers


def _provider_address(diagnostic: Diagnostic) -> str | None:
    # "... for provider hashicorp/helm: provider registry.terraform.io/hashicorp/helm was not found ..."
    marker = "for provider "
    if diagnostic.summary != PROVIDER_NOT_FOUND or marker not in diagnostic.detail:
        return None
    return diagnostic.detail.split(marker, 1)[1].split(":", 1)[0].strip()


def required_providers(stack: Mapping[str, Any]) -> frozenset[str]:
    """Provider addresses (namespace/type) a stack requires; a bare source such as "helm" means hashicorp/helm."""
    sources = [spec["source"] for spec in stack.get("terraform", {}).get("required_providers", {}).values()]
    return frozenset(source if "/" in source else f"hashicorp/{source}" for source in sources)


def load_stack(terraform: Terraform, stack_id: str, text: str, scratch: Path) -> StackLoad:
    """Let Terraform parse and check one stack's `cdk.tf.json` text (without its backend or providers)."""
    folder = scratch / "load" / stack_id
    write_config(folder, text, "cdk.tf.json")
    stack = json.loads(text)
    outcome = terraform.run(folder, "init", "-backend=false", "-input=false", "-no-color", "-json")
    missing = {address for d in outcome.errors if (address := _provider_address(d))}
    problems = tuple(
        d for d in outcome.errors if _provider_address(d) is None and not d.summary.startswith(_INIT_WRAPPER)
    )
    if outcome.returncode != 0 and not outcome.errors:
        problems = (Diagnostic("error", "terraform init failed", outcome.output.strip()[-500:], stack_id),)
    return StackLoad(stack_id, required_providers(stack), frozenset(missing), problems)


@contextmanager
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="terraform-offline-") as folder:
        yield Path(folder)


def check_terraform(synth: Synthesized, scratch: Path, terraform: Terraform | None = None) -> CheckResult:
    """Would Terraform accept every stack? Load each one as synthesized; only missing providers may stop it."""
    problems: list[str] = []
    rows: list[list[str]] = []
    try:
        terraform = terraform or Terraform(scratch)
    except toolchain.ToolError as error:
        return CheckResult("terraform", "Terraform loads every stack", ["stack"], [], [str(error)])
    for stack_id, stack in synth.manifest["stacks"].items():
        result = load_stack(terraform, stack_id, (synth.outdir / stack["synthesizedStackPath"]).read_text(), scratch)
        problems += [f"{stack_id}: {error}" for error in result.configuration_errors]
        if not result.configuration_errors and result.missing_providers != result.required_providers:
            problems.append(
                f"{stack_id}: Terraform stopped before provider installation "
                f"(requires {sorted(result.required_providers)}, looked for {sorted(result.missing_providers)})"
            )
        rows.append([stack_id, ", ".join(sorted(result.required_providers)), "ok" if result.ok else "FAILED"])
    version = toolchain.reported_version(terraform.binary, toolchain.tool("terraform"))
    return CheckResult(
        name="terraform",
        title=f"Terraform {version} loads every stack (init against an empty provider mirror)",
        headers=["stack", "providers required", "configuration"],
        rows=rows,
        problems=problems,
    )


def evaluate(
    terraform: Terraform,
    folder: Path,
    *,
    stack_dir: Path,
    stack: Mapping[str, Any],
    expressions: Mapping[str, str],
    variables: Mapping[str, str],
) -> dict[str, Any]:
    """Values of expressions taken from a synthesized stack, as Terraform computes them for the given variables.

    The evaluation runs in `folder` with the stack's variables and locals as synthesized and a copy of its assets
    (templatefile() paths are relative to the stack), and one output per expression. The only change: variables
    lose `ephemeral`, because an output may not carry an ephemeral value. Expressions that read resources cannot be
    evaluated without providers. Variables not given get a dummy value when they have no default."""
    declared = {
        name: {k: v for k, v in spec.items() if k != "ephemeral"} for name, spec in stack.get("variable", {}).items()
    }
    config = {
        "variable": declared,
        "locals": stack.get("locals", {}),
        "output": {name: {"value": expression, "sensitive": True} for name, expression in expressions.items()},
    }
    write_config(folder, {key: value for key, value in config.items() if value})
    if (stack_dir / "assets").is_dir():
        shutil.copytree(stack_dir / "assets", folder / "assets", dirs_exist_ok=True)
    env = {f"TF_VAR_{name}": "1" for name, spec in declared.items() if "default" not in spec}
    env.update({f"TF_VAR_{name}": value for name, value in variables.items()})
    outcome = terraform.apply(folder, env=env)
    if outcome.returncode != 0:
        raise RuntimeError(f"terraform could not evaluate the expressions: {outcome.first_error()}")
    return outcome.values
