"""Redis backups and their restore (docs/architecture.md, "Data protection"), rendered, then run for real: the
scripts the chart ships are executed by /bin/sh against the pinned redis-server, redis-cli and redis-check-rdb (the
pinned redis-server under that name, as in the image; 8.6.3, the chart's image's major.minor: toolchain/versions.json).
Redis runs with the exact persistence flags the chart gives it. The scenarios of a planted or poisoned backup each run
main's former behaviour too (seeded: it deletes or accepts what the scripts now refuse)."""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

import toolchain
from preflight import backup_jobs
from preflight.admission import selects
from preflight.backup_jobs import cron_pod
from preflight.backup_jobs import environment as container_env
from tests.chart.chart_support import Rendered, app_container, fullname, load_values, release_values, render
from tests.docs.runbook_checks import parse
from tests.local_s3 import LocalS3, running_local_s3
from todo_infra.app_secrets import BACKUP_SPACES_SECRET_NAME
from todo_infra.contracts import BASE_VALUES

CHART = Path(__file__).resolve().parents[2] / "chart"
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
    # accepted only with at least half the keys of the previous accepted backup; names up to 5 minutes ahead trusted
    assert environment["MIN_KEYS_FRACTION"] == "0.5" and environment["SKEW_SECONDS"] == "300"


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
    # the bucket's lifecycle rules decide what it keeps: the copy is given no count to prune to
    assert "KEEP" not in environment and environment["RCLONE_CONFIG"] == ""
    assert environment["SKEW_SECONDS"] == "300"
    for variable, key in (
        ("RCLONE_CONFIG_SPACES_ACCESS_KEY_ID", "ACCESS_KEY_ID"),
        ("RCLONE_CONFIG_SPACES_SECRET_ACCESS_KEY", "SECRET_ACCESS_KEY"),
    ):
        assert environment[variable] == {"secretKeyRef": {"name": BACKUP_SPACES_SECRET_NAME, "key": key}}


#: The job fails at once when the snapshot is refused (redis-backup.sh exits 3): another pod would take it again.
REFUSED_RULE = {"action": "FailJob", "onExitCodes": {"containerName": "redis-backup", "operator": "In", "values": [3]}}


def test_a_failed_offsite_copy_or_a_refused_backup_fails_the_job_at_once(cloud: Rendered) -> None:
    """A retried pod would run the snapshot again; a refused snapshot or a failed copy therefore fails the job at once
    (a snapshot that failed otherwise — Redis unreachable — is still retried, backoffLimit 2)."""
    job = cloud.get("CronJob", fullname("redis-backup"))["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 2
    assert job["podFailurePolicy"]["rules"] == [
        REFUSED_RULE,
        {"action": "FailJob", "onExitCodes": {"containerName": "redis-offsite", "operator": "NotIn", "values": [0]}},
    ]
    for name in ("redis-fetch", "redis-restore"):
        assert "podFailurePolicy" not in cloud.get("CronJob", fullname(name))["spec"]["jobTemplate"]["spec"]


def test_restore_is_a_suspended_job_template_that_mounts_both_volumes(cloud: Rendered) -> None:
    restore = cloud.get("CronJob", fullname("redis-restore"))
    assert restore["spec"]["suspend"] is True
    spec = cron_pod(cloud, "redis-restore")
    claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {fullname("redis"), fullname("redis-backup")}
    assert "REDISCLI_AUTH" not in {e["name"] for e in spec["containers"][0]["env"]}
    assert "RESTORE_FROM" not in container_env(spec["containers"][0])  # no default: the operator names the backup
    assert "initContainers" not in spec


def exclusion_problems(restore: dict[str, Any], redis: dict[str, Any], claim: dict[str, Any]) -> list[str]:
    """Why the restore pod could run beside a Redis pod on Redis' volume: the restore pod must refuse, by a required
    anti-affinity term over kubernetes.io/hostname, every node that runs a pod with Redis' labels, and Redis' claim must
    be ReadWriteOnce (a block volume attached to one node at a time)."""
    labels = redis["metadata"]["labels"]
    terms = ((restore["spec"].get("affinity") or {}).get("podAntiAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution", []
    )
    found = []
    if not any(t["topologyKey"] == "kubernetes.io/hostname" and selects(t["labelSelector"], labels) for t in terms):
        found.append("the restore pod may be placed on the node of a running Redis pod")
    if claim["spec"]["accessModes"] != ["ReadWriteOnce"]:
        found.append(f"Redis' volume is {claim['spec']['accessModes']}: another node may mount it")
    return found


def test_the_restore_pod_never_runs_beside_a_running_redis(cloud: Rendered) -> None:
    """The restore pod has no API access and no network; what keeps it from rewriting /data under a running Redis is
    the scheduler and the volume: it may not share a node with a Redis pod, and Redis' volume attaches to one node.
    Seeded: the restore pod as main rendered it (no affinity) may."""
    restore = cloud.get("CronJob", fullname("redis-restore"))["spec"]["jobTemplate"]["spec"]["template"]
    redis = cloud.get("Deployment", fullname("redis"))["spec"]["template"]
    claim = cloud.get("PersistentVolumeClaim", fullname("redis"))
    assert exclusion_problems(restore, redis, claim) == []
    # the backup and fetch pods never mount Redis' volume and need no such rule
    for job in ("redis-backup", "redis-fetch"):
        assert "affinity" not in cron_pod(cloud, job), job
    main = {**restore, "spec": {k: v for k, v in restore["spec"].items() if k != "affinity"}}
    assert exclusion_problems(main, redis, claim) == [
        "the restore pod may be placed on the node of a running Redis pod"
    ]


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
    job = base.get("CronJob", fullname("redis-backup"))["spec"]["jobTemplate"]["spec"]
    assert job["podFailurePolicy"]["rules"] == [REFUSED_RULE]
    assert BACKUP_SPACES_SECRET_NAME not in str(base.manifests)
    assert "ipBlock" not in str(base.get("NetworkPolicy", fullname("redis-backup")))
    scripts = base.get("ConfigMap", f"{fullname('redis-backup')}-scripts")["data"]
    assert set(scripts) == {"redis-backup.sh", "redis-restore.sh"}


def test_every_script_starts_with_the_one_rule_for_backup_names(production: Rendered) -> None:
    names = (CHART / "files" / "redis-backup-names.sh").read_text()
    scripts = production.get("ConfigMap", f"{fullname('redis-backup')}-scripts")["data"]
    assert set(scripts) == {"redis-backup.sh", "redis-restore.sh", "redis-offsite.sh", "redis-fetch.sh"}
    for script, text in scripts.items():
        assert text.startswith(names) and text.endswith((CHART / "files" / script).read_text()), script


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("minKeysFraction", 1.5),
        ("minKeysFraction", -0.1),
        ("minKeysFraction", "0.5"),
        ("clockSkewSeconds", -1),
        ("clockSkewSeconds", 7200),
        ("clockSkewSeconds", 1.5),
    ],
)
def test_the_schema_refuses_a_floor_or_a_skew_out_of_range(chart: helm.Chart, setting: str, value: object) -> None:
    """The floor is a fraction of the previous key count (0 turns it off), the skew whole seconds up to an hour."""
    with pytest.raises(helm.HelmValuesError, match=setting):
        chart.validate_schema({"redis": {"backup": {setting: value}}})
    for fine in ({"minKeysFraction": 0}, {"minKeysFraction": 1}, {"clockSkewSeconds": 0}):
        chart.validate_schema({"redis": {"backup": fine}})


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


#: The tools the Redis image gives the scripts (redis-cli, redis-check-rdb), in a folder made once per run.
_TOOLS: list[Path] = []


def redis_tools() -> list[Path]:
    if not _TOOLS:
        folder = Path(tempfile.mkdtemp(prefix="redis-tools-"))
        atexit.register(shutil.rmtree, folder, True)
        _TOOLS.extend(backup_jobs.redis_tools(folder))
    return _TOOLS


def run_script(env: Rendered, script: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """A script from the rendered ConfigMap, run by /bin/sh with redis-cli, redis-check-rdb and rclone first on PATH."""
    return run_with(env, script, None, variables)


def run_with(
    env: Rendered, script: str, first: Path | None, variables: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """run_script, with `first` before the tools on PATH: a stand-in for one of those commands."""
    tools = [first] if first else []
    return backup_jobs.run_script(env, script, [*tools, *redis_tools()], variables, timeout=60)


def literal_env(env: Rendered, job: str, container: str) -> dict[str, str]:
    """The literal environment the chart gives `container` of `job` (values read from Secrets left out)."""
    spec = cron_pod(env, job)
    (found,) = [c for c in [*spec.get("initContainers", []), *spec["containers"]] if c["name"] == container]
    return {name: value for name, value in container_env(found).items() if isinstance(value, str)}


def back_up(
    env: Rendered, redis: Redis, backups: Path, *, first: Path | None = None, **overrides: str
) -> subprocess.CompletedProcess[str]:
    """The backup CronJob's script against `redis`, with the environment the chart gives it (KEEP, the key floor, the
    clock skew), only Redis' address and the folder replaced."""
    variables = literal_env(env, "redis-backup", "redis-backup")
    variables |= {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis.port), "BACKUP_DIR": str(backups)}
    return run_with(env, "redis-backup.sh", first, variables | overrides)


def restore(
    env: Rendered, data: Path, backups: Path, *, first: Path | None = None, **variables: str
) -> subprocess.CompletedProcess[str]:
    """The restore job's script, with the environment the chart gives it, only the folders replaced."""
    environment = literal_env(env, "redis-restore", "redis-restore")
    environment |= {"DATA_DIR": str(data), "BACKUP_DIR": str(backups)}
    return run_with(env, "redis-restore.sh", first, environment | variables)


def ledger(backups: Path) -> list[list[str]]:
    """The backup job's ledger: [name, keys, bytes, sha256] per accepted backup, oldest first."""
    path = backups / "accepted"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fill(redis: Redis, keys: int, prefix: str = "todo") -> None:
    redis.cli("eval", f"for i=1,{keys} do redis.call('set', '{prefix}:'..i, 'value-'..i) end", "0")


def stand_in(folder: Path, command: str, body: str) -> Path:
    """A folder holding a shell script named `command`: a stand-in that goes first on PATH."""
    folder.mkdir(exist_ok=True)
    script = folder / command
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return folder


#: main's retention on the volume before backups were accepted by a ledger: the newest KEEP *names* stayed.
MAIN_VOLUME_RETENTION = (
    'ls -1 "$BACKUP_DIR"/redis-*.rdb | sort -r | tail -n +$((KEEP + 1)) | while read -r old; do rm -f -- "$old"; done'
)
#: main's retention in the bucket: the newest KEEP names stayed, whoever wrote them.
MAIN_OFFSITE_RETENTION = """remote=$(rclone lsf --files-only --include 'redis-*.rdb' "$OFFSITE")
printf '%s\\n' "$remote" | sort -r | tail -n +$((KEEP + 1)) | while read -r old; do
  rclone deletefile "$OFFSITE/$old"
done
"""


def run_main(text: str, **variables: str) -> None:
    path = f"{backup_jobs.RCLONE_DIR}:{os.environ['PATH']}"
    ran = subprocess.run(
        ["/bin/sh", "-c", text], env={"PATH": path, **variables}, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr


def test_backup_then_restore_brings_the_data_back(production: Rendered, redis: Redis, backups: Path) -> None:
    fill(redis, 200)
    result = back_up(production, redis, backups)
    assert result.returncode == 0, result.stderr
    (backup,) = backups.glob("redis-*.rdb")
    assert re.fullmatch(r"redis-\d{8}T\d{6}Z\.rdb", backup.name)
    assert ledger(backups) == [[backup.name, "200", str(backup.stat().st_size), sha256(backup)]]
    assert f"backup accepted: {backup.name} (200 keys, {backup.stat().st_size} bytes; sha256 {sha256(backup)}; " in (
        result.stdout
    )
    # the accident: everything deleted, one write after it
    redis.cli("flushall")
    redis.cli("set", "after-the-accident", "1")
    redis.stop()

    restored = restore(production, redis.data, backups, RESTORE_FROM=backup.name)
    assert restored.returncode == 0, restored.stderr
    assert f"restored {backup.name} (200 keys, redis-check-rdb OK; sha256 {sha256(backup)})" in restored.stdout
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


def seed_accepted(backups: Path, snapshot: bytes, days: range, keys: int = 0) -> list[str]:
    """Older backups as the job accepted them: files and ledger lines, oldest first."""
    names = [f"redis-202611{day:02d}T031700Z.rdb" for day in days]
    for name in names:
        (backups / name).write_bytes(snapshot)
    with (backups / "accepted").open("a") as file:
        file.writelines(f"{name} {keys} {len(snapshot)}\n" for name in names)
    return names


def empty_snapshot(redis: Redis, folder: Path) -> bytes:
    target = folder / "empty.rdb"
    subprocess.run([str(toolchain.find("redis-cli")), "-p", str(redis.port), "--rdb", str(target)], check=True,
                   capture_output=True, timeout=30)  # fmt: skip
    data = target.read_bytes()
    target.unlink()
    return data


def test_backups_keep_the_newest_accepted_and_a_failed_one_leaves_no_file(
    production: Rendered, redis: Redis, backups: Path, tmp_path: Path
) -> None:
    """Retention follows the ledger (the order the job accepted backups in), not the names on the volume: a fetched
    copy that the job never accepted is left alone."""
    snapshot = empty_snapshot(redis, tmp_path)
    older = seed_accepted(backups, snapshot, range(1, 6))
    (backups / "redis-20261001T031700Z.rdb").write_bytes(snapshot)  # fetched from the bucket for a restore
    result = back_up(production, redis, backups, KEEP="3")
    assert result.returncode == 0, result.stderr
    today = [row[0] for row in ledger(backups)][-1]
    assert [row[0] for row in ledger(backups)] == [*older[3:], today]
    assert sorted(path.name for path in backups.glob("redis-*.rdb")) == sorted(
        ["redis-20261001T031700Z.rdb", *older[3:], today]
    )
    kept = result.stdout.split("newest first:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in kept] == [today, *reversed(older[3:])]
    kept = sorted(path.name for path in backups.iterdir())
    redis.stop()
    time.sleep(1)
    failed = back_up(production, redis, backups, KEEP="3")
    assert failed.returncode == 1 and "Could not connect to Redis" in failed.stderr
    assert sorted(path.name for path in backups.iterdir()) == kept


def test_a_backup_never_replaces_one_of_the_same_name(production: Rendered, redis: Redis, backups: Path) -> None:
    """Names are UTC seconds: a second backup within the same second (a retried pod) fails instead of replacing the
    accepted backup of that name. The names of this second and the next ones are taken beforehand. Seeded: without
    that check the script replaces one of them."""
    now = datetime.now(UTC)
    taken = [f"redis-{(now + timedelta(seconds=s)):%Y%m%dT%H%M%SZ}.rdb" for s in range(4)]
    for name in taken:
        (backups / name).write_bytes(b"accepted earlier")
    failed = back_up(production, redis, backups)
    assert failed.returncode == 1
    assert re.fullmatch(
        r"backup failed: redis-\d{8}T\d{6}Z\.rdb exists already \(two backups in one second\)", failed.stderr.strip()
    )
    assert {(backups / name).read_bytes() for name in taken} == {b"accepted earlier"} and ledger(backups) == []
    # seeded: the same script without that check replaces the earlier backup
    variables = literal_env(production, "redis-backup", "redis-backup")
    variables |= {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis.port), "BACKUP_DIR": str(backups)}
    command, environment = backup_jobs.script_command(production, "redis-backup.sh", redis_tools(), variables)
    (guard,) = [line for line in command[2].splitlines() if "exists already" in line]
    command[2] = command[2].replace(guard, "")
    assert subprocess.run(command, env=environment, capture_output=True, check=False, timeout=60).returncode == 0
    assert {(backups / name).read_bytes() for name in taken} != {b"accepted earlier"}


def test_a_future_dated_file_on_the_volume_never_deletes_the_new_backup(
    production: Rendered, redis: Redis, backups: Path, tmp_path: Path
) -> None:
    """Names planted on the volume — dated in the future, or not a backup's — are reported and ignored: the backup
    just taken stays, even with KEEP=1. Seeded: main's retention (the newest KEEP names) deletes the new backup and
    keeps the future-dated file."""
    fill(redis, 20)
    planted = backups / "redis-20991231T000000Z.rdb"
    planted.write_bytes(b"REDIS0011 planted")
    (backups / "redis-latest.rdb").write_bytes(b"REDIS0011 foreign")
    result = back_up(production, redis, backups, KEEP="1")
    assert result.returncode == 0, result.stderr
    ((today, keys, _, _),) = ledger(backups)
    assert keys == "20" and (backups / today).is_file() and planted.is_file()
    assert f"'{planted.name}' is dated in the future" in result.stderr
    assert "'redis-latest.rdb' is not a backup name" in result.stderr
    assert planted.name not in result.stdout.split("newest first:\n", 1)[1]
    # seeded: the same volume under main's retention
    (backups / "redis-latest.rdb").unlink()
    run_main(MAIN_VOLUME_RETENTION, BACKUP_DIR=str(backups), KEEP="1")
    assert sorted(path.name for path in backups.glob("redis-*.rdb")) == [planted.name]


def test_a_near_empty_snapshot_after_data_loss_is_refused_and_nothing_is_rotated_out(
    production: Rendered, redis: Redis, backups: Path
) -> None:
    """A silent loss of data: the next snapshot holds 3 keys of 200. It is refused (exit 3, one line naming the
    floor), deleted, and every accepted backup stays. Seeded: with the floor off (0, as the runbook does once after a
    deliberate mass deletion) the same snapshot is accepted and pushes the oldest out."""
    fill(redis, 200)
    assert back_up(production, redis, backups, KEEP="1").returncode == 0
    before = sorted(path.name for path in backups.iterdir())
    accepted = ledger(backups)
    redis.cli("flushall")
    fill(redis, 3)
    time.sleep(1)  # a new name (names are UTC seconds; a second backup in the same second fails)
    refused = back_up(production, redis, backups, KEEP="1")
    assert refused.returncode == 3
    line = refused.stderr.splitlines()[-1]  # after redis-cli's own progress lines
    assert re.fullmatch(
        rf"backup refused: redis-\d{{8}}T\d{{6}}Z\.rdb holds 3 keys, fewer than 0\.5 of the 200 in {accepted[0][0]} "
        rf"\(redis\.backup\.minKeysFraction\); nothing rotated out, the newest accepted backup is still "
        rf"{accepted[0][0]}",
        line,
    )
    assert sorted(path.name for path in backups.iterdir()) == before and ledger(backups) == accepted
    time.sleep(1)  # a new name (names are UTC seconds)
    forced = back_up(production, redis, backups, KEEP="1", MIN_KEYS_FRACTION="0")
    assert forced.returncode == 0, forced.stderr
    assert [row[1] for row in ledger(backups)] == ["3"] and not (backups / accepted[0][0]).exists()


def test_a_corrupt_snapshot_fails_redis_check_rdb_and_is_refused(
    production: Rendered, redis: Redis, backups: Path, tmp_path: Path
) -> None:
    """A snapshot redis-check-rdb cannot read through is refused (exit 3) and leaves no file; the accepted backup
    stays. Seeded: with a redis-check-rdb that approves anything, the same bytes would have been accepted."""
    fill(redis, 5)
    assert back_up(production, redis, backups).returncode == 0
    accepted = ledger(backups)
    corrupt = 'while [ $# -gt 0 ]; do [ "$1" = --rdb ] && printf \'REDIS0010\\376\\000garbage\' > "$2"; shift; done'
    broken = stand_in(tmp_path / "broken", "redis-cli", corrupt)
    time.sleep(1)
    refused = back_up(production, redis, backups, first=broken)
    assert refused.returncode == 3
    assert "RDB ERROR DETECTED" in refused.stderr
    assert refused.stderr.splitlines()[-1].endswith(
        f"failed redis-check-rdb (above); nothing rotated out, the newest accepted backup is still {accepted[0][0]}"
    )
    assert ledger(backups) == accepted and not list(backups.glob(".redis-*"))
    approving = stand_in(broken, "redis-check-rdb", "echo '\\o/ RDB looks OK! \\o/'; echo '[info] 5 keys read'")
    time.sleep(1)
    assert back_up(production, redis, backups, first=approving).returncode == 0
    assert len(ledger(backups)) == 2


@pytest.mark.parametrize(
    ("restore_from", "refusal"),
    [
        pytest.param(None, "restore refused: RESTORE_FROM is unset: set it to the backup to restore, ", id="unset"),
        pytest.param(
            "../data/dump.rdb", "restore refused: RESTORE_FROM: '../data/dump.rdb' is not a backup name", id="path"
        ),
        pytest.param("redis-20991231T000000Z.rdb", "is dated in the future", id="future"),
        pytest.param(
            "redis-20261101T031700Z.rdb", "restore refused: no backup redis-20261101T031700Z.rdb in ", id="missing"
        ),
    ],
)
def test_restore_takes_a_backup_by_name_only_and_refuses_in_one_line(
    production: Rendered, backups: Path, tmp_path: Path, restore_from: str | None, refusal: str
) -> None:
    """There is no default backup: the newest name is not the newest good backup. Every refusal is one line that
    says how to list the backups, and touches nothing."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "dump.rdb").write_bytes(b"keep me")
    (backups / "redis-20991231T000000Z.rdb").write_bytes(b"REDIS0011 planted")
    result = (
        restore(production, data, backups, RESTORE_FROM=restore_from)
        if restore_from
        else restore(production, data, backups)
    )
    (line,) = result.stderr.splitlines()
    assert result.returncode == 2 and line.startswith("restore refused: ") and refusal in line
    assert line.endswith("list them with the fetch job's log or the backup job's "
                         '(docs/runbooks/rollback.md, "Restore Redis from a backup")')  # fmt: skip
    assert [path.name for path in data.iterdir()] == ["dump.rdb"]


def test_restore_refuses_a_backup_that_fails_redis_check_rdb(
    production: Rendered, backups: Path, tmp_path: Path
) -> None:
    """A file under a backup's name that redis-check-rdb cannot read is never made Redis' data. Seeded: with a
    redis-check-rdb that approves anything the same restore goes through."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "dump.rdb").write_bytes(b"keep me")
    (backups / "redis-20261101T031700Z.rdb").write_bytes(b"REDIS0010\xfe\x00garbage")
    result = restore(production, data, backups, RESTORE_FROM="redis-20261101T031700Z.rdb",
                     RESTORE_SHA256=sha256(backups / "redis-20261101T031700Z.rdb"))  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "restore refused: redis-20261101T031700Z.rdb fails redis-check-rdb (above); choose another backup"
    )
    assert [path.name for path in data.iterdir()] == ["dump.rdb"]
    approving = stand_in(tmp_path / "approving", "redis-check-rdb", "echo '\\o/ RDB looks OK! \\o/'")
    seeded = restore(production, data, backups, first=approving, RESTORE_FROM="redis-20261101T031700Z.rdb",
                     RESTORE_SHA256=sha256(backups / "redis-20261101T031700Z.rdb"))  # fmt: skip
    assert seeded.returncode == 0 and (data / "appendonlydir" / "appendonly.aof.1.base.rdb").is_file()


# --- the offsite copy, run with rclone against a local S3 server ----------------------------------------------

#: production's backup bucket (the tests below run production's release)
BUCKET = "hackathon-todo-backups-production"
FOLDER = "redis/production"


@pytest.fixture(scope="module")
def spaces() -> Iterator[LocalS3]:
    with running_local_s3(BUCKET) as s3:
        s3.client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield s3


@pytest.fixture
def bucket(spaces: LocalS3) -> LocalS3:
    """The backup bucket (versioned, as `state-bucket` requires), emptied before each test: every version."""
    listed = spaces.client.list_object_versions(Bucket=BUCKET)
    for item in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]:
        spaces.client.delete_object(Bucket=BUCKET, Key=item["Key"], VersionId=item["VersionId"])
    return spaces


def rclone_env(env: Rendered, job: str, s3: LocalS3, backups: Path) -> dict[str, str]:
    """The environment the chart gives the rclone container of `job` (remote type, provider, ACL, bucket check,
    OFFSITE), pointed at the local server."""
    variables = backup_jobs.rclone_environment(env, job, backup_dir=backups, endpoint=s3.endpoint, key=s3.key)
    assert variables["OFFSITE"].startswith(f"spaces:{BUCKET}/")
    return variables


def names_in(s3: LocalS3) -> list[str]:
    return [key.rsplit("/", 1)[1] for key in s3.keys(BUCKET, FOLDER)]


def test_the_tested_rclone_is_the_release_the_chart_runs() -> None:
    version = subprocess.run(
        [str(backup_jobs.RCLONE_DIR / "rclone"), "version"], capture_output=True, text=True, check=True
    )
    tag = OFFSITE_IMAGE.split(":", 2)[1].split("@")[0]
    assert version.stdout.splitlines()[0] == f"rclone v{tag}"


def test_the_tested_redis_check_rdb_is_the_tested_redis() -> None:
    (check,) = [tool / "redis-check-rdb" for tool in redis_tools() if (tool / "redis-check-rdb").exists()]
    version = subprocess.run([str(check), "--version"], capture_output=True, text=True, check=True).stdout
    server = toolchain.reported_version(toolchain.find("redis-server"), toolchain.tool("redis-server"))
    # Redis 8 prints "redis-check-rdb v=8.6.3 ..." (7.0 printed "redis-check-rdb 7.0.15").
    name, reported = version.split()[:2]
    assert (name, reported.removeprefix("v=")) == ("redis-check-rdb", server)


def test_a_backup_copied_offsite_survives_the_loss_of_both_volumes(
    production: Rendered, redis: Redis, bucket: LocalS3, backups: Path, tmp_path: Path
) -> None:
    fill(redis, 200)
    taken = back_up(production, redis, backups)
    assert taken.returncode == 0
    # the operator's record of the sum: the backup job's log line (kept by the log store and the alert history)
    recorded = re.search(r"^backup accepted: .*; sha256 ([0-9a-f]{64});", taken.stdout, re.M)[1]  # type: ignore[index]
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

    name = key.rsplit("/", 1)[1]
    fetch = rclone_env(production, "redis-fetch", bucket, fresh_backups)
    fetched = run_script(production, "redis-fetch.sh", **fetch, RESTORE_FROM=name)
    assert fetched.returncode == 0, fetched.stderr
    assert [path.name for path in fresh_backups.iterdir()] == [name]
    size = (fresh_backups / name).stat().st_size
    assert fetched.stdout.splitlines()[0] == f"fetched {name} from {fetch['OFFSITE']} (sha256 {recorded})"
    assert fetched.stdout.splitlines()[2:] == [f"{name} - {size}"]  # name, keys unknown (not accepted here), bytes
    # a fresh volume has no ledger: the restore takes the sum from the operator
    unsure = restore(production, redis.data, fresh_backups, RESTORE_FROM=name)
    assert unsure.returncode == 2 and unsure.stderr.startswith(
        f"restore refused: the ledger does not record the SHA-256 of {name}: set RESTORE_SHA256 to the sum in its "
        "backup job's log line"
    )
    assert list(redis.data.iterdir()) == []
    restored = restore(production, redis.data, fresh_backups, RESTORE_FROM=name, RESTORE_SHA256=recorded)
    assert restored.returncode == 0, restored.stderr
    redis.start()
    assert redis.cli("dbsize") == "200" and redis.cli("get", "todo:7") == "value-7"


def test_the_offsite_copy_catches_up_and_deletes_nothing(
    production: Rendered, redis: Redis, bucket: LocalS3, backups: Path, tmp_path: Path
) -> None:
    """Yesterday's copy failed: today's run sends both accepted backups; the older objects in the bucket stay (its
    lifecycle rules expire them, not the job); a file on the volume that the job never accepted is not sent."""
    snapshot = empty_snapshot(redis, tmp_path)
    for day in range(1, 6):  # five older backups already in the bucket
        bucket.client.put_object(Bucket=BUCKET, Key=f"{FOLDER}/redis-2026110{day}T031700Z.rdb", Body=snapshot)
    (yesterday,) = seed_accepted(backups, snapshot, range(6, 7))
    (backups / "redis-20261001T031700Z.rdb").write_bytes(snapshot)  # fetched once, never accepted here
    assert back_up(production, redis, backups).returncode == 0
    today = ledger(backups)[-1][0]
    result = run_script(production, "redis-offsite.sh", **rclone_env(production, "redis-backup", bucket, backups))
    assert result.returncode == 0, result.stderr
    older = [f"redis-2026110{day}T031700Z.rdb" for day in range(1, 6)]
    assert names_in(bucket) == [*older, yesterday, today]
    assert result.stdout.split("newest first:\n", 1)[1].split() == sorted(names_in(bucket), reverse=True)


def test_planted_future_dated_objects_in_the_bucket_delete_no_genuine_backup(
    production: Rendered, redis: Redis, bucket: LocalS3, backups: Path, tmp_path: Path
) -> None:
    """Seven objects named after the year 2099, written by any holder of the key, and one that is not a backup's
    name: the copy reports each, deletes nothing and succeeds with today's backup in the bucket; the fetch job leaves
    them in the bucket. Seeded: main's retention (the newest KEEP names in the bucket) deletes every genuine backup,
    today's included, and exits 0."""
    snapshot = empty_snapshot(redis, tmp_path)
    older = [f"redis-2026110{day}T031700Z.rdb" for day in range(1, 4)]
    for name in older:
        bucket.client.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{name}", Body=snapshot)
    planted = [f"redis-2099010{day}T000000Z.rdb" for day in range(1, 8)]
    for name in [*planted, "redis-latest.rdb"]:
        bucket.client.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{name}", Body=b"REDIS0011 planted")
    fill(redis, 10)
    assert back_up(production, redis, backups).returncode == 0
    today = ledger(backups)[-1][0]
    offsite = rclone_env(production, "redis-backup", bucket, backups)
    result = run_script(production, "redis-offsite.sh", **offsite)
    assert result.returncode == 0, result.stderr
    genuine = [*older, today]
    assert set(genuine) <= set(names_in(bucket)) and set(planted) <= set(names_in(bucket))
    reports = result.stderr.splitlines()
    future = [
        re.fullmatch(
            rf"ignored in spaces:{BUCKET}/{FOLDER}: '(?P<name>[^']+)' is dated in the future "
            r"\(after (?P<latest>\d{8}T\d{6}Z)\): not written by the backup job",
            line,
        )
        for line in reports
        if "dated in the future" in line
    ]
    assert [match["name"] for match in future if match] == planted
    # "the future" begins SKEW_SECONDS (300) after now
    latest = datetime.strptime(future[0]["latest"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)  # type: ignore[index]
    assert abs((latest - datetime.now(UTC)).total_seconds() - 300) < 60
    assert f"ignored in spaces:{BUCKET}/{FOLDER}: 'redis-latest.rdb' is not a backup name" in "\n".join(reports)
    assert result.stdout.split("newest first:\n", 1)[1].split() == sorted(genuine, reverse=True)
    # the fetch job brings back a genuine backup, and refuses a planted one
    fetched_to = tmp_path / "fetched"
    fetched_to.mkdir()
    fetch = rclone_env(production, "redis-fetch", bucket, fetched_to)
    fetched = run_script(production, "redis-fetch.sh", **fetch, RESTORE_FROM=today)
    assert fetched.returncode == 0, fetched.stderr
    refused = run_script(production, "redis-fetch.sh", **fetch, RESTORE_FROM=planted[0])
    assert refused.returncode == 2 and "is dated in the future" in refused.stderr
    assert sorted(path.name for path in fetched_to.iterdir()) == [today]
    # seeded: main's retention over the same bucket
    run_main(MAIN_OFFSITE_RETENTION, **offsite, KEEP="7")
    assert not set(genuine) & set(names_in(bucket))


def test_fetch_never_replaces_a_backup_on_the_volume(
    production: Rendered, redis: Redis, bucket: LocalS3, backups: Path, tmp_path: Path
) -> None:
    """A genuine backup overwritten in the bucket (the bucket keeps the old version) does not overwrite the copy on
    the volume: the fetch adds what the volume lacks and replaces nothing."""
    fill(redis, 10)
    assert back_up(production, redis, backups).returncode == 0
    today = ledger(backups)[-1][0]
    original = (backups / today).read_bytes()
    bucket.client.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{today}", Body=b"REDIS0011 overwritten")
    fetch = rclone_env(production, "redis-fetch", bucket, backups)
    fetched = run_script(production, "redis-fetch.sh", **fetch, RESTORE_FROM=today)
    assert fetched.returncode == 0, fetched.stderr
    assert (backups / today).read_bytes() == original
    assert (
        fetched.stdout.splitlines()[0]
        == f"{today} is on the volume already: not fetched (a file there is never replaced)"
    )
    assert fetched.stdout.splitlines()[2:] == [f"{today} 10 {len(original)}"]  # keys from the ledger


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
    bucket.client.put_object(Bucket=BUCKET, Key=f"{FOLDER}/redis-20991231T000000Z.rdb", Body=b"REDIS0011 planted")
    fetch = rclone_env(production, "redis-fetch", bucket, backups)
    result = run_script(production, "redis-fetch.sh", **fetch, RESTORE_FROM="redis-20261101T031700Z.rdb")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"fetch refused: no backup redis-20261101T031700Z.rdb in {fetch['OFFSITE']}; list the bucket with "
        f'`rclone lsl {fetch["OFFSITE"]}` (docs/runbooks/rollback.md, "Restore Redis from a backup")'
    )
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
    fetch = rclone_env(production, "redis-fetch", bucket, backups) | {"RESTORE_FROM": "redis-20261122T031700Z.rdb"}
    try:
        before = run_script(production, "redis-fetch.sh", **fetch)
        assert before.returncode == 2 and "fetch refused: no backup " in before.stderr  # the seeded failure: not copied

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
        assert sorted(path.name for path in backups.iterdir()) == ["redis-20261122T031700Z.rdb"]
    finally:
        for name in (OLD_BUCKET, staging_bucket):
            for key in bucket.keys(name):
                bucket.client.delete_object(Bucket=name, Key=key)


def test_the_restore_refusals_point_at_the_runbook_section_that_says_how_to_choose(production: Rendered) -> None:
    """The one-line refusals name docs/runbooks/rollback.md, "Restore Redis from a backup"; that section lists the
    backups the way the fetch job prints them and sets RESTORE_FROM on the restore job the chart renders."""
    rollback = CHART.parent / "docs" / "runbooks" / "rollback.md"
    section = rollback.read_text().split("### Restore Redis from a backup\n", 1)[1].split("\n### ", 1)[0]
    script = production.get("ConfigMap", f"{fullname('redis-backup')}-scripts")["data"]["redis-restore.sh"]
    assert 'docs/runbooks/rollback.md, \\"Restore Redis from a backup\\"' in script
    for job in ("redis-restore", "redis-fetch", "redis-backup"):
        assert f"--from=cronjob/{fullname(job)}" in section, job
    assert "- {name: RESTORE_FROM, value: redis-" in section and "`<name> <keys> <bytes>`" in section
    assert section.index("scale deployment todo-app-redis --replicas=0") < section.index("apply -f restore-now.yaml")


# --- poisoned backups, the ledger, one run at a time -----------------------------------------------------------------


def run_cut(
    env: Rendered, script: str, variables: dict[str, str], *cuts: tuple[str, str]
) -> subprocess.CompletedProcess[str]:
    """A rendered script with each (old, new) text replaced — the same script without one of its checks (seeded)."""
    command, environment = backup_jobs.script_command(env, script, redis_tools(), variables)
    for old, new in cuts:
        assert command[2].count(old) == 1, old
        command[2] = command[2].replace(old, new)
    return subprocess.run(command, env=environment, capture_output=True, text=True, check=False, timeout=60)


#: the check that a name's time is a real UTC time, cut out (seeded)
NO_REAL_TIME = ('if ! real_time "${candidate_time%.rdb}"; then', "if false; then")


def test_a_name_with_an_impossible_time_is_never_fetched_or_restored(
    production: Rendered, bucket: LocalS3, backups: Path, tmp_path: Path
) -> None:
    """redis-20261207T219999Z.rdb matches the name's pattern and is dated before now, but no clock shows 21:99:99: the
    backup job never wrote it. Seeded: without the round trip through `date` the fetch job brings it back."""
    impossible = "redis-20261207T219999Z.rdb"
    bucket.client.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{impossible}", Body=b"REDIS0011 planted")
    fetch = rclone_env(production, "redis-fetch", bucket, backups) | {"RESTORE_FROM": impossible}
    refused = run_script(production, "redis-fetch.sh", **fetch)
    (line,) = refused.stderr.splitlines()
    assert refused.returncode == 2 and line.startswith(
        f"fetch refused: RESTORE_FROM: '{impossible}' is not a real UTC time: not written by the backup job; "
    )
    assert list(backups.iterdir()) == []
    (backups / "redis-20260230T031700Z.rdb").write_bytes(b"REDIS0011 planted")  # 30 February
    data = tmp_path / "data"
    data.mkdir()
    restored = restore(production, data, backups, RESTORE_FROM="redis-20260230T031700Z.rdb")
    assert restored.returncode == 2 and "is not a real UTC time" in restored.stderr and list(data.iterdir()) == []
    (backups / "redis-20260230T031700Z.rdb").unlink()
    seeded = run_cut(production, "redis-fetch.sh", fetch, NO_REAL_TIME)
    assert seeded.returncode == 0, seeded.stderr
    assert [path.name for path in backups.iterdir()] == [impossible]


#: the restore's comparison with the SHA-256 the backup job recorded, cut out (seeded: main's restore)
NO_SUM = (
    ('if [ -z "$recorded" ] && [ -z "$given" ]; then', "if false; then"),
    ("for expected in $recorded $given; do", "for expected in; do"),
)


def test_a_backup_overwritten_in_the_bucket_is_not_restored(
    production: Rendered, redis: Redis, bucket: LocalS3, backups: Path, tmp_path: Path
) -> None:
    """A holder of the bucket's key replaces today's backup with another valid snapshot (it passes redis-check-rdb).
    On a fresh volume (no ledger) the restore takes the sum the backup job logged (RESTORE_SHA256) and refuses the
    replacement in one line; with the sum unset it refuses too. Seeded: main's restore makes the replacement Redis'
    data."""
    fill(redis, 50)
    taken = back_up(production, redis, backups)
    assert taken.returncode == 0, taken.stderr
    (name, _, _, recorded) = ledger(backups)[-1]
    assert (
        run_script(production, "redis-offsite.sh", **rclone_env(production, "redis-backup", bucket, backups)).returncode
        == 0
    )
    redis.cli("flushall")
    fill(redis, 3, "poison")
    poison = empty_snapshot(redis, tmp_path)  # a valid RDB, 3 other keys
    redis.cli("flushall")
    bucket.client.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{name}", Body=poison)
    redis.stop()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    fetched = run_script(
        production, "redis-fetch.sh", **rclone_env(production, "redis-fetch", bucket, fresh), RESTORE_FROM=name
    )
    assert fetched.returncode == 0, fetched.stderr
    actual = hashlib.sha256(poison).hexdigest()
    for given in (recorded, recorded.upper()):
        refused = restore(production, redis.data, fresh, RESTORE_FROM=name, RESTORE_SHA256=given)
        (line,) = refused.stderr.splitlines()
        assert refused.returncode == 2 and line == (
            f"restore refused: {name} has SHA-256 {actual}, not {recorded} (recorded by the backup job): it is not "
            "the backup the job accepted; choose another backup"
        )
    unset = restore(production, redis.data, fresh, RESTORE_FROM=name)
    assert unset.returncode == 2 and "set RESTORE_SHA256 to the sum in its backup job's log line" in unset.stderr
    bad = restore(production, redis.data, fresh, RESTORE_FROM=name, RESTORE_SHA256="abc")
    assert bad.stderr.strip() == "restore refused: RESTORE_SHA256 'abc' is not a SHA-256 (64 hex digits)"
    assert sorted(path.name for path in redis.data.iterdir()) == ["appendonlydir"]  # untouched
    # on the volume the ledger has the name: its sum decides, RESTORE_SHA256 not needed
    (backups / name).write_bytes(poison)
    onvolume = restore(production, redis.data, backups, RESTORE_FROM=name)
    assert onvolume.returncode == 2 and f"has SHA-256 {actual}, not {recorded}" in onvolume.stderr
    # seeded: main's restore takes the replacement
    environment = literal_env(production, "redis-restore", "redis-restore")
    environment |= {"DATA_DIR": str(redis.data), "BACKUP_DIR": str(fresh), "RESTORE_FROM": name}
    seeded = run_cut(production, "redis-restore.sh", environment, *NO_SUM)
    assert seeded.returncode == 0, seeded.stderr
    redis.start()
    assert redis.cli("dbsize") == "3" and redis.cli("exists", "poison:1") == "1"


def test_a_backup_the_previous_version_recorded_needs_its_sum_from_the_operator(
    production: Rendered, redis: Redis, backups: Path, tmp_path: Path
) -> None:
    """A ledger written by the previous version (`<name> <keys> <bytes>`) stays readable: the next backup is accepted
    and appended with its sum, and an old entry is restored only with RESTORE_SHA256."""
    snapshot = empty_snapshot(redis, tmp_path)
    (old,) = seed_accepted(backups, snapshot, range(1, 2))
    assert back_up(production, redis, backups).returncode == 0
    assert [len(row) for row in ledger(backups)] == [3, 4]
    redis.stop()
    unsure = restore(production, redis.data, backups, RESTORE_FROM=old)
    assert unsure.returncode == 2 and "does not record the SHA-256 of" in unsure.stderr
    sure = restore(
        production, redis.data, backups, RESTORE_FROM=old, RESTORE_SHA256=hashlib.sha256(snapshot).hexdigest()
    )
    assert sure.returncode == 0, sure.stderr


#: main's append to the ledger and main's choice of the newest (seeded)
MAIN_APPEND = 'printf "%s %s %s\\n" "$NAME" 5 88 >> "$BACKUP_DIR/accepted"'
MAIN_NEWEST = 'tail -n 1 "$BACKUP_DIR/accepted" | cut -d " " -f 1'


def test_a_ledger_cut_short_is_repaired_on_append_and_a_glued_one_fails_the_jobs(
    production: Rendered, redis: Redis, bucket: LocalS3, backups: Path, tmp_path: Path
) -> None:
    """The ledger's last line lost its newline (a full disk): the next backup starts its entry on a line of its own
    (the ledger is rewritten and renamed into place) and the copy sends that backup. A ledger with two entries glued
    onto one line fails the backup (exit 3) and the copy (exit 1), each in one line. Seeded: main's append glues the
    entry on, and main's copy then takes the older name for the newest and succeeds."""
    snapshot = empty_snapshot(redis, tmp_path)
    (older,) = seed_accepted(backups, snapshot, range(1, 2))
    cut = (backups / "accepted").read_text().rstrip("\n")
    (backups / "accepted").write_text(cut)
    assert back_up(production, redis, backups).returncode == 0
    rows = ledger(backups)
    assert [row[0] for row in rows] == [older, rows[1][0]] and len(rows[1]) == 4
    offsite = rclone_env(production, "redis-backup", bucket, backups)
    copied = run_script(production, "redis-offsite.sh", **offsite)
    assert copied.returncode == 0, copied.stderr
    assert names_in(bucket) == [older, rows[1][0]]
    # glued
    glued = f"{cut}redis-20261102T031700Z.rdb 0 {len(snapshot)}\n"
    (backups / "accepted").write_text(glued)
    before = sorted(path.name for path in backups.iterdir())
    failed = back_up(production, redis, backups)
    assert failed.returncode == 3
    (line,) = failed.stderr.splitlines()
    assert line.startswith(
        f"backup failed: the ledger {backups / 'accepted'} is malformed at line 1 ('{glued.strip()}'): "
    )
    assert sorted(path.name for path in backups.iterdir()) == before and (backups / "accepted").read_text() == glued
    refused = run_script(production, "redis-offsite.sh", **offsite)
    assert refused.returncode == 1 and refused.stderr.startswith("offsite copy failed: the ledger ")
    assert len(refused.stderr.splitlines()) == 1
    # seeded: main's append after a cut line, and main's copy over the glued ledger
    (backups / "accepted").write_text(cut)
    run_main(MAIN_APPEND, BACKUP_DIR=str(backups), NAME="redis-20261102T031700Z.rdb")
    assert (backups / "accepted").read_text() == f"{cut}redis-20261102T031700Z.rdb 5 88\n"  # glued on
    (backups / "accepted").write_text(glued)
    shell = {"BACKUP_DIR": str(backups), "PATH": os.environ["PATH"]}
    newest = subprocess.run(["/bin/sh", "-c", MAIN_NEWEST], env=shell, capture_output=True, text=True, check=True)
    assert newest.stdout.strip() == older  # not redis-20261102T031700Z.rdb
    seeded = run_cut(production, "redis-offsite.sh", offsite,
                     ('problem=$(valid_ledger "$ledger" 2>&1) ||', "true ||"))  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr


def test_the_copy_fails_when_an_accepted_backup_on_the_volume_is_not_in_the_bucket(
    production: Rendered, redis: Redis, bucket: LocalS3, backups: Path, tmp_path: Path
) -> None:
    """Every accepted backup still on the volume must be in the bucket after the copy, not only the newest. Seeded:
    checking the newest only, the copy succeeds."""
    snapshot = empty_snapshot(redis, tmp_path)
    (older,) = seed_accepted(backups, snapshot, range(1, 2))
    assert back_up(production, redis, backups).returncode == 0
    today = ledger(backups)[-1][0]
    # an rclone that copies only the last name it is given
    real = backup_jobs.RCLONE_DIR / "rclone"
    partial = stand_in(tmp_path / "partial", "rclone",
                       f'if [ "$1" = copy ]; then tail -n 1 | "{real}" "$@"; else exec "{real}" "$@"; fi')  # fmt: skip
    offsite = rclone_env(production, "redis-backup", bucket, backups)
    failed = run_with(production, "redis-offsite.sh", partial, offsite)
    assert failed.returncode == 1
    assert failed.stderr.strip() == f"offsite copy failed: {older} not in {offsite['OFFSITE']} after the copy"
    assert names_in(bucket) == [today]
    seeded = run_cut(production, "redis-offsite.sh", offsite, ('"$newest" "$held"', '"$newest" ""'))
    assert seeded.returncode == 0, seeded.stderr


def test_fetch_brings_back_only_the_backup_named(production: Rendered, bucket: LocalS3, backups: Path) -> None:
    """The volume holds a week of backups, the bucket two weeks and more: the fetch job copies the one backup named
    RESTORE_FROM, and without it refuses in one line that says how to list the bucket. Seeded: main's fetch copies
    every backup the volume lacks."""
    names = [f"redis-2026110{day}T031700Z.rdb" for day in range(1, 5)]
    for name in names:
        bucket.client.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{name}", Body=b"REDIS0011")
    fetch = rclone_env(production, "redis-fetch", bucket, backups)
    unset = run_script(production, "redis-fetch.sh", **fetch)
    (line,) = unset.stderr.splitlines()
    assert unset.returncode == 2 and line == (
        "fetch refused: RESTORE_FROM is unset: set it to the one backup to fetch, redis-<YYYYMMDDTHHMMSSZ>.rdb; list "
        f'the bucket with `rclone lsl {fetch["OFFSITE"]}` (docs/runbooks/rollback.md, "Restore Redis from a backup")'
    )
    assert list(backups.iterdir()) == []
    one = run_script(production, "redis-fetch.sh", **fetch, RESTORE_FROM=names[1])
    assert one.returncode == 0, one.stderr
    assert [path.name for path in backups.iterdir()] == [names[1]]
    run_main(MAIN_FETCH, **fetch)
    assert sorted(path.name for path in backups.iterdir()) == names


#: main's fetch: every backup in the bucket that the volume lacks (seeded)
MAIN_FETCH = (
    'rclone lsf --files-only "$OFFSITE" | rclone copy --ignore-existing --files-from-raw - "$OFFSITE" "$BACKUP_DIR"'
)


#: the backup's lock, cut out (seeded: main's backup)
NO_LOCK = ('if ! mkdir "$lock" 2>/dev/null; then', "if false; then")


def test_a_second_backup_run_while_one_runs_fails_and_touches_nothing(
    production: Rendered, redis: Redis, backups: Path
) -> None:
    """A backup run by hand while the scheduled one runs: the lock directory is held, so it fails at once (exit 3)
    in one line naming the holder, and the other run's snapshot in progress stays. A lock older than the job's
    deadline (900 s) is taken over. Seeded: without the lock the second run deletes the other's snapshot."""
    fill(redis, 5)
    other = backups / ".redis-20261207T031700Z.rdb.partial"
    other.write_bytes(b"REDIS0011 in progress")
    (backups / ".lock").mkdir()
    now = int(time.time())
    (backups / ".lock" / "holder").write_text(f"20261207T031700Z {now - 60} todo-app-redis-backup-1-abcde\n")
    held = back_up(production, redis, backups)
    (line,) = held.stderr.splitlines()
    assert held.returncode == 3 and line == (
        f"backup failed: another backup holds {backups / '.lock'} (20261207T031700Z {now - 60} "
        f"todo-app-redis-backup-1-abcde); wait for it, or remove {backups / '.lock'} if no backup job runs"
    )
    assert other.exists() and ledger(backups) == [] and (backups / ".lock" / "holder").exists()
    # stale: older than the deadline
    (backups / ".lock" / "holder").write_text(f"20261207T031700Z {now - 1000} gone\n")
    stale = back_up(production, redis, backups)
    assert stale.returncode == 0, stale.stderr
    assert "took over the stale lock" in stale.stderr and len(ledger(backups)) == 1
    assert not (backups / ".lock").exists()  # released
    # seeded: main's backup ignores the held lock and deletes the other run's snapshot
    (backups / ".lock").mkdir()
    (backups / ".lock" / "holder").write_text(f"20261207T031700Z {now} other\n")
    other.write_bytes(b"REDIS0011 in progress")
    time.sleep(1)
    variables = literal_env(production, "redis-backup", "redis-backup")
    variables |= {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis.port), "BACKUP_DIR": str(backups)}
    seeded = run_cut(production, "redis-backup.sh", variables, NO_LOCK)
    assert seeded.returncode == 0, seeded.stderr
    assert not other.exists()
