"""docs/measurements.md: the benchmark commands and their run counts are the bench scripts', and every preflight
figure it quotes is found (tests/preflight/test_preflight_command.py compares them with a real preflight run)."""

from __future__ import annotations

from tests.docs.measurement_checks import MEASUREMENTS, QUOTED, bench_problems, figure_problems, quoted_figures


def reported_as_quoted(text: str) -> dict[str, dict[str, float]]:
    """The page's own figures in preflight's JSON shape: what a run agreeing with the page would report."""
    reported: dict[str, dict[str, float]] = {}
    for (check, key), value in quoted_figures(text).items():
        assert value is not None, (check, key)
        reported.setdefault(check, {})[key] = value
    return reported


def test_the_benchmark_commands_are_the_bench_scripts() -> None:
    assert bench_problems(MEASUREMENTS.read_text()) == []


def test_a_benchmark_command_or_run_count_that_drifted_is_caught() -> None:
    text = MEASUREMENTS.read_text()
    assert "5 alternating runs" in text and "bench suite --workers 0" in text and "`python3 dev.py bench redis`" in text
    assert bench_problems(text.replace("5 alternating runs", "7 alternating runs")) == [
        "the page says 7 runs of `python3 dev.py bench`, the script's default is 5"
    ]
    assert bench_problems(text.replace("bench suite --workers 0", "bench suite --workerz 0")) == [
        "`python3 dev.py bench suite`: bench/suite_benchmark.py has no option --workerz"
    ]
    assert bench_problems(text.replace("`python3 dev.py bench redis`", "`python3 dev.py bench valkey`")) == [
        "`python3 dev.py bench valkey` is not a benchmark (modes: suite, redis, backup)"
    ]


def test_every_preflight_figure_is_quoted() -> None:
    quoted = quoted_figures(MEASUREMENTS.read_text())
    assert set(quoted) == set(QUOTED)
    assert [figure for figure, value in quoted.items() if value is None] == []


def test_a_quoted_figure_that_drifted_is_caught() -> None:
    """Seeded: each edit changes one quoted figure; the comparison names that figure only."""
    text = MEASUREMENTS.read_text()
    reported = reported_as_quoted(text)
    seeded = {
        "= **80.0 %** in total": ("= **79.0 %** in total", "capacity min_memory_used_pct = 79"),
        "**$92.00/month** at minimum": ("**$88.00/month** at minimum", "cost usd_per_month_min = 88"),
        "(864 MiB in all)": ("(800 MiB in all)", "node-loss waiting_memory_mib = 800"),
        "fullest node\n    **74.8 %** memory": (
            "fullest node\n    **71.8 %** memory",
            "max_fullest_node_memory_pct = 71.8",
        ),
    }
    for old, (new, named) in seeded.items():
        assert old in text, old
        problems = figure_problems(quoted_figures(text.replace(old, new, 1)), reported)
        assert len(problems) == 1 and named in problems[0], problems
    missing = figure_problems(quoted_figures(text.replace("at maximum (5 nodes", "at the top (5 nodes")), reported)
    assert [problem.split(" (")[0] for problem in missing] == [
        "docs/measurements.md does not quote capacity max_cpu_used_pct",
        "docs/measurements.md does not quote capacity max_memory_used_pct",
    ]
