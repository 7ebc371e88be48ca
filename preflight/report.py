"""Check results, and the report that prints them as tables or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from todo_infra import yamlload

CONFIG_FILE = Path(__file__).resolve().parent / "config.yaml"


def load_config(path: Path = CONFIG_FILE) -> dict[str, Any]:
    config: dict[str, Any] = yamlload.load(path.read_text())
    return config


@dataclass
class CheckResult:
    name: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    #: One-line notices that do not fail the check (a retired component selected on purpose).
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    out = [line.format(*headers), line.format(*("-" * width for width in widths))]
    out += [line.format(*(str(cell) for cell in row)) for row in rows]
    return "\n".join(text.rstrip() for text in out)


def summary_line(results: list[CheckResult]) -> str:
    failed = [result.name for result in results if not result.ok]
    parts = ", ".join(f"{r.name} {'ok' if r.ok else 'FAILED'}" for r in results)
    verdict = "PREFLIGHT FAILED" if failed else "PREFLIGHT PASSED"
    return f"{verdict}: {parts}"


def render_text(results: list[CheckResult]) -> str:
    blocks = []
    for result in results:
        status = "ok" if result.ok else f"FAILED ({len(result.problems)})"
        block = [f"== {result.title}: {status}", table(result.headers, result.rows) if result.rows else "(nothing)"]
        block += [f"  ! warning: {warning}" for warning in result.warnings]
        block += [f"  ✗ {problem}" for problem in result.problems]
        blocks.append("\n".join(block))
    return "\n\n".join([*blocks, summary_line(results)])


#: First line of the pull-request comment; the comment job of cdktf-diff.yml updates the comment that has it.
COMMENT_MARKER = "<!-- cdktf-diff:preflight -->"


def render_markdown_summary(results: list[CheckResult]) -> str:
    """The short section for the pull-request comment."""
    lines = [
        COMMENT_MARKER,
        f"### preflight: {summary_line(results)}",
        "",
        "| check | result | figures |",
        "|---|---|---|",
    ]
    for result in results:
        figures = ", ".join(f"{key} {value}" for key, value in result.figures.items() if not isinstance(value, dict))
        outcome = "ok" if result.ok else "; ".join(result.problems[:3])
        lines.append(f"| {result.title} | {outcome} | {figures} |")
    return "\n".join(lines)


def render_json(results: list[CheckResult]) -> str:
    return json.dumps(
        {"ok": all(r.ok for r in results), "checks": [asdict(r) | {"ok": r.ok} for r in results]}, indent=2
    )
