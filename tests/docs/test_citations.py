"""The repo stands on its own: no file cites a document a clone does not have; every Markdown link and every
reference to a section of the architecture document resolves; the add-on table of docs/architecture.md names the pinned
versions."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.docs.runbook_checks import anchors, check_links, headings
from todo_infra.addons import ADDONS

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = "docs/architecture.md"
DEPLOY = "docs/runbooks/deploy.md"
#: Citations of documents that are not in the repo (the specification and design notes it was built from).
FOREIGN = re.compile(r"\b(?:seed|DESIGN|STYLE)\s?§|\.\./shared\b|data-model\.md|\bDESIGN\.md|\bSTYLE\.md")
_SECTION_REFERENCE = re.compile(r'docs/architecture\.md,? "(?P<section>[^"]+)"')
_ANCHOR_REFERENCE = re.compile(r"docs/architecture\.md#(?P<anchor>[a-z0-9-]+)")
#: A section of another document named in prose or a comment: `README, "Quick start"`,
#: `docs/runbooks/deploy.md, "Rotate an app secret"` (the architecture document's are checked above).
_DOC_SECTION_REFERENCE = re.compile(
    r'(?P<doc>\bREADME\b(?!\.md)|(?:\.\./)*(?:docs|k8s)/[\w./-]+\.md),?\s+(?:section\s+)?"(?P<section>[^"]+)"'
)


def section_reference_problems(path: str, text: str, root: Path = ROOT) -> list[str]:
    """Every `<document>, "<section>"` reference names a document of the repo and one of its headings (the quoted
    title may break across lines)."""
    found = []
    for match in _DOC_SECTION_REFERENCE.finditer(text):
        doc = "README.md" if match["doc"] == "README" else re.sub(r"^(?:\.\./)+", "", match["doc"])
        if doc == ARCHITECTURE:
            continue
        section = " ".join(match["section"].split())
        target = root / doc
        if not target.is_file():
            found.append(f"{path}: cites {doc}, which is not in the repo")
        elif section not in {" ".join(title.split()) for _, title in headings(target.read_text())}:
            found.append(f"{path}: {doc} has no section {section!r}")
    return found


def tracked_text_files() -> dict[str, str]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    texts = {}
    for name in names:
        if name.endswith(("Pipfile.lock", "package-lock.json")) or not (ROOT / name).is_file():
            continue
        try:
            texts[name] = (ROOT / name).read_text()
        except UnicodeDecodeError:
            continue
    return texts


def problems(path: str, text: str, architecture: str) -> list[str]:
    found = [f"{path}: cites {match.group(0)!r}, which is not in the repo" for match in FOREIGN.finditer(text)]
    sections = {title for _, title in headings(architecture)}
    found += [
        f"{path}: docs/architecture.md has no section {match['section']!r}"
        for match in _SECTION_REFERENCE.finditer(text)
        if match["section"] not in sections
    ]
    found += [
        f"{path}: docs/architecture.md has no section #{match['anchor']}"
        for match in _ANCHOR_REFERENCE.finditer(text)
        if match["anchor"] not in anchors(architecture)
    ]
    found += section_reference_problems(path, text)
    return found + (check_links(path, text, ROOT) if path.endswith(".md") else [])


def test_no_file_cites_a_document_the_repo_lacks_and_every_reference_resolves() -> None:
    texts = tracked_text_files()
    assert ARCHITECTURE in texts and len(texts) > 50
    found = [problem for path, text in texts.items() for problem in problems(path, text, texts[ARCHITECTURE])]
    assert found == []


def test_the_check_finds_each_kind_of_broken_reference() -> None:
    """Seeded failures, one of each kind."""
    text = (
        # "\u00a7" is the section sign: spelled out, this file does not cite what it tests for.
        "See seed \u00a74 and DESIGN \u00a72; " + ARCHITECTURE + ', "Nowhere"; ' + ARCHITECTURE + "#no-such-section; "
        "[gone](missing.md); [ok](../README.md); [web](https://example.com/x.md); "
        # Spelled in pieces, so that this file does not hold the references it plants.
        + "README"
        + ', "Configuration"; '
        + DEPLOY
        + ', "Rotate an\n   app secret"; '
        + DEPLOY
        + ', "Rotate the tokens"; '
        + "docs/gone.md"
        + ', "Anything"'
    )
    found = problems("docs/example.md", text, "# Architecture\n\n## Stacks\n")
    assert found == [
        "docs/example.md: cites 'seed \u00a7', which is not in the repo",
        "docs/example.md: cites 'DESIGN \u00a7', which is not in the repo",
        "docs/example.md: docs/architecture.md has no section 'Nowhere'",
        "docs/example.md: docs/architecture.md has no section #no-such-section",
        "docs/example.md: README.md has no section 'Configuration'",
        "docs/example.md: docs/runbooks/deploy.md has no section 'Rotate the tokens'",
        "docs/example.md: cites docs/gone.md, which is not in the repo",
        "docs/example.md: link (missing.md) points to a missing file",
    ]


def test_the_add_on_table_names_the_pinned_versions() -> None:
    text = (ROOT / ARCHITECTURE).read_text()
    for addon in ADDONS:
        assert f"| {addon.release} | {addon.version} | {addon.namespace} |" in text, addon.release
