"""Reading the workflows as GitHub does: YAML with `on:` kept a string, `${{ }}` expressions evaluated,
docker/metadata-action's tag rules applied, and `run:` scripts executed the way the runner's bash runs them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from todo_infra import yamlload

REPO = Path(__file__).resolve().parents[2]
GITHUB_DIR = REPO / ".github"
WORKFLOWS_DIR = GITHUB_DIR / "workflows"


# --- loading ----------------------------------------------------------------------------------------


def load_workflow(path: Path) -> dict[str, Any]:
    """Parse one workflow; PyYAML (YAML 1.1) reads the key `on` as True, so it is put back as "on"."""
    data: dict[Any, Any] = yamlload.load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def triggers(workflow: Mapping[str, Any]) -> dict[str, Any]:
    """`on:` as a mapping of event -> configuration (None when the event has no configuration)."""
    on = workflow["on"]
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on)


def steps(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def step_named(job: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    found = [s for s in steps(job) if str(s.get("name", "")).startswith(prefix)]
    assert len(found) == 1, f"expected one step named {prefix!r}, got {[s.get('name') for s in steps(job)]}"
    return found[0]


def step_using(job: Mapping[str, Any], action: str) -> dict[str, Any]:
    found = [s for s in steps(job) if str(s.get("uses", "")).split("@")[0] == action]
    assert len(found) == 1, f"expected one step using {action}"
    return found[0]


def all_jobs(workflows: Mapping[str, Mapping[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for file, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            yield file, job_id, job


# --- expressions ------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\)|,)|(?P<num>\d+)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.-]*))"
)


class ExpressionError(ValueError):
    pass


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate the subset of the GitHub expression language these workflows use.

    Supported: literals, context paths (`github.ref`), ==, !=, !, &&, || (returning operands, as GitHub
    does), parentheses, startsWith/endsWith/contains/format, and the status functions always/cancelled/success/
    failure (from `needs.*.result` and `run.cancelled`). Anything else raises, so a workflow that grows an
    expression this evaluator does not understand fails the test instead of passing blindly.
    """
    tokens: list[tuple[str, str]] = []
    position = 0
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}"):  # `if: ${{ ... }}`, needed where a condition starts with `!`
        text = text[3:-2].strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ExpressionError(f"cannot read {text[position:]!r} in {expression!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    parser = _Parser(tokens, context, expression)
    value = parser.or_()
    if parser.index != len(tokens):
        raise ExpressionError(f"trailing tokens in {expression!r}")
    return value


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "")


def _as_number(value: Any) -> float:
    """GitHub's coercion for comparing values of different types: null 0, booleans 0/1, strings parsed ('' is 0,
    anything unparsable NaN), objects and arrays NaN."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else 0.0
        except ValueError:
            return float("nan")
    return float("nan")


def _loosely_equal(left: Any, right: Any) -> bool:
    """`==` as GitHub evaluates it: strings case-insensitively, other same-typed values as they are, mixed types as
    numbers (so a missing output, null, equals '')."""
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    if type(left) is type(right):
        return bool(left == right)
    return _as_number(left) == _as_number(right)


def _lookup(context: Mapping[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


@dataclass
class _Parser:
    tokens: list[tuple[str, str]]
    context: Mapping[str, Any]
    source: str
    index: int = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value!r} in {self.source!r}")
        self.index += 1
        return token

    def or_(self) -> Any:
        left = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            left = left if _truthy(left) else right
        return left

    def and_(self) -> Any:
        left = self.compare()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.compare()
            left = right if _truthy(left) else left
        return left

    def compare(self) -> Any:
        left = self.unary()
        token = self.peek()
        if token in (("op", "=="), ("op", "!=")):
            self.take()
            right = self.unary()
            equal = _loosely_equal(left, right)
            return equal if token[1] == "==" else not equal
        return left

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not _truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:  # noqa: PLR0911 - one return per kind of token
        kind, value = self.take()
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return int(value)
        if (kind, value) == ("op", "("):
            inner = self.or_()
            self.take(")")
            return inner
        if kind == "name":
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            if self.peek() == ("op", "("):
                return self.call(value)
            return _lookup(self.context, value)
        raise ExpressionError(f"unexpected {value!r} in {self.source!r}")

    def call(self, name: str) -> Any:
        self.take("(")
        args = [] if self.peek() == ("op", ")") else [self.or_()]
        while self.peek() == ("op", ","):
            self.take()
            args.append(self.or_())
        self.take(")")
        if name in _STATUS_FUNCTIONS:
            if args:
                raise ExpressionError(f"{name}() takes no argument in {self.source!r}")
            return _STATUS_FUNCTIONS[name](self.context)
        text = [str(a if a is not None else "") for a in args]
        if name == "startsWith":
            return text[0].lower().startswith(text[1].lower())
        if name == "endsWith":
            return text[0].lower().endswith(text[1].lower())
        if name == "contains":
            return text[1].lower() in text[0].lower()
        if name == "format":
            return re.sub(r"\{(\d+)\}", lambda m: text[1 + int(m.group(1))], text[0])
        raise ExpressionError(f"function {name} is not supported by this evaluator")


def _needs_results(context: Mapping[str, Any]) -> list[str]:
    return [str(job.get("result")) for job in (context.get("needs") or {}).values()]


#: Status-check functions, judged from the context: `needs.<job>.result`, and `run.cancelled` for a cancelled run.
_STATUS_FUNCTIONS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "always": lambda context: True,
    "cancelled": lambda context: bool(_lookup(context, "run.cancelled")),
    "success": lambda context: (
        not _lookup(context, "run.cancelled") and all(result == "success" for result in _needs_results(context))
    ),
    "failure": lambda context: any(result == "failure" for result in _needs_results(context)),
}


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def interpolate(text: str, context: Mapping[str, Any]) -> str:
    """Replace every `${{ expr }}` in a string the way the runner does before an action sees it."""

    def render(match: re.Match[str]) -> str:
        value = evaluate(match.group(1), context)
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return _TEMPLATE.sub(render, text)


def github_context(
    *,
    event_name: str,
    ref: str,
    sha: str = "0123456789abcdef0123456789abcdef01234567",
    repository: str = "Example-Org/hackathon-todo-infra",
) -> dict[str, Any]:
    ref_type = "tag" if ref.startswith("refs/tags/") else "branch"
    ref_name = ref.split("/", 2)[2] if ref.startswith(("refs/heads/", "refs/tags/")) else ref
    return {
        "github": {
            "event_name": event_name,
            "ref": ref,
            "sha": sha,
            "ref_type": ref_type,
            "ref_name": ref_name,
            "repository": repository,
            "repository_owner": repository.split("/", maxsplit=1)[0],
        },
        "matrix": {
            "service": "backend",
            "context": "services/backend",
            "image": "ghcr.io/example-org/hackathon-todo/backend",
        },
    }


# --- docker/metadata-action -------------------------------------------------------------------------

_SEMVER = re.compile(r"^v?(?P<version>(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?)$")
_KNOWN_ATTRIBUTES = {
    "sha": {"prefix", "suffix", "format", "enable"},
    "ref": {"event", "prefix", "suffix", "enable"},
    "raw": {"value", "prefix", "suffix", "enable"},
    "semver": {"pattern", "enable"},
}


def metadata_tags(tags_input: str, flavor_input: str, context: Mapping[str, Any]) -> set[str]:  # noqa: PLR0912
    """The tags docker/metadata-action (v5) computes from its `tags` and `flavor` inputs for one event.

    Models the rule types used here (sha, ref, raw, semver) and the `latest` flavor. An unknown rule type
    or attribute raises instead of being ignored.
    """
    github = context["github"]
    flavor = dict(line.split("=", 1) for line in interpolate(flavor_input, context).split() if line)
    tags: set[str] = set()
    semver_matched = False
    for line in interpolate(tags_input, context).splitlines():
        if not line.strip():
            continue
        attributes = dict(part.split("=", 1) for part in line.strip().split(","))
        kind = attributes.pop("type")
        unknown = set(attributes) - _KNOWN_ATTRIBUTES.get(kind, set())
        if kind not in _KNOWN_ATTRIBUTES or unknown:
            raise ValueError(f"metadata rule {line!r}: unsupported type or attributes {unknown}")
        if attributes.pop("enable", "true") != "true":
            continue
        prefix, suffix = attributes.get("prefix", ""), attributes.get("suffix", "")
        if kind == "sha":
            short = attributes.get("format", "short") == "short"
            tags.add(attributes.get("prefix", "sha-") + (github["sha"][:7] if short else github["sha"]) + suffix)
        elif kind == "ref":
            event = attributes["event"]
            if event == "branch" and github["ref"].startswith("refs/heads/"):
                tags.add(prefix + re.sub(r"[^a-zA-Z0-9._-]+", "-", github["ref_name"]) + suffix)
            elif event == "tag" and github["ref"].startswith("refs/tags/"):
                tags.add(prefix + github["ref_name"] + suffix)
            elif event not in ("branch", "tag", "pr"):
                raise ValueError(f"metadata rule {line!r}: unsupported event")
        elif kind == "raw":
            tags.add(prefix + attributes["value"] + suffix)
        elif kind == "semver" and github["ref"].startswith("refs/tags/"):
            match = _SEMVER.match(github["ref_name"])
            if match:
                semver_matched = True
                tags.add(attributes["pattern"].replace("{{version}}", match.group("version")))
    latest = flavor.get("latest", "auto")
    prerelease = "-" in github.get("ref_name", "")
    if latest == "true" or (latest == "auto" and semver_matched and not prerelease):
        tags.add("latest")
    return tags


# --- running `run:` scripts -------------------------------------------------------------------------


@dataclass
class StepResult:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str = ""

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def run_script(
    script: str, *, env: Mapping[str, str], cwd: Path, tmp_path: Path, path_prepend: Path | None = None
) -> StepResult:
    """Run a step's `run:` as the runner does on Linux: `bash --noprofile --norc -eo pipefail`."""
    assert "${{" not in script, "a run: script still holds an unevaluated expression"
    output_file = tmp_path / "github_output"
    output_file.write_text("")
    summary_file = tmp_path / "step_summary"  # the runner gives every step a fresh one
    summary_file.write_text("")
    runner_temp = tmp_path / "runner_temp"
    runner_temp.mkdir(exist_ok=True)
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "GITHUB_OUTPUT": str(output_file),
        "GITHUB_STEP_SUMMARY": str(summary_file),
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "example-org/hackathon-todo-infra",
        "GITHUB_RUN_ID": "42",
        **env,
    }
    # The runner's python3 is a plain interpreter; here the suite's own one stands in for it.
    python_dir = tmp_path / "python-bin"
    python_dir.mkdir(exist_ok=True)
    (python_dir / "python3").unlink(missing_ok=True)
    (python_dir / "python3").symlink_to(sys.executable)
    prefix = [str(path_prepend)] if path_prepend else []
    full_env["PATH"] = os.pathsep.join([*prefix, str(python_dir), full_env["PATH"]])
    script_file = tmp_path / "step.sh"
    script_file.write_text(script)
    bash = shutil.which("bash")
    assert bash, "bash is needed to run the workflow scripts"
    completed = subprocess.run(
        [bash, "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
        check=False,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    outputs = dict(line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line)
    return StepResult(completed.returncode, completed.stdout, completed.stderr, outputs, summary_file.read_text())


def stub_command(directory: Path, name: str, body: str) -> None:
    """A fake executable (`gh`, `docker`, `terraform`) that the step finds first on PATH."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)


def step_env(step: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, str]:
    """A step's `env:` with its expressions evaluated against `context`."""
    return {name: interpolate(str(value), context) for name, value in (step.get("env") or {}).items()}


def load_script(name: str) -> ModuleType:
    """Import one of .github/scripts/*.py as a module (they are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"github_scripts_{name}", GITHUB_DIR / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def find_tool(name: str) -> str:
    """An executable of this suite's environment (beside its python), else from PATH; missing fails loudly."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"`{name}` is not installed: it is a dev dependency of this repo (Pipfile) that the "
            "workflow tests run; `python3 dev.py bootstrap` installs it"
        )
    return found


# --- GitHub, the registry and the attestation service, faked -------------------------------------------------

FAKE_CLI = Path(__file__).resolve().parent / "fake_cli.py"


@dataclass
class Fakes:
    """`gh` and `docker` on PATH answering from `world` (see fake_cli.py); `calls` lists what they were asked."""

    bin_dir: Path
    world_file: Path
    calls_file: Path

    def update(self, world: Mapping[str, Any]) -> None:
        self.world_file.write_text(json.dumps(world))

    @property
    def calls(self) -> list[list[str]]:
        if not self.calls_file.exists():
            return []
        calls: list[list[str]] = [json.loads(line) for line in self.calls_file.read_text().splitlines()]
        return calls

    def called(self, tool: str, *prefix: str) -> list[list[str]]:
        """The calls of `tool` whose arguments start with `prefix`, arguments only."""
        return [call[1:] for call in self.calls if call[0] == tool and call[1 : 1 + len(prefix)] == list(prefix)]


def install_fakes(directory: Path, world: Mapping[str, Any]) -> Fakes:
    directory.mkdir(parents=True, exist_ok=True)
    fakes = Fakes(directory / "bin", directory / "world.json", directory / "calls.jsonl")
    fakes.update(world)
    for tool in ("gh", "docker"):
        stub_command(
            fakes.bin_dir,
            tool,
            f'exec python3 -S "{FAKE_CLI}" --world "{fakes.world_file}" --calls "{fakes.calls_file}" {tool} "$@"\n',
        )
    return fakes


# --- a checkout for the plan steps ----------------------------------------------------------------------------


def plan_checkout(work: Path, stack_id: str, variables: Mapping[str, Any]) -> Path:
    """A checkout stand-in for plan_stack.sh: the real .github, toolchain, todo_infra and a copy of dev.py (dev.py
    finds cdktf.out/ beside itself), and one synthesized stack with `variables` whose Secret is written through
    data_wo, so the step derives its revision from the placeholders as `dev.py revisions` does."""
    stack_dir = work / "cdktf.out" / "stacks" / stack_id
    stack_dir.mkdir(parents=True)
    secret = {"data_wo": {"DATABASE_URL": "${var.database_url}"}, "data_wo_revision": "${var.app_secrets_revision}"}
    stack = {
        "variable": {
            "database_url": {"sensitive": True, "ephemeral": True},
            "app_secrets_revision": {"type": "number"},
            **variables,
        },
        "resource": {"kubernetes_secret_v1": {"s": secret}},
    }
    (stack_dir / "cdk.tf.json").write_text(json.dumps(stack))
    manifest = {"stacks": {stack_id: {"synthesizedStackPath": f"stacks/{stack_id}/cdk.tf.json"}}}
    (work / "cdktf.out" / "manifest.json").write_text(json.dumps(manifest))
    for name in (".github", "toolchain", "todo_infra"):
        (work / name).symlink_to(REPO / name)
    shutil.copy(REPO / "dev.py", work / "dev.py")
    return work
