"""Upstream data the tests validate against that this repo does not carry: CRD schemas and Dapr component metadata.

Upstream files stay out of the repo. Developers and CI have them in the workplace's shared data folder beside the
checkout (`crds/`, `dapr/`); `UPSTREAM_DATA_DIR` points elsewhere. A checkout without it (a user's clone) skips
only the tests that need it, with the one reason below (tests/skips.py lists it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MISSING_REASON = "upstream data (CRD schemas, Dapr component metadata) not present"


def upstream_dir() -> Path | None:
    configured = os.environ.get("UPSTREAM_DATA_DIR")
    candidate = Path(configured) if configured else REPO.parent / "shared"
    return candidate if (candidate / "crds").is_dir() and (candidate / "dapr").is_dir() else None


def upstream(*parts: str) -> Path:
    """A path inside the upstream data folder; skips the calling test (with the listed reason) without it."""
    root = upstream_dir()
    if root is None:
        pytest.skip(MISSING_REASON)
    return root.joinpath(*parts)
