"""Checks that keep the runbooks true to the code. Each checker takes a document's text and facts read from the
code, and returns the problems it finds (empty when the text agrees), so the same function runs on the real
runbooks and on a mutated copy in the seeded-drift tests.

Only what a document *shows* is checked: inline code spans, fenced code blocks, markdown links and headings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

#: The runbooks, relative to the repo root.
RUNBOOKS = (
    "k8s/cluster-bootstrap/README.md",
    "docs/runbooks/deploy.md",
    "docs/runbooks/rollback.md",
    "docs/runbooks/monitoring.md",
    "docs/runbooks/teardown.md",
    "docs/adding-a-service.md",
)
#: The front door and the reference pages it leads to: every page of docs/ but the architecture record, whose
#: references are checked by tests/docs/test_citations.py.
REFERENCE_DOCS = (
    "README.md",
    *sorted(
        path.relative_to(REPO_ROOT).as_posix()
        for path in (REPO_ROOT / "docs").glob("*.md")
        if path.name != "architecture.md"
    ),
)
BOOTSTRAP_GUIDE = "k8s/cluster-bootstrap/README.md"
MONITORING_RUNBOOK = "docs/runbooks/monitoring.md"

#: cdktf subcommands that take stack ids, with their aliases.
STACK_COMMANDS = ("deploy", "apply", "diff", "plan", "destroy", "output", "outputs")
#: cdktf options whose next word is their value, not a stack.
VALUE_OPTIONS = frozenset(
    {
        "--var",
        "--var-file",
        "--parallelism",
        "--terraform-parallelism",
        "--outputs-file",
        "-a",
        "--app",
        "-o",
        "--output",
    }
)
IGNORE_DEPENDENCIES = "--ignore-missing-stack-dependencies"
#: Extensions that make an inline word a file path even when its first folder is unknown.
FILE_EXTENSIONS = (".md", ".py", ".yaml", ".yml", ".json", ".tpl", ".toml", ".lock", ".sh", ".txt")

_FENCE = re.compile(r"^(```|~~~)")
_INLINE = re.compile(r"`([^`\n]+)`")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
_CDKTF = re.compile(r"\bcdktf\s+(" + "|".join(STACK_COMMANDS) + r")\b([^\n`#|;&)]*)")
_DEV = re.compile(r"\bpython3?\s+dev\.py\s+([A-Za-z0-9_-]+)")
_PATH = re.compile(r"^\.?[\w.-]+(?:/[\w.-]+)+/?$")
_UPPER_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_ASSIGNED_NAME = re.compile(r"(?<![\w$])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)=")
_TF_VAR = re.compile(r"\bTF_VAR_([a-z0-9_]+)")
_WORKFLOW_REF = re.compile(r"\b(secrets|vars)\.([A-Z][A-Z0-9_]*)")
_ENVIRON_READ = re.compile(r"environ(?:\.get)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']|environ\[[\"']([A-Z][A-Z0-9_]*)[\"']\]")


# --- facts read from the code -------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the runbooks may name, each read from the code that defines it."""

    root: Path
    #: stack id -> ids of the stacks it depends on (cdktf.out/manifest.json of the synthesized app)
    stacks: Mapping[str, frozenset[str]]
    #: Terraform variables declared by any stack
    variables: frozenset[str]
    #: subcommands `python3 dev.py` dispatches
    dev_commands: frozenset[str]
    #: GitHub secrets an operator sets (what the workflows read, less the GITHUB_TOKEN GitHub provides)
    workflow_secrets: frozenset[str]
    #: GitHub repository variables the workflows read
    repo_variables: frozenset[str]
    #: every upper-case environment/secret name a runbook may show
    known_names: frozenset[str]
    #: alert name -> runbook_url, from the rendered PrometheusRule
    alerts: Mapping[str, str]
    #: top-level folders whose contents are generated or installed, never committed (.gitignore)
    generated: frozenset[str]
    #: how many of each countable thing the code has: "stacks", "add-ons", "helm releases" (platform), "alerts"
    counts: Mapping[str, int]


def dev_py_commands() -> frozenset[str]:
    """The subcommands dev.py accepts, and its help options."""
    import dev  # noqa: PLC0415  (the repo-root script, importable without side effects)

    return frozenset(dev.COMMANDS) | dev.HELP_OPTIONS


def workflow_names(texts: Iterable[str]) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(secrets, repository variables, environment variable names) used by the workflow files."""
    secrets: set[str] = set()
    variables: set[str] = set()
    env_names: set[str] = set()
    for text in texts:
        for kind, name in _WORKFLOW_REF.findall(text):
            (secrets if kind == "secrets" else variables).add(name)
        env_names.update(_ASSIGNED_NAME.findall(text))
        env_names.update(re.findall(r"^\s+([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+):", text, flags=re.MULTILINE))
    return frozenset(secrets), frozenset(variables), frozenset(env_names)


def environ_reads(texts: Iterable[str]) -> frozenset[str]:
    """Environment variables Python code reads by literal name (`environ.get("X")`, `environ["X"]`)."""
    return frozenset(a or b for text in texts for a, b in _ENVIRON_READ.findall(text))


_SHELL_READ = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)")


def shell_reads(texts: Iterable[str]) -> frozenset[str]:
    """Environment variables shell scripts read (`$X`, `${X}`, `${X:-...}`)."""
    return frozenset(name for text in texts for name in _SHELL_READ.findall(text))


def gitignored_top_level(gitignore: str) -> frozenset[str]:
    return frozenset(
        line.strip().strip("/") for line in gitignore.splitlines() if re.fullmatch(r"[\w.-]+/", line.strip())
    )


# --- markdown -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Markdown:
    prose: str
    code_blocks: tuple[str, ...]

    @property
    def inline_code(self) -> list[str]:
        return _INLINE.findall(self.prose)

    @property
    def shown_code(self) -> list[str]:
        """Everything a reader would type: inline code spans and fenced blocks."""
        return [*self.inline_code, *self.code_blocks]


def parse(text: str) -> Markdown:
    prose: list[str] = []
    blocks: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current))
                current = None
            continue
        (prose if current is None else current).append(line)
    return Markdown(prose="\n".join(prose), code_blocks=tuple(blocks))


def headings(text: str) -> Iterator[tuple[int, str]]:
    """(level, title) of every heading outside code blocks."""
    for line in parse(text).prose.splitlines():
        match = _HEADING.match(line)
        if match:
            yield len(match.group(1)), match.group(2)


def github_anchor(title: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", title).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    for _, title in headings(text):
        base = github_anchor(title)
        seen = counts.get(base, 0)
        found.add(base if seen == 0 else f"{base}-{seen}")
        counts[base] = seen + 1
    return found


# --- checkers -----------------------------------------------------------------------------------


def stack_commands(text: str, *, blocks_only: bool = False) -> list[tuple[str, list[str], list[str]]]:
    """(subcommand, stack arguments, options) of every cdktf command shown (or only those in code blocks)."""
    found = []
    markdown = parse(text)
    for code in markdown.code_blocks if blocks_only else markdown.shown_code:
        for command, rest in _CDKTF.findall(code):
            stacks: list[str] = []
            options: list[str] = []
            words = rest.replace("\\", " ").split()
            skip_next = False
            for word in words:
                if skip_next:
                    skip_next = False
                elif word.startswith("-"):
                    options.append(word.split("=", 1)[0])
                    skip_next = word in VALUE_OPTIONS
                elif "=" not in word:
                    stacks.append(word.strip("\"'"))
            found.append((command, stacks, options))
    return found


def check_stack_commands(doc: str, text: str, stacks: Mapping[str, frozenset[str]]) -> list[str]:
    """Stacks named exist, `diff` gets one stack, and a command to run deploys a dependent stack alone only
    with --ignore-missing-stack-dependencies (prose may name a command without its options)."""
    problems = []
    for command, named, _ in stack_commands(text):
        for stack in named:
            if stack.startswith("<") or "$" in stack:
                continue  # a placeholder such as <stack>
            if stack not in stacks:
                problems.append(
                    f"{doc}: `cdktf {command} {stack}` names no stack (stacks: {', '.join(sorted(stacks))})"
                )
        if command in ("diff", "plan") and len(named) > 1:
            problems.append(f"{doc}: `cdktf {command}` takes one stack, not {' '.join(named)}")
    for command, named, options in stack_commands(text, blocks_only=True):
        if command in ("deploy", "apply") and IGNORE_DEPENDENCIES not in options:
            for stack in named:
                missing = stacks.get(stack, frozenset()) - set(named)
                if missing:
                    problems.append(
                        f"{doc}: `cdktf {command} {' '.join(named)}` deploys {stack} without its dependencies "
                        f"({', '.join(sorted(missing))}) and without {IGNORE_DEPENDENCIES}"
                    )
    return problems


def check_dev_commands(doc: str, text: str, dev_commands: frozenset[str]) -> list[str]:
    return [
        f"{doc}: `python3 dev.py {name}` is not a dev.py command (commands: {', '.join(sorted(dev_commands))})"
        for code in parse(text).shown_code
        for name in _DEV.findall(code)
        if name not in dev_commands
    ]


def _path_candidates(markdown: Markdown, root: Path, generated: frozenset[str]) -> Iterator[str]:
    top_level = {entry.name for entry in root.iterdir()} - generated
    for span in markdown.inline_code:
        word = span.strip()
        if _PATH.match(word.split("#", 1)[0]) or word in top_level:
            first = word.split("/", 1)[0]
            if first in generated:
                continue
            if first in top_level or word.split("#", 1)[0].rstrip("/").endswith(FILE_EXTENSIONS):
                yield word
    for block in markdown.code_blocks:
        for raw in block.split():
            word = raw.strip("\"'(),;:")
            first = word.split("/", 1)[0]
            if "/" in word and first in top_level and _PATH.match(word.split("#", 1)[0]):
                yield word


def check_paths(doc: str, text: str, facts: Facts) -> list[str]:
    """Repo paths named in code exist; relative links resolve, anchors included."""
    problems = []
    markdown = parse(text)
    for word in dict.fromkeys(_path_candidates(markdown, facts.root, facts.generated)):
        path = word.split("#", 1)[0]
        if not (facts.root / path).exists():
            problems.append(f"{doc}: `{word}` does not exist in the repository")
    return problems + check_links(doc, text, facts.root)


def check_links(doc: str, text: str, root: Path) -> list[str]:
    """Relative links of a Markdown file resolve, anchors included."""
    problems = []
    here = (root / doc).parent
    for target in dict.fromkeys(_LINK.findall(parse(text).prose)):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        file = (here / path).resolve() if path else root / doc
        if not file.exists():
            problems.append(f"{doc}: link ({target}) points to a missing file")
        elif anchor and file.suffix == ".md":
            linked = text if not path else file.read_text()
            if anchor not in anchors(linked):
                problems.append(f"{doc}: link ({target}) points to a missing section #{anchor}")
    return problems


def check_names(doc: str, text: str, facts: Facts) -> list[str]:
    """TF_VAR_* names are stack variables; upper-case secret/variable names shown are ones the code uses."""
    markdown = parse(text)
    problems = [
        f"{doc}: TF_VAR_{name} is not a variable of any stack"
        for name in dict.fromkeys(_TF_VAR.findall(text))
        if name not in facts.variables
    ]
    shown = [span.strip() for span in markdown.inline_code if _UPPER_NAME.match(span.strip())]
    shown += [name for block in markdown.code_blocks for name in _ASSIGNED_NAME.findall(block)]
    problems += [
        f"{doc}: {name} is neither a secret or variable the workflows use nor an environment variable the code reads"
        for name in dict.fromkeys(shown)
        if name not in facts.known_names
    ]
    return problems


def check_secret_coverage(doc: str, text: str, facts: Facts) -> list[str]:
    """The bootstrap guide lists every secret, repository variable and stack variable by name."""
    words = set(re.findall(r"[A-Za-z0-9_]+", text))
    problems = [f"{doc}: GitHub secret {name} is not listed" for name in sorted(facts.workflow_secrets - words)]
    problems += [f"{doc}: repository variable {name} is not listed" for name in sorted(facts.repo_variables - words)]
    problems += [
        f"{doc}: stack variable TF_VAR_{name} is not listed"
        for name in sorted(facts.variables)
        if f"TF_VAR_{name}" not in words
    ]
    return problems


_NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)
_COUNTED = re.compile(
    r"\b(" + "|".join(_NUMBER_WORDS) + r"|\d+) (stacks|add-ons|helm releases|alerts)\b", re.IGNORECASE
)


def check_counts(doc: str, text: str, counts: Mapping[str, int]) -> list[str]:
    """ "four stacks", "seven add-ons", "8 Helm releases", "eight alerts": each number agrees with the code."""
    problems = []
    for match in _COUNTED.finditer(text):
        word, thing = match.group(1).lower(), match.group(2).lower()
        number = int(word) if word.isdigit() else _NUMBER_WORDS.index(word)
        if number != counts[thing]:
            problems.append(f"{doc}: says {match.group(0)!r}, the code has {counts[thing]}")
    return problems


def alert_sections(text: str) -> list[str]:
    """Titles of the level-3 headings inside the level-2 section `Alerts`."""
    sections: list[str] = []
    inside = False
    for level, title in headings(text):
        if level <= 2:
            inside = level == 2 and title == "Alerts"
        elif level == 3 and inside:
            sections.append(title)
    return sections


def check_alerts(doc: str, text: str, alerts: Mapping[str, str]) -> list[str]:
    """One section per chart alert (and none for alerts the chart lacks); every runbook_url lands on one."""
    sections = alert_sections(text)
    problems = [f"{doc}: no section for alert {name}" for name in alerts if name not in sections]
    problems += [f"{doc}: section {title!r} is not an alert of the chart" for title in sections if title not in alerts]
    found = anchors(text)
    for name, url in alerts.items():
        page, _, anchor = url.partition("#")
        if not page.endswith(MONITORING_RUNBOOK):
            problems.append(f"{doc}: runbook_url of {name} ({url}) does not point at {MONITORING_RUNBOOK}")
        if anchor not in found:
            problems.append(f"{doc}: runbook_url of {name} ends in #{anchor}, which has no section")
    return problems


def check_document(doc: str, text: str, facts: Facts) -> list[str]:
    """Every check that applies to one runbook."""
    problems = [
        *check_stack_commands(doc, text, facts.stacks),
        *check_dev_commands(doc, text, facts.dev_commands),
        *check_paths(doc, text, facts),
        *check_names(doc, text, facts),
        *check_counts(doc, text, facts.counts),
    ]
    if doc == BOOTSTRAP_GUIDE:
        problems += check_secret_coverage(doc, text, facts)
    if doc == MONITORING_RUNBOOK:
        problems += check_alerts(doc, text, facts.alerts)
    return problems
