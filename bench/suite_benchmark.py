"""Time the whole test suite as `.ci/run` runs it, and say where the time goes.

Runs pytest `--runs` times (default 3) in fresh processes, with the tools already provisioned, on every core as
`dev.py test` does (`--workers 0`: one process), and prints the median wall time, the test count, and the time spent
per test folder, summed over the workers (setup included: the session's synth, the chart renders, Terraform,
promtool and amtool runs). Run with `python3 dev.py bench suite [--runs N] [--workers N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent


def run_suite(report: Path, workers: str) -> tuple[float, int, dict[str, float]]:
    start = time.perf_counter()
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
            f"--junitxml={report}",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"the suite failed ({result.returncode}); benchmark a green suite")
    folders: dict[str, float] = defaultdict(float)
    count = 0
    for case in ElementTree.parse(report).iter("testcase"):
        count += 1
        parts = case.get("classname", "").split(".")
        folders["/".join(parts[:2]) if len(parts) > 2 else parts[0]] += float(case.get("time", 0))
    return elapsed, count, dict(folders)


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
    per_folder: dict[str, list[float]] = defaultdict(list)
    count = 0
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(runs):
            elapsed, count, folders = run_suite(Path(scratch) / f"run-{run}.xml", workers)
            totals.append(elapsed)
            for folder, seconds in folders.items():
                per_folder[folder].append(seconds)
            print(f"  run {run + 1}/{runs}: {elapsed:.1f} s, {count} tests", flush=True)
    print(
        f"test suite: {statistics.median(totals):.1f} s median of {runs} runs, {count} tests, {os.cpu_count()} cores, "
        f"-n {workers}"
    )
    medians = {folder: statistics.median(times) for folder, times in per_folder.items()}
    for folder, median in sorted(medians.items(), key=lambda item: -item[1]):
        print(f"  {folder:<28} {median:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
