"""Redis backups and their restore (docs/architecture.md, "Data protection"), rendered, then run for real: the
scripts the chart ships are executed by /bin/sh against the pinned redis-server and redis-cli (Debian's 7.0.15;
the chart's image runs 7.4, whose append-only layout — a manifest naming a base and an increment — is the same).
Redis runs with the exact persistence flags the chart gives it."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

import toolchain
from tests.chart.chart_support import Rendered, app_container, fullname, release_values, render


def _cron_pod(env: Rendered, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = env.get("CronJob", fullname(name))["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def test_backups_run_daily_into_their_own_kept_volume(cloud: Rendered) -> None:
    backup = cloud.get("CronJob", fullname("redis-backup"))
    assert (backup["spec"]["schedule"], backup["spec"]["suspend"]) == ("17 3 * * *", False)
    assert backup["spec"]["concurrencyPolicy"] == "Forbid"
    for name in ("redis", "redis-backup"):
        claim = cloud.get("PersistentVolumeClaim", fullname(name))
        assert claim["spec"]["storageClassName"] == "do-block-storage-retain", name
        assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", name
    spec = _cron_pod(cloud, "redis-backup")
    claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {fullname("redis-backup")}
    environment = {e["name"]: e.get("value", e.get("valueFrom")) for e in spec["containers"][0]["env"]}
    assert environment["REDIS_HOST"] == fullname("redis") and environment["KEEP"] == "7"
    assert environment["REDISCLI_AUTH"]["secretKeyRef"]["optional"] is True


def test_restore_is_a_suspended_job_template_that_mounts_both_volumes(cloud: Rendered) -> None:
    restore = cloud.get("CronJob", fullname("redis-restore"))
    assert restore["spec"]["suspend"] is True
    spec = _cron_pod(cloud, "redis-restore")
    claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {fullname("redis"), fullname("redis-backup")}
    assert "REDISCLI_AUTH" not in {e["name"] for e in spec["containers"][0]["env"]}


def test_only_the_backup_job_and_the_state_store_users_reach_redis(cloud: Rendered) -> None:
    policy = cloud.get("NetworkPolicy", fullname("redis"))
    (source,) = policy["spec"]["ingress"][0]["from"]
    assert source["podSelector"]["matchExpressions"][0]["values"] == ["backend", "notification", "redis-backup"]
    egress = cloud.get("NetworkPolicy", fullname("redis-backup"))["spec"]["egress"]
    assert egress[1]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "redis"


def test_no_backup_objects_when_backups_are_off(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = release_values("production", sets)
    values["redis"]["backup"]["enabled"] = False
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in render(chart, values, "production")}
    assert not {name for _, name in kinds if "redis-backup" in name or "redis-restore" in name}


# --- the scripts, run against a real Redis --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _persistence_flags(env: Rendered) -> list[str]:
    """`--appendonly ... --appendfsync ...` exactly as the chart's Redis container passes them."""
    script = "\n".join(app_container(env.get("Deployment", fullname("redis")))["args"])
    (line,) = [line for line in script.splitlines() if "exec redis-server" in line]
    words = shlex.split(line)
    return [words[i + j] for i, word in enumerate(words) if word in ("--appendonly", "--appendfsync") for j in (0, 1)]


class Redis:
    """redis-server on 127.0.0.1 with a data folder of its own."""

    def __init__(self, data: Path, flags: list[str]) -> None:
        self.data, self.flags, self.port = data, flags, _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        command = [str(toolchain.find("redis-cli")), "-p", str(self.port), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout.strip()

    def start(self) -> Redis:
        self.data.mkdir(parents=True, exist_ok=True)
        server = str(toolchain.find("redis-server"))
        self.process = subprocess.Popen(
            # No 5 s wait for more replicas before a `--rdb` transfer (repl-diskless-sync-delay): the only change
            # from the chart's Redis, and only to keep the suite fast.
            [
                server,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data), "--save", ""),
                *("--repl-diskless-sync-delay", "0", *self.flags),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                if self.cli("ping") == "PONG":
                    return self
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.cli("shutdown")
            self.process.wait(timeout=30)


@pytest.fixture
def redis(production: Rendered, tmp_path: Path) -> Iterator[Redis]:
    server = Redis(tmp_path / "data", _persistence_flags(production))
    yield server.start()
    server.stop()


def run_script(env: Rendered, script: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """A script from the rendered ConfigMap, run by /bin/sh with redis-cli first on PATH."""
    text = env.get("ConfigMap", f"{fullname('redis-backup')}-scripts")["data"][script]
    tools = str(toolchain.find("redis-cli").parent)
    environment = {"PATH": f"{tools}:{os.environ['PATH']}", **variables}
    return subprocess.run(
        ["/bin/sh", "-c", text], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def back_up(env: Rendered, redis: Redis, backups: Path, *, keep: int = 7) -> subprocess.CompletedProcess[str]:
    """The backup CronJob's script against `redis`, as the job's environment sets it."""
    return run_script(
        env,
        "redis-backup.sh",
        REDIS_HOST="127.0.0.1",
        REDIS_PORT=str(redis.port),
        BACKUP_DIR=str(backups),
        KEEP=str(keep),
    )


def test_backup_then_restore_brings_the_data_back(production: Rendered, redis: Redis, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    for index in range(200):
        redis.cli("set", f"todo:{index}", f"value-{index}")
    result = back_up(production, redis, backups)
    assert result.returncode == 0, result.stderr
    (backup,) = backups.glob("redis-*.rdb")
    assert re.fullmatch(r"redis-\d{8}T\d{6}Z\.rdb", backup.name)
    # the accident: everything deleted, one write after it
    redis.cli("flushall")
    redis.cli("set", "after-the-accident", "1")
    redis.stop()

    restored = run_script(production, "redis-restore.sh", DATA_DIR=str(redis.data), BACKUP_DIR=str(backups))
    assert restored.returncode == 0, restored.stderr
    (aside,) = redis.data.glob("before-restore-*")
    assert (aside / "appendonlydir").is_dir()
    redis.start()
    assert redis.cli("dbsize") == "200"
    assert redis.cli("get", "todo:42") == "value-42"
    assert redis.cli("exists", "after-the-accident") == "0"
    # and the restored data persists through the next restart (the AOF now carries it)
    redis.cli("set", "after-restore", "1")
    redis.stop()
    redis.start()
    assert redis.cli("dbsize") == "201"


def test_seeded_a_restore_to_dump_rdb_brings_redis_back_empty(
    production: Rendered, redis: Redis, tmp_path: Path
) -> None:
    """Why the restore script rebuilds the append-only directory: with the AOF on, Redis ignores dump.rdb."""
    backups = tmp_path / "backups"
    backups.mkdir()
    redis.cli("set", "todo:1", "x")
    assert back_up(production, redis, backups).returncode == 0
    redis.stop()
    for item in (redis.data / "appendonlydir").iterdir():
        item.unlink()
    (redis.data / "appendonlydir").rmdir()
    (redis.data / "dump.rdb").write_bytes(next(backups.glob("redis-*.rdb")).read_bytes())
    redis.start()
    assert redis.cli("dbsize") == "0"


def test_backups_keep_the_newest_and_a_failed_one_leaves_no_file(
    production: Rendered, redis: Redis, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    for day in range(1, 6):  # five older backups, oldest first
        old = backups / f"redis-2026110{day}T031700Z.rdb"
        old.write_bytes(b"REDIS0011")
        os.utime(old, (1_700_000_000 + day * 86_400,) * 2)
    assert back_up(production, redis, backups, keep=3).returncode == 0
    kept = sorted(path.name for path in backups.glob("redis-*.rdb"))
    assert len(kept) == 3 and kept[:2] == ["redis-20261104T031700Z.rdb", "redis-20261105T031700Z.rdb"]
    redis.stop()
    failed = back_up(production, redis, backups, keep=3)
    assert failed.returncode != 0
    assert sorted(path.name for path in backups.iterdir()) == kept


def test_restore_without_a_backup_refuses_and_touches_nothing(production: Rendered, tmp_path: Path) -> None:
    data, backups = tmp_path / "data", tmp_path / "backups"
    data.mkdir()
    backups.mkdir()
    (data / "dump.rdb").write_bytes(b"keep me")
    result = run_script(production, "redis-restore.sh", DATA_DIR=str(data), BACKUP_DIR=str(backups))
    assert result.returncode != 0 and "no backup to restore" in result.stderr
    assert [path.name for path in data.iterdir()] == ["dump.rdb"]
