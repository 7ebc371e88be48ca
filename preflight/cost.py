"""Cost: a monthly list-price estimate at minimum and maximum scale."""

from __future__ import annotations

from typing import Any

from preflight.capacity import Consumer
from preflight.report import CheckResult
from todo_infra.node_sizes import NodeSize

#: DigitalOcean list prices in USD per month (https://www.digitalocean.com/pricing, checked 2026-11;
#: docs/architecture.md, "Capacity model"). A node's price is its size's row of the node-size table
#: (todo_infra/node_sizes.json, which says when it was checked).
PRICES_AS_OF = "2026-11"
HA_CONTROL_PLANE = 40.0
LOAD_BALANCER = 12.0
#: One subscription for every bucket of the account — the shared and per-environment state buckets and each
#: environment's backup bucket cost nothing more ("multiple Spaces buckets at no additional cost":
#: https://docs.digitalocean.com/products/spaces/how-to/create/) — 250 GiB included.
SPACES = 5.0
VOLUME_PER_GIB = 0.10


def check_cost(
    consumers: list[Consumer], *, min_nodes: int, max_nodes: int, node: NodeSize, ha: bool, budget: float, edge: str
) -> CheckResult:
    """`node`: the pool's size, whose price each node costs; `edge`: the platform's edge, which owns the one load
    balancer (Envoy Gateway's Gateway, or the ingress-nginx controller's Service)."""
    volumes = sum(sum(c.volumes_gib) for c in consumers)
    lines: list[tuple[str, float, float]] = [
        (
            f"nodes {node.slug} × {min_nodes} / × {max_nodes} (${node.usd_per_month:.2f} each)",
            min_nodes * node.usd_per_month,
            max_nodes * node.usd_per_month,
        ),
        (
            "control plane" + (" (HA)" if ha else " (free)"),
            HA_CONTROL_PLANE if ha else 0.0,
            HA_CONTROL_PLANE if ha else 0.0,
        ),
        (f"load balancer ({edge})", LOAD_BALANCER, LOAD_BALANCER),
        (f"block storage {volumes:.0f} GiB (PVCs)", volumes * VOLUME_PER_GIB, volumes * VOLUME_PER_GIB),
        ("Spaces (one subscription: state and Redis backup buckets)", SPACES, SPACES),
    ]
    total_min, total_max = sum(line[1] for line in lines), sum(line[2] for line in lines)
    rows = [[name, f"${low:.2f}", f"${high:.2f}"] for name, low, high in lines]
    rows.append(["TOTAL per month", f"${total_min:.2f}", f"${total_max:.2f}"])
    problems = []
    if total_max > budget:
        problems.append(
            f"maximum-scale estimate ${total_max:.2f}/month exceeds the budget ${budget:.2f} (preflight/config.yaml)"
        )
    figures: dict[str, Any] = {
        "usd_per_month_min": round(total_min, 2),
        "usd_per_month_max": round(total_max, 2),
        "volumes_gib": round(volumes, 1),
        "node_size": node.slug,
        "node_usd_per_month": node.usd_per_month,
        "prices_as_of": PRICES_AS_OF,
    }
    return CheckResult(
        name="cost",
        title=f"Cost (DigitalOcean list prices, {PRICES_AS_OF})",
        headers=["item", "min scale", "max scale"],
        rows=rows,
        problems=problems,
        figures=figures,
    )
