"""Redis backups and their restore (docs/architecture.md, "Data protection"), rendered, then run for real: the
scripts the chart ships are executed by /bin/sh against the pinned redis-server and redis-cli (8.6.3, the chart's
image's major.minor: toolchain/versions.json).
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

import helm_python as helm
import pytest

import toolchain
from preflight import backup_jobs
from preflight.backup_jobs import cron_pod
from preflight.backup_jobs import environment as container_env
from tests.chart.chart_support import Rendered, app_container, fullname, load_values, release_values, render
from tests.docs.runbook_checks import parse
from tests.local_s3 import LocalS3, running_local_s3
from todo_infra.app_secrets import BACKUP_SPACES_SECRET_NAME
from todo_infra.contracts import BASE_VALUES

OFFSITE_IMAGE = load_values(BASE_VALUES)["redis"]["backup"]["offsite"]["image"]


def test_backups_run_daily_into_their_own_kept_volume(cloud: Rendered) -> None:
    backup = cloud.get("CronJob", fullname("redis-backup"))
    assert (backup["spec"]["schedule"], backup["spec"]["suspend"]) == ("17 3 * * *", False)
    assert backup["spec"]["concurrencyPolicy"] == "Forbid"
    for name in ("redis", "redis-backup"):
        claim = cloud.get("PersistentVolumeClaim", fullname(name))
        assert claim["spec"]["storageClassName"] == "do-block-storage-retain", name
        assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", name
    spec = cron_pod(cloud, "redis-backup")
    claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {fullname("redis-backup")}
    # the snapshot first (init container, Redis image), then the offsite copy
    (snapshot,) = spec["initContainers"]
    assert snapshot["name"] == "redis-backup" and snapshot["image"] == cloud.values["redis"]["image"]
    environment = container_env(snapshot)
    assert environment["REDIS_HOST"] == fullname("redis") and environment["KEEP"] == "7"
    assert "optional" not in environment["REDISCLI_AUTH"]["secretKeyRef"]  # the password is required


def test_each_backup_is_copied_to_the_environments_folder_of_the_spaces_bucket(cloud: Rendered) -> None:
    (offsite,) = cron_pod(cloud, "redis-backup")["containers"]
    assert offsite["name"] == "redis-offsite"
    assert offsite["image"] == OFFSITE_IMAGE and OFFSITE_IMAGE.endswith(
        "@sha256:45401ad7410db1d67ffdb58e19059ad20b0d8e0285a60e38bbec55cc1019c7a5"
    )
    environment = container_env(offsite)
    # the bucket and endpoint come from the settings (cdktf.json: backup_bucket, backup_endpoint): each environment
    # copies to a bucket of its own, `<backup_bucket>-<environment>`, under the same prefix as before
    assert environment["OFFSITE"] == f"spaces:hackathon-todo-backups-{cloud.namespace}/redis/{cloud.namespace}"
    assert environment["RCLONE_CONFIG_SPACES_ENDPOINT"] == "https://ams3.digitaloceanspaces.com"
    assert environment["KEEP"] == "7" and environment["RCLONE_CONFIG"] == ""
    for variable, key in (
        ("RCLONE_CONFIG_SPACES_ACCESS_KEY_ID", "ACCESS_KEY_ID"),
        ("RCLONE_CONFIG_SPACES_SECRET_ACCESS_KEY", "SECRET_ACCESS_KEY"),
    ):
        assert environment[variable] == {"secretKeyRef": {"name": BACKUP_SPACES_SECRET_NAME, "key": key}}


def test_a_failed_offsite_copy_fails_the_job_instead_of_taking_another_snapshot(cloud: Rendered) -> None:
    """A retried pod would run the snapshot again and push the oldest backup off the volume each time; a refused
    copy therefore fails the job at once (a failed snapshot is still retried, backoffLimit 2)."""
    job = cloud.get("CronJob", fullname("redis-backup"))["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 2
    (rule,) = job["podFailurePolicy"]["rules"]
    assert rule == {
        "action": "FailJob",
        "onExitCodes": {"containerName": "redis-offsite", "operator": "NotIn", "values": [0]},
    }
    for name in ("redis-fetch", "redis-restore"):
        assert "podFailurePolicy" not in cloud.get("CronJob", fullname(name))["spec"]["jobTemplate"]["spec"]


def test_restore_is_a_suspended_job_template_that_mounts_both_volumes(cloud: Rendered) -> None:
    restore = cloud.get("CronJob", fullname("redis-restore"))
    assert restore["spec"]["suspend"] is True
    spec = cron_pod(cloud, "redis-restore")
    claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {fullname("redis"), fullname("redis-backup")}
    assert "REDISCLI_AUTH" not in {e["name"] for e in spec["containers"][0]["env"]}
    assert "initContainers" not in spec


def test_fetch_is_a_suspended_job_template_that_writes_only_the_backup_volume(cloud: Rendered) -> None:
    fetch = cloud.get("CronJob", fullname("redis-fetch"))
    assert fetch["spec"]["suspend"] is True
    spec = cron_pod(cloud, "redis-fetch")
    claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {fullname("redis-backup")}
    (container,) = spec["containers"]
    assert container["image"] == OFFSITE_IMAGE
    assert (
        container_env(container)["OFFSITE"]
        == container_env(cron_pod(cloud, "redis-backup")["containers"][0])["OFFSITE"]
    )


def test_only_the_backup_job_and_the_state_store_users_reach_redis(cloud: Rendered) -> None:
    policy = cloud.get("NetworkPolicy", fullname("redis"))
    (source,) = policy["spec"]["ingress"][0]["from"]
    assert source["podSelector"]["matchExpressions"][0]["values"] == ["backend", "notification", "redis-backup"]
    egress = cloud.get("NetworkPolicy", fullname("redis-backup"))["spec"]["egress"]
    assert egress[1]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "redis"
    # Spaces: HTTPS outside the private ranges, for the backup and fetch pods only
    for name in ("redis-backup", "redis-fetch"):
        rules = cloud.get("NetworkPolicy", fullname(name))["spec"]["egress"]
        public = [rule for rule in rules if "ipBlock" in rule["to"][0]]
        assert [port["port"] for rule in public for port in rule["ports"]] == [443], name
        assert "10.0.0.0/8" in public[0]["to"][0]["ipBlock"]["except"]
    assert [
        rule
        for rule in cloud.get("NetworkPolicy", fullname("redis-fetch"))["spec"]["egress"]
        if "podSelector" in str(rule)
    ] == []


def test_without_a_bucket_there_is_no_offsite_copy(base: Rendered) -> None:
    """The chart's own default (local development): the backup runs alone, no key is referenced, no HTTPS egress."""
    assert base.values["redis"]["backup"]["offsite"]["bucket"] == ""
    spec = cron_pod(base, "redis-backup")
    assert [c["name"] for c in spec["containers"]] == ["redis-backup"] and "initContainers" not in spec
    assert fullname("redis-fetch") not in base.names("CronJob")
    assert "podFailurePolicy" not in base.get("CronJob", fullname("redis-backup"))["spec"]["jobTemplate"]["spec"]
    assert BACKUP_SPACES_SECRET_NAME not in str(base.manifests)
    assert "ipBlock" not in str(base.get("NetworkPolicy", fullname("redis-backup")))
    scripts = base.get("ConfigMap", f"{fullname('redis-backup')}-scripts")["data"]
    assert set(scripts) == {"redis-backup.sh", "redis-restore.sh"}


def test_no_backup_objects_when_backups_are_off(chart: helm.Chart, sets: dict[str, str]) -> None:
    values = release_values("production", sets)
    values["redis"]["backup"]["enabled"] = False
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in render(chart, values, "production")}
    assert not {
        name for _, name in kinds if any(job in name for job in ("redis-backup", "redis-restore", "redis-fetch"))
    }


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
def backups(tmp_path: Path) -> Path:
    """The backup volume's folder, empty."""
    folder = tmp_path / "backups"
    folder.mkdir()
    return folder


@pytest.fixture
def redis(production: Rendered, tmp_path: Path) -> Iterator[Redis]:
    server = Redis(tmp_path / "data", _persistence_flags(production))
    yield server.start()
    server.stop()


def run_script(env: Rendered, script: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """A script from the rendered ConfigMap, run by /bin/sh with redis-cli and rclone first on PATH."""
    return backup_jobs.run_script(env, script, [toolchain.find("redis-cli").parent], variables, timeout=60)


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


def test_backup_then_restore_brings_the_data_back(production: Rendered, redis: Redis, backups: Path) -> None:
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
    production: Rendered, redis: Redis, backups: Path
) -> None:
    """Why the restore script rebuilds the append-only directory: with the AOF on, Redis ignores dump.rdb."""
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
    production: Rendered, redis: Redis, backups: Path
) -> None:
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


def test_restore_without_a_backup_refuses_and_touches_nothing(
    production: Rendered, backups: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "dump.rdb").write_bytes(b"keep me")
    result = run_script(production, "redis-restore.sh", DATA_DIR=str(data), BACKUP_DIR=str(backups))
    assert result.returncode != 0 and "no backup to restore" in result.stderr
    assert [path.name for path in data.iterdir()] == ["dump.rdb"]


# --- the offsite copy, run with rclone against a local S3 server ----------------------------------------------

#: production's backup bucket (the tests below run production's release)
BUCKET = "hackathon-todo-backups-production"


@pytest.fixture(scope="module")
def spaces() -> Iterator[LocalS3]:
    with running_local_s3(BUCKET) as s3:
        yield s3


@pytest.fixture
def bucket(spaces: LocalS3) -> LocalS3:
    """The backup bucket, emptied before each test."""
    for key in spaces.keys(BUCKET):
        spaces.client.delete_object(Bucket=BUCKET, Key=key)
    return spaces


def rclone_env(env: Rendered, job: str, s3: LocalS3, backups: Path) -> dict[str, str]:
    """The environment the chart gives the rclone container of `job` (remote type, provider, ACL, bucket check,
    OFFSITE), pointed at the local server."""
    variables = backup_jobs.rclone_environment(env, job, backup_dir=backups, endpoint=s3.endpoint, key=s3.key)
    assert variables["OFFSITE"].startswith(f"spaces:{BUCKET}/")
    return variables


def test_the_tested_rclone_is_the_release_the_chart_runs() -> None:
    version = subprocess.run(
        [str(backup_jobs.RCLONE_DIR / "rclone"), "version"], capture_output=True, text=True, check=True
    )
    tag = OFFSITE_IMAGE.split(":", 2)[1].split("@")[0]
    assert version.stdout.splitlines()[0] == f"rclone v{tag}"


def test_a_backup_copied_offsite_survives_the_loss_of_both_volumes(
    production: Rendered, redis: Redis, bucket: LocalS3, backups: Path, tmp_path: Path
) -> None:
    for index in range(200):
        redis.cli("set", f"todo:{index}", f"value-{index}")
    assert back_up(production, redis, backups).returncode == 0
    copied = run_script(production, "redis-offsite.sh", **rclone_env(production, "redis-backup", bucket, backups))
    assert copied.returncode == 0, copied.stderr
    (key,) = bucket.keys(BUCKET)
    assert re.fullmatch(r"redis/production/redis-\d{8}T\d{6}Z\.rdb", key)
    # the disaster: Redis' volume and the backup volume are both gone
    redis.stop()
    for path in sorted(tmp_path.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    fresh_backups = tmp_path / "new-backups"
    fresh_backups.mkdir()
    redis.data.mkdir(parents=True)

    fetched = run_script(production, "redis-fetch.sh", **rclone_env(production, "redis-fetch", bucket, fresh_backups))
    assert fetched.returncode == 0, fetched.stderr
    assert [path.name for path in fresh_backups.iterdir()] == [key.rsplit("/", 1)[1]]
    restored = run_script(production, "redis-restore.sh", DATA_DIR=str(redis.data), BACKUP_DIR=str(fresh_backups))
    assert restored.returncode == 0, restored.stderr
    redis.start()
    assert redis.cli("dbsize") == "200" and redis.cli("get", "todo:7") == "value-7"


def test_the_offsite_copy_catches_up_and_keeps_the_newest(
    production: Rendered, redis: Redis, bucket: LocalS3, backups: Path
) -> None:
    folder = "redis/production"
    for day in range(1, 6):  # five older backups already in the bucket
        bucket.client.put_object(Bucket=BUCKET, Key=f"{folder}/redis-2026110{day}T031700Z.rdb", Body=b"REDIS0011")
    (backups / "redis-20261106T031700Z.rdb").write_bytes(b"REDIS0011")  # yesterday's copy failed
    assert back_up(production, redis, backups).returncode == 0
    environment = rclone_env(production, "redis-backup", bucket, backups) | {"KEEP": "3"}
    result = run_script(production, "redis-offsite.sh", **environment)
    assert result.returncode == 0, result.stderr
    kept = [key.rsplit("/", 1)[1] for key in bucket.keys(BUCKET, folder)]
    today = max(path.name for path in backups.glob("redis-*.rdb"))
    assert kept == ["redis-20261105T031700Z.rdb", "redis-20261106T031700Z.rdb", today]
    assert result.stdout.split("newest first:\n", 1)[1].split() == sorted(kept, reverse=True)


def test_seeded_a_missing_bucket_fails_the_offsite_copy(
    production: Rendered, redis: Redis, bucket: LocalS3, backups: Path
) -> None:
    """The job's key may not create buckets (RCLONE_S3_NO_CHECK_BUCKET): a missing bucket must fail the job, loudly."""
    assert back_up(production, redis, backups).returncode == 0
    environment = rclone_env(production, "redis-backup", bucket, backups)
    environment["OFFSITE"] = environment["OFFSITE"].replace(BUCKET, "no-such-bucket")
    result = run_script(production, "redis-offsite.sh", **environment)
    assert result.returncode != 0 and "NoSuchBucket" in result.stderr
    assert "no-such-bucket" not in {b["Name"] for b in bucket.client.list_buckets()["Buckets"]}


def test_fetch_from_an_empty_folder_refuses_and_writes_nothing(
    production: Rendered, bucket: LocalS3, backups: Path
) -> None:
    result = run_script(production, "redis-fetch.sh", **rclone_env(production, "redis-fetch", bucket, backups))
    assert result.returncode != 0 and "no backup in spaces:" in result.stderr
    assert list(backups.iterdir()) == []


# --- the upgrade to per-environment buckets: the runbook's rclone copy, run as written ------------------------------

UPGRADE_RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbooks" / "deploy.md"
#: The one backup bucket of the old layout (a folder per environment).
OLD_BUCKET = "hackathon-todo-backups"


def upgrade_commands() -> tuple[dict[str, str], list[list[str]]]:
    """The rclone settings the runbook's upgrade section exports and the `rclone` commands it runs, as a shell would
    read them."""
    section = UPGRADE_RUNBOOK.read_text().split("## Upgrade to per-environment buckets", 1)[1].split("\n## ", 1)[0]
    exported: dict[str, str] = {}
    commands = []
    for line in "\n".join(parse(section).code_blocks).replace("\\\n", " ").splitlines():
        words = shlex.split(line.strip(), comments=True)
        if words[:1] == ["export"] and any(word.startswith("RCLONE_") for word in words):
            # (a placeholder such as `<migration key>` is two words, the second without `=`)
            exported |= dict(word.split("=", 1) for word in words[1:] if "=" in word)
        elif words[:1] == ["rclone"]:
            commands.append(words)
    return exported, commands


def test_the_upgrade_runbook_sets_rclone_as_the_chart_does(production: Rendered) -> None:
    """The runbook's exports are the rclone settings of the chart's fetch job (remote `spaces`, provider, endpoint,
    ACL, no bucket creation), plus the key that the job reads from its Secret."""
    exported, commands = upgrade_commands()
    (container,) = cron_pod(production, "redis-fetch")["containers"]
    literal = {
        name: value
        for name, value in container_env(container).items()
        if name.startswith("RCLONE_") and isinstance(value, str)
    }
    assert len(literal) >= 6 and {name: exported.get(name) for name in literal} == literal
    keys = {"RCLONE_CONFIG_SPACES_ACCESS_KEY_ID", "RCLONE_CONFIG_SPACES_SECRET_ACCESS_KEY"}
    assert set(exported) == set(literal) | keys
    assert [command[:2] for command in commands] == [["rclone", "copy"], ["rclone", "copy"], ["rclone", "lsf"]]


def test_the_upgrade_runbooks_copy_puts_the_old_backups_where_the_fetch_job_reads(
    production: Rendered, bucket: LocalS3, backups: Path
) -> None:
    """The old layout's backups (one bucket, a folder per environment), copied with the runbook's own rclone lines and
    the chart's rclone settings, are what production's fetch job finds in production's bucket. Seeded: before the copy
    the fetch job finds nothing there."""
    staging_bucket = BUCKET.replace("-production", "-staging")
    for name in (OLD_BUCKET, staging_bucket):
        if name not in {b["Name"] for b in bucket.client.list_buckets()["Buckets"]}:
            bucket.client.create_bucket(Bucket=name)
    old = {f"redis/{env}/redis-2026112{day}T031700Z.rdb" for env in ("staging", "production") for day in (1, 2)}
    for key in old:
        bucket.client.put_object(Bucket=OLD_BUCKET, Key=key, Body=b"REDIS0011")
    fetch = rclone_env(production, "redis-fetch", bucket, backups)
    try:
        before = run_script(production, "redis-fetch.sh", **fetch)
        assert before.returncode != 0 and "no backup in spaces:" in before.stderr  # the seeded failure: not copied

        exported, commands = upgrade_commands()
        environment = {**os.environ, **exported, **{k: v for k, v in fetch.items() if k.startswith("RCLONE_")}}
        for command in commands:
            ran = subprocess.run(
                [str(backup_jobs.RCLONE_DIR / "rclone"), *command[1:]],
                env=environment,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert ran.returncode == 0, f"{shlex.join(command)}: {ran.stderr}"
        assert sorted(bucket.keys(BUCKET)) == sorted(key for key in old if "/production/" in key)
        assert sorted(bucket.keys(staging_bucket)) == sorted(key for key in old if "/staging/" in key)

        after = run_script(production, "redis-fetch.sh", **fetch)
        assert after.returncode == 0, after.stderr
        assert sorted(path.name for path in backups.iterdir()) == [
            "redis-20261121T031700Z.rdb",
            "redis-20261122T031700Z.rdb",
        ]
    finally:
        for name in (OLD_BUCKET, staging_bucket):
            for key in bucket.keys(name):
                bucket.client.delete_object(Bucket=name, Key=key)
