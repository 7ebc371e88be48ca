"""Time a full synth of the four stacks against the bare import floor, in the same run.

The floor is what no synth can avoid: starting Python and jsii and loading `cdktf` plus the three provider
bindings, with no constructs (and, like main.py's synth, without the cyclic garbage collector). Both are
measured as fresh processes, alternating, and the medians compared.
Target: synth / floor <= 1.15. Run with `python3 dev.py bench [--runs N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.15
#: main.py runs the synth with the cyclic garbage collector off; the floor does the same, so that the ratio compares
#: like with like (with it on, the imports alone cost about 0.4 s more).
FLOOR = (
    "import gc; gc.disable(); from todo_infra.node import use_project_node; use_project_node(); "
    "import cdktf, cdktf_cdktf_provider_digitalocean, cdktf_cdktf_provider_kubernetes, cdktf_cdktf_provider_helm"
)


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measurements of each (default 5)")
    runs = parser.parse_args().runs
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TODO_", "CDKTF_"))}
    env["PYTHONPATH"] = str(ROOT)
    floor: list[float] = []
    synth: list[float] = []
    with tempfile.TemporaryDirectory() as outdir:
        env["CDKTF_OUTDIR"] = outdir
        timed([sys.executable, "main.py"], env)  # warm the OS file cache once, not measured
        for run in range(runs):
            floor.append(timed([sys.executable, "-c", FLOOR], env))
            synth.append(timed([sys.executable, "main.py"], env))
            print(f"  run {run + 1}/{runs}: floor {floor[-1]:.2f} s, synth {synth[-1]:.2f} s", flush=True)
    floor_s, synth_s = statistics.median(floor), statistics.median(synth)
    ratio = synth_s / floor_s
    print(f"import floor (cdktf + 3 providers): {floor_s:.2f} s median of {runs}")
    print(f"full synth (4 stacks):              {synth_s:.2f} s median of {runs}")
    print(f"ratio synth/floor:                  {ratio:.3f} (target <= {TARGET_RATIO})")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
