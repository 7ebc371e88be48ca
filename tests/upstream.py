"""Upstream data the tests validate against that this repo does not carry: CRD schemas and Dapr component metadata.

Upstream files stay out of the repo. `python3 dev.py upstream-data` fetches them by exact commit, checks their pinned
SHA-256 (toolchain/upstream.json) and stores them in `.upstream/` (gitignored), the first place looked at; then a
folder `UPSTREAM_DATA_DIR` names, then a `shared/` data folder beside the checkout (`crds/`, `dapr/`). A checkout with
none of them skips only the tests that need the data, with the one reason below (tests/skips.py lists it), which
names the command.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MISSING_REASON = "upstream data (CRD schemas, Dapr component metadata) not present: run python3 dev.py upstream-data"
#: Where `dev.py upstream-data` stores the files (toolchain/upstream.py).
FETCHED = REPO / ".upstream"


def candidates() -> list[Path]:
    """The folders looked at, in order: the fetched copy, UPSTREAM_DATA_DIR, a shared folder beside the checkout."""
    configured = os.environ.get("UPSTREAM_DATA_DIR")
    return [FETCHED, *([Path(configured)] if configured else []), REPO.parent / "shared"]


def upstream_dir() -> Path | None:
    found = [path for path in candidates() if (path / "crds").is_dir() and (path / "dapr").is_dir()]
    return found[0] if found else None


def upstream(*parts: str) -> Path:
    """A path inside the upstream data folder; skips the calling test (with the listed reason) without it."""
    root = upstream_dir()
    if root is None:
        pytest.skip(MISSING_REASON)
    return root.joinpath(*parts)
