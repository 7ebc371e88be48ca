"""YAML reading through libyaml where PyYAML was built with it: the same safe loading as `yaml.safe_load`, several
times faster. Preflight parses every rendered manifest, and the test suite parses them many times over.

Messages for bad input an operator wrote (a values file, todo_infra/chart_values.py) keep PyYAML's own loader, whose
error texts the bad-input table states."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import yaml

#: libyaml's safe loader, or SafeLoader itself: never one that builds Python objects (tests/test_yamlload.py).
LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(stream: str | bytes | IO[str] | IO[bytes]) -> Any:
    """One YAML document, as `yaml.safe_load` reads it."""
    return yaml.load(stream, Loader=LOADER)


def load_all(stream: str | bytes | IO[str] | IO[bytes]) -> Iterator[Any]:
    """Every YAML document, as `yaml.safe_load_all` reads them."""
    return yaml.load_all(stream, Loader=LOADER)
