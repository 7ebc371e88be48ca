"""Walking parsed JSON/YAML documents (synthesized stacks, rendered manifests)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def walk(node: Any) -> Iterator[Any]:
    """Every value nested in node, node included (depth first): maps, lists and the scalars inside them."""
    yield node
    if isinstance(node, Mapping):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)
