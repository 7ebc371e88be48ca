"""What docs/measurements.md quotes that the code can check: the preflight figures of the default configuration
(capacity, node loss, cost: tests/preflight/test_preflight_command.py compares them with a real run), and the
benchmark commands with their defaults (the bench scripts' own options). Timings are measurements, not code: only
how they were taken is checked.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MEASUREMENTS = REPO_ROOT / "docs" / "measurements.md"

_PCT = r"\*\*(?P<{}>\d+\.\d) %\*\*"
#: preflight figure (check, key) -> the sentence of the page that quotes it, the figure as a named group.
QUOTED = {
    ("capacity", "min_cpu_used_pct"): r"capacity at minimum \(3 nodes[^)]*\): CPU \d+m of \d+m = " + _PCT,
    ("capacity", "min_memory_used_pct"): r"memory\s+\d+ MiB of \d+ MiB = " + _PCT + r" in total",
    ("capacity", "min_fullest_node_memory_pct"): r"orders of arrival,\s+\d+ MiB = " + _PCT + r" memory",
    ("capacity", "min_fullest_node_cpu_pct"): r"memory and \d+m = " + _PCT + r" CPU",
    ("capacity", "max_cpu_used_pct"): r"at maximum \(5 nodes[^)]*\): CPU " + _PCT,
    ("capacity", "max_memory_used_pct"): r"at maximum \(5 nodes[^)]*\): CPU \*\*[\d.]+ %\*\*, memory " + _PCT,
    ("capacity", "max_fullest_node_memory_pct"): r"in total, fullest node\s+" + _PCT + r" memory",
    ("node-loss", "outcomes"): r"node loss \(2 of 3 nodes[^)]*?(?P<{}>\d[\d,]*) outcomes\)",
    ("node-loss", "waiting_memory_mib"): r"third member \((?P<{}>\d+) MiB in all\) wait",
    ("cost", "usd_per_month_min"): r"\*\*\$(?P<{}>\d+\.\d\d)/month\*\* at minimum",
    ("cost", "usd_per_month_max"): r"\*\*\$(?P<{}>\d+\.\d\d)/month\*\* at maximum",
}


def quoted_figures(text: str) -> dict[tuple[str, str], float | None]:
    """(check, key) -> the number the page quotes, None when the sentence that should quote it is not there."""
    found: dict[tuple[str, str], float | None] = {}
    for figure, pattern in QUOTED.items():
        match = re.search(pattern.format("value"), text, flags=re.DOTALL)
        found[figure] = float(match["value"].replace(",", "")) if match else None
    return found


def figure_problems(quoted: dict[tuple[str, str], float | None], reported: dict[str, dict[str, float]]) -> list[str]:
    """`reported`: check -> its figures, as `preflight --json` prints them."""
    problems = []
    for (check, key), value in quoted.items():
        actual = reported[check][key]
        if value is None:
            problems.append(f"docs/measurements.md does not quote {check} {key} (preflight: {actual})")
        elif round(value, 2) != round(float(actual), 2):
            problems.append(f"docs/measurements.md quotes {check} {key} = {value:g}, preflight reports {actual}")
    return problems


#: `dev.py bench <mode>` -> the script it runs (dev.py's _bench).
BENCH_SCRIPTS = {
    "": "bench/synth_benchmark.py",
    "suite": "bench/suite_benchmark.py",
    "redis": "bench/redis_restart_benchmark.py",
    "backup": "bench/redis_backup_benchmark.py",
}
_BENCH = re.compile(r"`python3 dev\.py bench(?: (?P<mode>[a-z]+))?(?P<options>(?: --?[a-z-]+(?: \S+)?)*)`")
#: How the page says a figure was taken -> (mode, option) whose default it states.
_RUNS = {
    "": re.compile(r"`python3 dev\.py bench`, (?P<n>\d+) alternating runs"),
    "suite": re.compile(r"`python3 dev\.py bench suite`, median of (?P<n>\d+)"),
}


def _options(script: str) -> dict[str, str | None]:
    """--option -> its default (None when it has none), from the script's add_argument calls."""
    text = (REPO_ROOT / script).read_text()
    found: dict[str, str | None] = {}
    for call in re.finditer(r'add_argument\(\s*"(--[a-z-]+)"(?P<rest>[^)]*)\)', text, flags=re.DOTALL):
        default = re.search(r"default=([^,\s)]+)", call["rest"])
        found[call.group(1)] = default.group(1).strip("\"'") if default else None
    return found


def bench_problems(text: str) -> list[str]:
    """Every bench command the page shows runs a mode dev.py has with options its script takes, and the number of
    runs the page says a figure is the median of is the script's default."""
    problems = []
    for match in _BENCH.finditer(text):
        mode = match["mode"] or ""
        if mode not in BENCH_SCRIPTS:
            problems.append(f"`python3 dev.py bench {mode}` is not a benchmark (modes: suite, redis, backup)")
            continue
        options = _options(BENCH_SCRIPTS[mode])
        for option in re.findall(r"(--?[a-z-]+)", match["options"]):
            if option not in options:
                problems.append(f"`python3 dev.py bench {mode}`: {BENCH_SCRIPTS[mode]} has no option {option}")
    for mode, pattern in _RUNS.items():
        command = f"python3 dev.py bench {mode}".strip()
        said = pattern.search(text)
        default = _options(BENCH_SCRIPTS[mode]).get("--runs")
        if said is None:
            problems.append(f"the page no longer says how many runs `{command}` takes")
        elif said["n"] != default:
            problems.append(f"the page says {said['n']} runs of `{command}`, the script's default is {default}")
    return problems
