"""The DOKS node sizes the cluster may use, as data: `todo_infra/node_sizes.json`.

The `node_size` setting accepts exactly the table's sizes (todo_infra/settings.py); preflight reads the synthesized
node pool's size and takes from its row what one node offers pods (allocatable CPU and memory) and what it costs, for
capacity, node loss and cost (preflight/capacity.py, preflight/cost.py). The table is checked when it is read: a row
missing a figure, a figure that is not a positive number, or more allocatable than the node has is refused in one
line naming the file, the size and the field. Sources and how to add a size: docs/architecture.md, "Node sizes".
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from todo_infra.settings import ConfigError

#: The committed table.
TABLE = Path(__file__).with_name("node_sizes.json")
#: A DigitalOcean size slug (`doctl kubernetes options sizes`).
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
#: Every row holds exactly these fields.
FIELDS = (
    "slug",
    "vcpus",
    "memory_gib",
    "allocatable_cpu_m",
    "allocatable_memory_mib",
    "usd_per_month",
    "allocatable_memory_basis",
)
TOP_LEVEL = ("about", "checked", "sources", "sizes")


@dataclass(frozen=True)
class NodeSize:
    """One row: a DOKS size, what one node of it offers pods, and its list price."""

    slug: str
    vcpus: int
    memory_gib: int
    allocatable_cpu_m: float
    allocatable_memory_mib: float
    usd_per_month: float
    #: Whether DigitalOcean's allocatable-memory table lists the slug, or which of its rows the figure comes from.
    allocatable_memory_basis: str

    def describe(self) -> str:
        return (
            f"{self.slug}: {self.allocatable_cpu_m:.0f}m CPU / {self.allocatable_memory_mib:.0f}Mi memory allocatable"
            f" of {self.vcpus} vCPU / {self.memory_gib} GiB, ${self.usd_per_month:.2f}/month"
        )


@dataclass(frozen=True)
class NodeSizeTable:
    sizes: tuple[NodeSize, ...]
    #: The day the figures were last checked against their sources (YYYY-MM-DD).
    checked: str
    sources: dict[str, str]
    #: Where the table was read from, as the refusals name it.
    name: str

    @property
    def slugs(self) -> tuple[str, ...]:
        return tuple(size.slug for size in self.sizes)

    def get(self, slug: object, field: str = "node_size") -> NodeSize:
        """The row of `slug`; any other value is refused in one line naming the sizes the table holds."""
        for size in self.sizes:
            if size.slug == slug:
                return size
        raise ConfigError(field, slug, f"one of {', '.join(self.slugs)} (the sizes of {self.name})")


def _refuse(name: str, what: str) -> ConfigError:
    return ConfigError.saying(f"{name}: {what}")


def _positive(name: str, slug: str, row: dict[str, Any], field: str, *, whole: bool) -> float:
    value = row[field]
    # json reads NaN and Infinity as floats: NaN compares false with everything, so it would pass every limit
    # (a capacity of NaN % is never above 85 %) unless refused here.
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not number or value <= 0 or (whole and not isinstance(value, int)):
        kind = "a positive whole number" if whole else "a positive number"
        raise _refuse(name, f"size {slug!r} has {field}={value!r}: expected {kind}")
    return float(value)


def _row(name: str, index: int, row: Any) -> NodeSize:
    if not isinstance(row, dict):
        raise _refuse(name, f"sizes[{index}] is not an object with {', '.join(FIELDS)}")
    slug = row.get("slug")
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        raise _refuse(name, f"sizes[{index}] has slug={slug!r}: expected a DigitalOcean size slug such as s-2vcpu-4gb")
    missing = [field for field in FIELDS if field not in row]
    if missing:
        raise _refuse(name, f"size {slug!r} has no {', '.join(missing)}: every size needs {', '.join(FIELDS)}")
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise _refuse(name, f"size {slug!r} has unknown field {unknown[0]!r}: a size holds {', '.join(FIELDS)}")
    vcpus = int(_positive(name, slug, row, "vcpus", whole=True))
    memory_gib = int(_positive(name, slug, row, "memory_gib", whole=True))
    cpu = _positive(name, slug, row, "allocatable_cpu_m", whole=False)
    memory = _positive(name, slug, row, "allocatable_memory_mib", whole=False)
    price = _positive(name, slug, row, "usd_per_month", whole=False)
    if cpu > vcpus * 1000:
        raise _refuse(name, f"size {slug!r} allocates {cpu:.0f}m CPU: more than its {vcpus} vCPU ({vcpus * 1000}m)")
    if memory > memory_gib * 1024:
        raise _refuse(
            name,
            f"size {slug!r} allocates {memory:.0f}Mi memory: more than its {memory_gib} GiB ({memory_gib * 1024}Mi)",
        )
    basis = row["allocatable_memory_basis"]
    if not isinstance(basis, str) or not basis.strip():
        raise _refuse(name, f"size {slug!r} has an empty allocatable_memory_basis: say where the figure comes from")
    return NodeSize(slug, vcpus, memory_gib, cpu, memory, price, basis)


def load_table(path: Path = TABLE, name: str | None = None) -> NodeSizeTable:
    """Read and check a node-size table; `name` is how refusals call the file (default: its repo path)."""
    name = name or (f"todo_infra/{path.name}" if path == TABLE else str(path))
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise _refuse(f"{name}:{error.lineno}:{error.colno}", f"not valid JSON: {error.msg}") from None
    if not isinstance(document, dict) or sorted(document) != sorted(TOP_LEVEL):
        raise _refuse(name, f"expected an object with exactly {', '.join(TOP_LEVEL)}")
    checked, sources, rows = document["checked"], document["sources"], document["sizes"]
    if not isinstance(checked, str) or not _DATE.fullmatch(checked):
        raise _refuse(name, f"checked={checked!r}: expected the date the figures were checked, YYYY-MM-DD")
    if not isinstance(sources, dict) or not sources or not all(isinstance(v, str) and v for v in sources.values()):
        raise _refuse(name, "sources: expected an object naming where each figure comes from")
    if not isinstance(rows, list) or not rows:
        raise _refuse(name, "sizes: expected a non-empty list of sizes")
    sizes = tuple(_row(name, index, row) for index, row in enumerate(rows))
    slugs = [size.slug for size in sizes]
    repeated = sorted({slug for slug in slugs if slugs.count(slug) > 1})
    if repeated:
        raise _refuse(name, f"size {repeated[0]!r} is listed twice")
    return NodeSizeTable(sizes, checked, dict(sources), name)


@functools.cache
def node_sizes() -> NodeSizeTable:
    """The committed table, read and checked once."""
    return load_table()


def node_size(slug: object) -> NodeSize:
    """The committed table's row of `slug`, or a one-line refusal naming the sizes it holds."""
    return node_sizes().get(slug)
