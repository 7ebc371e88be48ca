"""What a Redis restart costs the app: the measurable parts of a drain's outage, on this machine.

A drain stops the Redis pod (SHUTDOWN: the append-only file is fsynced and, with the default save points, an RDB
written), the volume moves to another node, and the new pod replays the append-only file before it answers PING.
This runs the pinned redis-server with the chart's persistence flags (`--appendonly yes --appendfsync everysec`,
default save points) over datasets up to the chart's `maxmemory` (96 MiB), and prints, per dataset:
the shutdown time, and the time from start to the first PONG (the AOF replay), once for an AOF that is one long
increment and once after a rewrite (a base RDB plus a short increment, which Redis reaches by itself).

The volume's detach and attach and the pod's scheduling happen in DigitalOcean and Kubernetes and are not measured
here; docs/runbooks/deploy.md, "Redis during drains", adds them up. Run with `python3 dev.py bench redis`.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import toolchain

#: Keys of ~200 bytes (a serialized todo item with its metadata), up to just under the chart's maxmemory (96 MiB).
DATASETS = (10_000, 100_000, 400_000)
VALUE = "x" * 200


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def cli(port: int, *args: str, stdin: bytes | None = None) -> str:
    command = [str(toolchain.find("redis-cli")), "-p", str(port), *args]
    result = subprocess.run(command, input=stdin, capture_output=True, check=False, timeout=600)
    return result.stdout.decode().strip()


def start(data: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    """Start redis-server as the chart does (a config file, so the default save points apply); seconds to PONG."""
    config = data / "redis.conf"
    config.write_text("")
    began = time.perf_counter()
    process = subprocess.Popen(
        [
            str(toolchain.find("redis-server")),
            str(config),
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(data)),
            *("--appendonly", "yes", "--appendfsync", "everysec"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while cli(port, "ping") != "PONG":
        time.sleep(0.005)
    return process, time.perf_counter() - began


def stop(process: subprocess.Popen[bytes], port: int) -> float:
    began = time.perf_counter()
    cli(port, "shutdown")
    process.wait(timeout=600)
    return time.perf_counter() - began


def fill(port: int, keys: int, values: Sequence[str] | None = None) -> None:
    """SET todo:<i> for i below `keys`, to values[i] (default: VALUE for every key), in one pipe."""
    commands = "".join(
        f"*3\r\n$3\r\nSET\r\n${len(f'todo:{i}')}\r\ntodo:{i}\r\n${len(value)}\r\n{value}\r\n"
        for i, value in enumerate(values or [VALUE] * keys)
    )
    cli(port, "--pipe", stdin=commands.encode())


def measure(keys: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="redis-bench-") as folder:
        data, port = Path(folder), free_port()
        process, _ = start(data, port)
        fill(port, keys)
        memory = int(cli(port, "memory", "stats").split("dataset.bytes\n", 1)[1].split("\n", 1)[0])
        shutdown = stop(process, port)
        process, replay_increment = start(data, port)
        assert int(cli(port, "dbsize")) == keys
        cli(port, "bgrewriteaof")
        while "aof_rewrite_in_progress:1" in cli(port, "info", "persistence"):
            time.sleep(0.01)
        stop(process, port)
        process, replay_rewritten = start(data, port)
        stop(process, port)
        return {
            "dataset_mib": memory / 2**20,
            "shutdown_s": shutdown,
            "replay_increment_s": replay_increment,
            "replay_rewritten_s": replay_rewritten,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, nargs="*", default=list(DATASETS))
    args = parser.parse_args()
    server = toolchain.find("redis-server")
    version = subprocess.run([str(server), "--version"], capture_output=True, text=True, check=True).stdout.split()[2]
    print(f"redis-server {version.removeprefix('v=')}, --appendonly yes --appendfsync everysec, default save points")
    print(f"{'keys':>9}  {'dataset':>9}  {'shutdown':>9}  {'replay (long AOF)':>18}  {'replay (rewritten)':>19}")
    for keys in args.keys:
        figures = measure(keys)
        print(
            f"{keys:>9}  {figures['dataset_mib']:>6.1f} MiB  {figures['shutdown_s']:>8.2f}s  "
            f"{figures['replay_increment_s']:>17.2f}s  {figures['replay_rewritten_s']:>18.2f}s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
