"""Time the whole test suite as `.ci/run` runs it, and say where the time goes.

Runs pytest `--runs` times (default 3) in fresh processes, with the tools already provisioned, on every core as
`dev.py test` does (`--workers 0`: one process), and prints for each run and as medians the wall time and the CPU
time (user + system, of pytest and every process it ran: on a machine shared with other work, the CPU time is the
steadier figure), the test count, and per test folder the wall and CPU seconds summed over the workers (setup
included: the session's synth, the chart renders, Terraform, promtool and amtool runs; bench/cpu_per_test.py records
each test's CPU). The first run after a change to what main.py reads makes the synths the suite keeps
(tests/synth.py); later runs copy them. Run with `python3 dev.py bench suite [--runs N] [--workers N]`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_suite(report: Path, workers: str) -> tuple[float, float, int, dict[str, tuple[float, float]]]:
    start, cpu_start = time.perf_counter(), _children_cpu()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            workers,
            "--dist",
            "loadscope",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "bench.cpu_per_test",
            f"--junitxml={report}",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        check=False,
    )
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu_start
    if result.returncode != 0:
        raise SystemExit(f"the suite failed ({result.returncode}); benchmark a green suite")
    folders: dict[str, tuple[float, float]] = defaultdict(lambda: (0.0, 0.0))
    count = 0
    for case in ElementTree.parse(report).iter("testcase"):
        count += 1
        parts = case.get("classname", "").split(".")
        folder = "/".join(parts[:2]) if len(parts) > 2 else parts[0]
        used = {p.get("name"): float(p.get("value", 0)) for p in case.iter("property")}.get("cpu", 0.0)
        wall, spent = folders[folder]
        folders[folder] = (wall + float(case.get("time", 0)), spent + used)
    return elapsed, cpu, count, dict(folders)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of the whole suite (default 3)")
    parser.add_argument(
        "--workers",
        default="auto",
        help="pytest-xdist workers, as `dev.py test` runs it (default auto; 0: one process)",
    )
    options = parser.parse_args()
    runs, workers = options.runs, options.workers
    totals: list[float] = []
    cpus: list[float] = []
    per_folder: dict[str, list[tuple[float, float]]] = defaultdict(list)
    count = 0
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(runs):
            elapsed, cpu, count, folders = run_suite(Path(scratch) / f"run-{run}.xml", workers)
            totals.append(elapsed)
            cpus.append(cpu)
            for folder, seconds in folders.items():
                per_folder[folder].append(seconds)
            print(f"  run {run + 1}/{runs}: {elapsed:.1f} s wall, {cpu:.1f} s CPU, {count} tests", flush=True)
    print(
        f"test suite: {statistics.median(totals):.1f} s wall and {statistics.median(cpus):.1f} s CPU, median of {runs} "
        f"runs, {count} tests, {os.cpu_count()} cores, -n {workers}, load average {os.getloadavg()[0]:.1f}"
    )
    medians = {
        folder: (statistics.median(w for w, _ in times), statistics.median(c for _, c in times))
        for folder, times in per_folder.items()
    }
    print(f"  {'folder':<28} {'wall':>6}   {'CPU':>6}")
    for folder, (wall, cpu) in sorted(medians.items(), key=lambda item: -item[1][1]):
        print(f"  {folder:<28} {wall:6.1f} s {cpu:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
