"""What a Redis backup, its offsite copy and a restore from the bucket cost, on this machine.

Runs the chart's own scripts (rendered from the production app stack in cdktf.out/, so `python3 dev.py synth`
first) with the pinned redis-server / redis-cli / redis-check-rdb and rclone 1.75.1, every container's settings
exactly as rendered, against a local S3 server (moto on 127.0.0.1) standing in for Spaces. Per dataset (the restart
benchmark's, up to ~60 % of Redis' 256 MiB limit) it prints: the RDB's size; the seconds of the backup (`redis-cli
--rdb`, then redis-check-rdb and the key floor before it is accepted), of redis-check-rdb alone on that RDB (the part
of the backup and of the restore that reads it through), the offsite copy, the fetch back and the restore (by name,
checked again) up to Redis answering again with every key; redis-check-rdb's peak resident memory against the
backup container's limit; and rclone's peak memory during the
copy — anonymous, and all resident including the binary's file-backed pages — against the offsite container's
memory limit (both count towards a cgroup's usage; only the file-backed part can be reclaimed).

Not measured: Spaces' own throughput and latency over the internet (a loopback server is far faster), the volumes.
Run with `python3 dev.py bench backup`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.redis_restart_benchmark import DATASETS, cli, fill, free_port, start, stop
from preflight.backup_jobs import cron_pod, environment, rclone_environment, redis_tools, script_command
from preflight.render import RenderedRelease, render_app_release
from preflight.synth import load_synthesized
from tests.local_s3 import LocalS3, running_local_s3

STACK = "app-production"
#: Random values, 200 characters: the RDB's LZF compression must not shrink the data below what the app stores.
VALUE_BYTES = 100
#: Memory of rclone that counts: anonymous (heap, buffers), and all resident (adds the binary's file-backed pages,
#: which the kernel can reclaim under a cgroup's limit but which count towards it).
MEMORY_FIELDS = ("RssAnon", "VmRSS")


def random_values(keys: int) -> list[str]:
    """`keys` values of 200 random hex characters (incompressible, unlike the restart benchmark's)."""
    text, size = os.urandom(VALUE_BYTES * keys).hex(), 2 * VALUE_BYTES
    return [text[i * size : (i + 1) * size] for i in range(keys)]


def rclone_memory() -> dict[str, int]:
    """KiB per MEMORY_FIELDS of the largest rclone process running now (the script runs them one after the other;
    the benchmark runs nothing else)."""
    largest = dict.fromkeys(MEMORY_FIELDS, 0)
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "comm").read_text().strip() != "rclone":
                continue
            for line in (proc / "status").read_text().splitlines():
                field, _, value = line.partition(":")
                if field in largest:
                    largest[field] = max(largest[field], int(value.split()[0]))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return largest


def literal_env(release: RenderedRelease, job: str, container: str) -> dict[str, str]:
    """The literal environment the chart gives `container` of `job` (KEEP, the key floor, the clock skew...)."""
    spec = cron_pod(release, job)
    (found,) = [c for c in [*spec.get("initContainers", []), *spec["containers"]] if c["name"] == container]
    return {name: value for name, value in environment(found).items() if isinstance(value, str)}


def timed(
    release: RenderedRelease, script: str, variables: dict[str, str], tools: list[Path]
) -> tuple[float, dict[str, int]]:
    """Seconds the script took, and the peak of rclone's memory while it ran (sampled every 5 ms)."""
    command, env = script_command(release, script, tools, variables)
    peak = dict.fromkeys(MEMORY_FIELDS, 0)
    began = time.perf_counter()
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process:
        while process.poll() is None:
            for field, value in rclone_memory().items():
                peak[field] = max(peak[field], value)
            time.sleep(0.005)
        elapsed = time.perf_counter() - began
        stderr = process.stderr.read() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{script} failed: {(stderr.strip().splitlines() or ['no output'])[-1]}")
    return elapsed, peak


def check_alone(tools: list[Path], rdb: Path) -> tuple[float, int]:
    """Seconds redis-check-rdb takes to read `rdb` through, and its peak resident memory in KiB (getrusage)."""
    (check,) = [tool / "redis-check-rdb" for tool in tools if (tool / "redis-check-rdb").exists()]
    # A Python of its own runs it, so that its children's peak is redis-check-rdb's alone (not this one's Redis).
    peak = (
        "import resource, subprocess, sys, time; began = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(time.perf_counter() - began, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    ran = subprocess.run([sys.executable, "-c", peak, str(check), str(rdb)], check=True, capture_output=True, text=True)
    seconds, kib = ran.stdout.split()
    return float(seconds), int(kib)


def measure(release: RenderedRelease, keys: int, s3: LocalS3, tools: list[Path]) -> dict[str, float]:
    endpoint, key = s3.endpoint, s3.key
    with tempfile.TemporaryDirectory(prefix="redis-backup-bench-") as folder:
        data, backups, fetched = (Path(folder) / name for name in ("data", "backups", "fetched"))
        for path in (data, backups, fetched):
            path.mkdir()
        port = free_port()
        process, _ = start(data, port)
        fill(port, keys, random_values(keys))
        snapshot = literal_env(release, "redis-backup", "redis-backup")
        snapshot |= {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "BACKUP_DIR": str(backups)}
        backup_s, _ = timed(release, "redis-backup.sh", snapshot, tools)
        stop(process, port)
        (rdb,) = backups.glob("redis-*.rdb")
        check_s, check_kib = check_alone(tools, rdb)
        offsite = rclone_environment(release, "redis-backup", backup_dir=backups, endpoint=endpoint, key=key)
        copy_s, memory = timed(release, "redis-offsite.sh", offsite, tools)
        fetch = rclone_environment(release, "redis-fetch", backup_dir=fetched, endpoint=endpoint, key=key)
        fetch["RESTORE_FROM"] = rdb.name
        fetch_s, _ = timed(release, "redis-fetch.sh", fetch, tools)
        restore = literal_env(release, "redis-restore", "redis-restore")
        restore |= {"DATA_DIR": str(data), "BACKUP_DIR": str(fetched), "RESTORE_FROM": rdb.name}
        # a fresh volume (no ledger): the sum the backup job recorded, as the operator gives it
        restore["RESTORE_SHA256"] = (backups / "accepted").read_text().split()[-1]
        began = time.perf_counter()
        timed(release, "redis-restore.sh", restore, tools)
        process, _ = start(data, port)
        restore_s = time.perf_counter() - began
        restored = int(cli(port, "dbsize"))
        stop(process, port)
        if restored != keys:
            raise SystemExit(f"restore brought back {restored} keys of {keys}")
        return {
            "rdb_mib": rdb.stat().st_size / 2**20,
            "backup_s": backup_s,
            "check_s": check_s,
            "check_mib": check_kib / 1024,
            "copy_s": copy_s,
            "rclone_anon_mib": memory["RssAnon"] / 1024,
            "rclone_rss_mib": memory["VmRSS"] / 1024,
            "fetch_s": fetch_s,
            "restore_s": restore_s,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, nargs="*", default=list(DATASETS))
    args = parser.parse_args()
    outdir = Path(__file__).resolve().parent.parent / "cdktf.out"
    if not (outdir / "manifest.json").is_file():
        print("bench backup: no cdktf.out/ to render the chart from: run `python3 dev.py synth` first", file=sys.stderr)
        return 2
    release = render_app_release(load_synthesized(outdir), STACK)
    (offsite,) = cron_pod(release, "redis-backup")["containers"]
    (snapshot,) = cron_pod(release, "redis-backup")["initContainers"]
    limit = offsite["resources"]["limits"]["memory"]
    bucket = environment(offsite)["OFFSITE"].removeprefix("spaces:").split("/")[0]
    print(
        f"{STACK}'s backup jobs; rclone 1.75.1 against moto on 127.0.0.1; limits: the offsite container {limit}, "
        f"the backup container (redis-check-rdb) {snapshot['resources']['limits']['memory']}"
    )
    print(
        f"{'keys':>8}  {'RDB':>9}  {'backup':>7}  {'check':>6}  {'check peak':>10}  {'copy':>6}  "
        f"{'rclone peak: anon':>17}  {'resident':>8}  {'fetch':>6}  {'restore':>8}"
    )
    with tempfile.TemporaryDirectory(prefix="redis-tools-") as folder:
        tools = redis_tools(Path(folder))
        for keys in args.keys:
            with running_local_s3(bucket) as s3:  # an empty bucket for each dataset
                f = measure(release, keys, s3, tools)
                print(
                    f"{keys:>8}  {f['rdb_mib']:>5.1f} MiB  {f['backup_s']:>6.2f}s  {f['check_s']:>5.2f}s  "
                    f"{f['check_mib']:>6.0f} MiB  {f['copy_s']:>5.2f}s  {f['rclone_anon_mib']:>13.0f} MiB  "
                    f"{f['rclone_rss_mib']:>4.0f} MiB  {f['fetch_s']:>5.2f}s  {f['restore_s']:>7.2f}s"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
