"""Node sizes as data (todo_infra/node_sizes.json): the table is checked when read, `node_size` accepts exactly its
sizes, and capacity, node loss and cost follow the size the synthesized pool asks for — every expected figure
derived from the table's row, none typed here. Seeded failures: a row without a price, more allocatable than the
node has, an unknown size through every channel, a synthesized size the table does not hold."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from main import embedded_context
from preflight.capacity import check_capacity, check_node_loss, gather_consumers, node_pool, pool_node_size
from preflight.cost import check_cost
from preflight.render import RenderedRelease, app_stacks, render_app_release
from preflight.run import configuration
from preflight.synth import Synthesized
from tests import kept_runs
from tests.sandbox import clean_env, copy_repo
from tests.synth import Synth, synthesize
from todo_infra.contracts import CLUSTER_STACK
from todo_infra.node_sizes import FIELDS, TABLE, NodeSize, load_table, node_sizes
from todo_infra.settings import ConfigError, load_settings

PYTHON = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"
DOKS_LIMITS = "https://docs.digitalocean.com/products/kubernetes/details/limits/"


def table_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(TABLE.read_text())
    return document


def configured() -> NodeSize:
    """The size of the committed configuration (cdktf.json's node_size)."""
    return node_sizes().get(load_settings(embedded_context(), {}).cluster.node_size)


def bigger() -> NodeSize:
    """A size of the table with more allocatable CPU and memory than the configured one."""
    base = configured()
    return next(
        size
        for size in node_sizes().sizes
        if size.allocatable_cpu_m > base.allocatable_cpu_m and size.allocatable_memory_mib > base.allocatable_memory_mib
    )


# --- the table ------------------------------------------------------------------------------------------------


def test_the_table_holds_the_sizes_a_team_would_pick_with_their_sources() -> None:
    table = node_sizes()
    assert {"s-2vcpu-4gb", "s-4vcpu-8gb", "s-8vcpu-16gb"} <= set(table.slugs)
    assert any(slug.startswith("m-") for slug in table.slugs), "a memory-optimized size"
    assert table.sources["allocatable_memory"].startswith(DOKS_LIMITS)
    assert table.sources["usd_per_month"].startswith("https://www.digitalocean.com/pricing/droplets")
    assert table.checked == "2026-12-07"
    for size in table.sizes:
        assert 0 < size.allocatable_memory_mib <= size.memory_gib * 1024, size
        assert 0 < size.allocatable_cpu_m <= size.vcpus * 1000, size
        assert size.usd_per_month > 0, size
        # A 16 GiB size DigitalOcean's table does not list says so, and which row its figure comes from.
        assert size.allocatable_memory_basis.startswith(("listed: ", "not listed: ")), size


def test_the_configured_default_is_the_smallest_size() -> None:
    """cdktf.json keeps s-2vcpu-4gb, the table's cheapest size; the others are there to be chosen."""
    assert configured().usd_per_month == min(size.usd_per_month for size in node_sizes().sizes)
    assert configured().slug == embedded_context()["node_size"]


def _without(field: str) -> dict[str, Any]:
    document = table_document()
    del document["sizes"][1][field]
    return document


def _changed(**changes: Any) -> dict[str, Any]:
    document = table_document()
    document["sizes"][1].update(changes)
    return document


def _second_slug() -> str:
    return str(table_document()["sizes"][1]["slug"])


SEEDED_TABLES: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    "no price": (
        lambda: _without("usd_per_month"),
        f"node_sizes.json: size '{_second_slug()}' has no usd_per_month: every size needs {', '.join(FIELDS)}",
    ),
    "a zero price": (
        lambda: _changed(usd_per_month=0),
        f"node_sizes.json: size '{_second_slug()}' has usd_per_month=0: expected a positive number",
    ),
    "a price in words": (
        lambda: _changed(usd_per_month="48"),
        f"node_sizes.json: size '{_second_slug()}' has usd_per_month='48': expected a positive number",
    ),
    "allocatable memory NaN (json reads it; it compares false with every limit)": (
        lambda: _changed(allocatable_memory_mib=math.nan),
        f"node_sizes.json: size '{_second_slug()}' has allocatable_memory_mib=nan: expected a positive number",
    ),
    "allocatable CPU NaN": (
        lambda: _changed(allocatable_cpu_m=math.nan),
        f"node_sizes.json: size '{_second_slug()}' has allocatable_cpu_m=nan: expected a positive number",
    ),
    "an infinite price": (
        lambda: _changed(usd_per_month=math.inf),
        f"node_sizes.json: size '{_second_slug()}' has usd_per_month=inf: expected a positive number",
    ),
    "more allocatable memory than RAM": (
        lambda: _changed(allocatable_memory_mib=8193),
        f"node_sizes.json: size '{_second_slug()}' allocates 8193Mi memory: more than its 8 GiB (8192Mi)",
    ),
    "more allocatable CPU than vCPUs": (
        lambda: _changed(allocatable_cpu_m=4001),
        f"node_sizes.json: size '{_second_slug()}' allocates 4001m CPU: more than its 4 vCPU (4000m)",
    ),
    "no basis for the memory figure": (
        lambda: _changed(allocatable_memory_basis=" "),
        f"node_sizes.json: size '{_second_slug()}' has an empty allocatable_memory_basis: say where the figure "
        "comes from",
    ),
    "an unknown field": (
        lambda: _changed(price=48),
        f"node_sizes.json: size '{_second_slug()}' has unknown field 'price': a size holds {', '.join(FIELDS)}",
    ),
    "a size listed twice": (
        lambda: {**table_document(), "sizes": [*table_document()["sizes"], table_document()["sizes"][0]]},
        f"node_sizes.json: size '{table_document()['sizes'][0]['slug']}' is listed twice",
    ),
    "no sizes": (lambda: {**table_document(), "sizes": []}, "node_sizes.json: sizes: expected a non-empty list"),
}


@pytest.mark.parametrize("name", SEEDED_TABLES)
def test_a_broken_table_is_refused_in_one_line_naming_the_size_and_field(name: str, tmp_path: Path) -> None:
    make, expected = SEEDED_TABLES[name]
    path = tmp_path / "node_sizes.json"
    path.write_text(json.dumps(make(), indent=2))
    with pytest.raises(ConfigError) as refused:
        load_table(path, name="node_sizes.json")
    assert str(refused.value).startswith(expected), str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_unmodified_table_passes_the_same_check(tmp_path: Path) -> None:
    path = tmp_path / "node_sizes.json"
    path.write_text(json.dumps(table_document()))
    assert load_table(path).slugs == node_sizes().slugs


# --- the setting ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", node_sizes().slugs)
def test_every_size_of_the_table_is_accepted_through_the_variable_and_the_context(slug: str) -> None:
    assert load_settings(embedded_context(), {"TODO_NODE_SIZE": slug}).cluster.node_size == slug
    context = {**embedded_context(), "node_size": slug}
    assert load_settings(context, {}).cluster.node_size == slug


@pytest.mark.parametrize("slug", ["s-1vcpu-2gb", "S-2VCPU-4GB", "c-2", 4])
def test_any_other_size_is_refused_naming_the_sizes_of_the_table(slug: object) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({**embedded_context(), "node_size": slug}, {})
    assert str(refused.value) == (
        f"invalid node_size={slug!r}: expected one of {', '.join(node_sizes().slugs)} (the sizes of "
        "todo_infra/node_sizes.json)"
    )


def _refused(tmp_path: Path, env: dict[str, str], table: dict[str, Any] | None = None) -> list[str]:
    """main.py in a sandbox copy of the repo: exit 2 and its one line on stderr."""
    root = copy_repo(tmp_path)
    if table is not None:
        (root / "todo_infra" / "node_sizes.json").write_text(json.dumps(table, indent=2))
    result = kept_runs.run([PYTHON, "main.py"], root, env=clean_env(env), timeout=180)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not (root / "cdktf.out").exists()
    return result.stderr.strip().splitlines()


def test_main_refuses_an_unknown_size_and_a_table_without_a_price_in_one_line(tmp_path: Path) -> None:
    assert _refused(tmp_path, {"TODO_NODE_SIZE": "s-1vcpu-2gb"}) == [
        f"main.py: invalid node_size='s-1vcpu-2gb': expected one of {', '.join(node_sizes().slugs)} (the sizes of "
        "todo_infra/node_sizes.json)"
    ]
    assert _refused(tmp_path, {}, _without("usd_per_month")) == [
        f"main.py: todo_infra/node_sizes.json: size '{_second_slug()}' has no usd_per_month: every size needs "
        f"{', '.join(FIELDS)}"
    ]


# --- capacity, node loss and cost follow the size -------------------------------------------------------------


@pytest.fixture(scope="module")
def consumers(synth: Synth, apps: list[RenderedRelease]) -> list[Any]:
    found, problems = gather_consumers(synth, apps)
    assert problems == []
    return found


@pytest.mark.parametrize("slug", node_sizes().slugs)
def test_capacity_and_cost_of_each_size_come_from_its_row(slug: str, synth: Synth, consumers: list[Any]) -> None:
    node = node_sizes().get(slug)
    low, high = node_pool(synth)
    capacity = check_capacity(consumers, [], min_nodes=low, max_nodes=high, node=node)
    requested_memory = sum(c.memory_mib * c.count(low, maximum=False) for c in consumers)
    requested_cpu = sum(c.cpu_m * c.count(low, maximum=False) for c in consumers)
    assert capacity.figures["node_size"] == slug
    assert capacity.figures["min_memory_used_pct"] == round(
        100 * requested_memory / (low * node.allocatable_memory_mib), 1
    )
    assert capacity.figures["min_cpu_used_pct"] == round(100 * requested_cpu / (low * node.allocatable_cpu_m), 1)
    fullest = capacity.figures["min_fullest_node_memory_pct"]
    assert capacity.figures["min_headroom_pct"] <= round(85 - fullest, 1)
    assert slug in capacity.title

    loss = check_node_loss(consumers, min_nodes=low, node=node)
    assert loss.figures["node_size"] == slug and slug in loss.title

    cost = check_cost(consumers, min_nodes=low, max_nodes=high, node=node, ha=False, budget=1e6, edge="envoy-gateway")
    rows = {row[0]: (row[1], row[2]) for row in cost.rows}
    assert rows[f"nodes {slug} × {low} / × {high} (${node.usd_per_month:.2f} each)"] == (
        f"${low * node.usd_per_month:.2f}",
        f"${high * node.usd_per_month:.2f}",
    )
    others = cost.figures["usd_per_month_min"] - low * node.usd_per_month
    assert cost.figures["usd_per_month_max"] == pytest.approx(others + high * node.usd_per_month)


def test_a_bigger_size_reports_more_headroom_and_fewer_pods_waiting_after_a_node_loss(
    synth: Synth, consumers: list[Any]
) -> None:
    low, high = node_pool(synth)
    small, large = configured(), bigger()
    before = check_capacity(consumers, [], min_nodes=low, max_nodes=high, node=small).figures
    after = check_capacity(consumers, [], min_nodes=low, max_nodes=high, node=large).figures
    assert after["min_headroom_pct"] > before["min_headroom_pct"]
    assert after["min_fullest_node_memory_pct"] < before["min_fullest_node_memory_pct"]
    lost_before = check_node_loss(consumers, min_nodes=low, node=small).figures
    lost_after = check_node_loss(consumers, min_nodes=low, node=large).figures
    assert lost_after["waiting_memory_mib"] < lost_before["waiting_memory_mib"]


def test_a_one_node_pool_of_the_smallest_size_cannot_hold_the_platform(synth: Synth, consumers: list[Any]) -> None:
    """Seeded: the same pods on a single default node: capacity fails and names the size it counted."""
    node = configured()
    problems = check_capacity(consumers, [], min_nodes=1, max_nodes=1, node=node).problems
    assert any(f"of 1 × {node.slug} (limit 85%)" in problem for problem in problems), problems


# --- preflight learns the size from the synthesized pool ------------------------------------------------------


@pytest.fixture(scope="module")
def bigger_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stacks synthesized as an operator would with TODO_NODE_SIZE set to a bigger size of the table."""
    outdir = tmp_path_factory.mktemp("bigger-node") / "cdktf.out"
    return synthesize({outdir: {"TODO_NODE_SIZE": bigger().slug}})[outdir]


def test_preflight_reads_the_size_the_cluster_stack_asks_for(synth: Synth, bigger_synth: Synth) -> None:
    pool = bigger_synth.one(CLUSTER_STACK, "digitalocean_kubernetes_cluster")["node_pool"]
    assert pool["size"] == bigger().slug
    assert pool_node_size(bigger_synth) == bigger()
    assert pool_node_size(synth) == configured()
    rows = dict(configuration(bigger_synth).rows)
    assert rows["node size"] == f"{bigger().describe()} (todo_infra/node_sizes.json)"
    assert rows["nodes"].startswith(f"{bigger().slug} × ")


def test_preflight_on_the_bigger_synth_reports_more_headroom(synth: Synth, bigger_synth: Synth) -> None:
    def headroom(made: Synthesized) -> float:
        apps = [render_app_release(made, stack) for stack in app_stacks(made)]
        found, problems = gather_consumers(made, apps)
        low, high = node_pool(made)
        return float(
            check_capacity(found, problems, min_nodes=low, max_nodes=high, node=pool_node_size(made)).figures[
                "min_headroom_pct"
            ]
        )

    assert headroom(bigger_synth) > headroom(synth)


def test_a_synthesized_size_the_table_does_not_hold_is_one_line(synth: Synth) -> None:
    """Seeded: a cdktf.out whose pool asks for a size the table lacks (synthesized by another version)."""
    changed = dataclasses.replace(synth, stacks=json.loads(json.dumps(synth.stacks)))
    changed.one(CLUSTER_STACK, "digitalocean_kubernetes_cluster")["node_pool"]["size"] = "s-1vcpu-2gb"
    with pytest.raises(RuntimeError) as refused:
        pool_node_size(changed)
    assert str(refused.value) == (
        f"the synthesized node pool: invalid node_size='s-1vcpu-2gb': expected one of "
        f"{', '.join(node_sizes().slugs)} (the sizes of todo_infra/node_sizes.json)"
    )


# --- the docs say what the table says -------------------------------------------------------------------------


def node_sizes_section() -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    return text.split("### Node sizes\n", 1)[1].split("\n### ", 1)[0]


def test_the_architecture_document_shows_the_table_as_it_is() -> None:
    """docs/architecture.md, "Node sizes": its table has one row per size with the JSON's figures, the date it was
    checked; docs/configuration.md's row names exactly the table's sizes."""
    section = node_sizes_section()
    rows = [line for line in section.splitlines() if line.startswith("| `") and "(" in line.split("|")[1]]
    shown = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        shown[cells[0].split("`")[1]] = cells[1:]
    expected = {
        size.slug: [
            f"{size.vcpus} / {size.memory_gib} GiB",
            f"{size.allocatable_cpu_m:.0f}m",
            shown.get(size.slug, ["", "", ""])[2],
            f"{size.usd_per_month:g}",
        ]
        for size in node_sizes().sizes
    }
    assert shown == expected
    for size in node_sizes().sizes:
        assert shown[size.slug][2].startswith(f"{size.allocatable_memory_mib:.0f}Mi ("), size.slug
        listed = size.allocatable_memory_basis.startswith("listed")
        assert ("listed" in shown[size.slug][2]) is listed, size.slug
    assert f"The table, checked {node_sizes().checked}:" in section
    configuration = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    (config_row,) = [line for line in configuration.splitlines() if line.startswith("| `TODO_NODE_SIZE` |")]
    assert f"| `{embedded_context()['node_size']}` |" in config_row
    assert "(" + ", ".join(f"`{slug}`" for slug in node_sizes().slugs) + ")" in config_row
