"""docs/architecture.md's attack table ("Environment isolation"): every attack the security review named has a control
and the tests that prove it, and every test it cites exists (a renamed or deleted test turns this red)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def attack_rows() -> list[list[str]]:
    text = ARCHITECTURE.read_text()
    section = text[text.index("## Environment isolation") :]
    section = section[: section.index("\n## ", 1)]
    table = section[section.index("| attack (from the security review)") :].split("\n\n")[0]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def defined_tests() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        names |= set(re.findall(r"^def (test_\w+)\(", path.read_text(), re.MULTILINE))
    return names


def cited(cell: str) -> list[str]:
    return re.findall(r"`(test_\w+)`", cell)


def test_every_attack_of_the_review_has_a_row() -> None:
    attacks = " ".join(row[0] for row in attack_rows())
    for words in (
        "reads `production/app-secrets`",  # 1: staging reaches production
        "cluster-scoped Namespace",  # 1: the app stack's credential must be cluster-wide
        "rewrites production's or the platform's state",  # 2
        "backups",  # 3
        "plan and drift environments",  # 4
        "approves its production deploy",  # 5
        "head branch is `main`",  # 6
        "cancels a production apply",  # 7
        "leave no record",  # 7
        "cluster API is public",  # 7
    ):
        assert words in attacks, words


def test_every_cited_test_exists_and_every_row_has_a_control() -> None:
    names = defined_tests()
    rows = attack_rows()
    assert len(rows) >= 12
    for attack, control, proof in rows:
        assert control, attack
        missing = [name for name in cited(proof) if name not in names]
        assert not missing, f"{attack[:40]}: {missing}"


def test_seeded_a_renamed_test_is_caught() -> None:
    row = attack_rows()[0]
    assert cited(row[2])
    assert "test_that_does_not_exist" not in defined_tests()
    assert [n for n in cited(row[2] + " `test_that_does_not_exist`") if n not in defined_tests()] == [
        "test_that_does_not_exist"
    ]
