"""The README is a front door a newcomer reads in five minutes: at most 150 lines, and every page of docs/ and every
runbook is reachable from it (linked from the README, or from a page the README links)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = "README.md"
MAX_LINES = 150
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s#]+)(?:#[^)\s]*)?\)")


def pages() -> set[str]:
    """Every page a newcomer may need: docs/ and its runbooks, and the bootstrap guide."""
    found = {path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").rglob("*.md")}
    return found | {"k8s/cluster-bootstrap/README.md"}


def linked(doc: str, text: str) -> set[str]:
    here = (ROOT / doc).parent
    targets = set()
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        resolved = (here / target).resolve()
        if resolved.is_relative_to(ROOT):
            targets.add(resolved.relative_to(ROOT).as_posix())
    return targets


def unreachable(texts: dict[str, str]) -> set[str]:
    """Pages not reachable from the README within two links."""
    first = linked(README, texts[README])
    second = {page for doc in first if doc in texts for page in linked(doc, texts[doc])}
    return set(texts) - {README} - first - second


def _texts() -> dict[str, str]:
    return {doc: (ROOT / doc).read_text() for doc in [README, *sorted(pages())]}


def test_the_readme_is_short() -> None:
    lines = len((ROOT / README).read_text().splitlines())
    assert lines <= MAX_LINES, f"README.md has {lines} lines; the reference belongs in docs/"


def test_every_page_is_reachable_from_the_readme() -> None:
    texts = _texts()
    assert len(texts) > 10
    assert unreachable(texts) == set()


def test_a_page_nothing_links_is_caught() -> None:
    """Seeded: the glossary's link removed from the README (no other page links it), and a new page nobody links."""
    texts = _texts()
    link = "[Glossary](docs/glossary.md)"
    assert link in texts[README]
    without = {**texts, README: texts[README].replace(link, "Glossary").replace("[glossary](docs/glossary.md)", "")}
    assert unreachable(without) == {"docs/glossary.md"}
    assert unreachable({**texts, "docs/orphan.md": "# Orphan\n"}) == {"docs/orphan.md"}
