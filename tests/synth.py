"""Synthesize the app once per test session, in a subprocess, exactly as CI and operators do.

Two runs start together (2 cores): the embedded defaults, with every secret `TF_VAR_*` set to a canary,
and a variant with CI-style `TODO_*` overrides (local state, DNS on DigitalOcean, HA control plane, the ingress-nginx
edge, Promtail as the log shipper).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight.synth import Synthesized, load_synthesized, start_synth
from todo_infra.app_secrets import (
    APP_SECRET_KEYS,
    BACKUP_SPACES_VARIABLES,
    DAPR_APP_TOKEN_SEED_VARIABLE,
    variable_name,
)

CANARY = "canary-7d1e0f-must-never-be-written"
#: Every secret input the stacks take. The tests fail if a stack declares a sensitive variable not listed here.
SECRET_VARIABLES = (
    *(variable_name(key) for key in APP_SECRET_KEYS),
    "ghcr_username",
    "ghcr_token",
    *BACKUP_SPACES_VARIABLES.values(),
    DAPR_APP_TOKEN_SEED_VARIABLE,
    "grafana_admin_password",
    "kube_token",
    "alertmanager_slack_webhook_url",
)
CREDENTIAL_ENV = ("DIGITALOCEAN_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
VARIANT_OVERRIDES = {
    "TODO_STATE_BACKEND": "local",
    "TODO_DNS_ON_DIGITALOCEAN": "true",
    "TODO_HA_CONTROL_PLANE": "true",
    "TODO_DOMAIN": "todo-demo.dev",
    "TODO_REGION": "nyc3",
    "TODO_GHCR_OWNER": "acme-apps",
    "TODO_BACKUP_BUCKET": "acme-todo-backups",
    "TODO_CONTEXT_JSON": json.dumps(
        {"control_plane_allowed_addresses": ["203.0.113.0/24", "198.51.100.7/32"], "log_shipper": "promtail"}
    ),
    # The retired edge, still selectable: the variant synthesizes, renders and checks it.
    "TODO_EDGE": "ingress-nginx",
}


def run_main(outdir: Path, overrides: Mapping[str, str]) -> subprocess.Popen[str]:
    return start_synth(outdir, overrides)


@dataclass(frozen=True)
class Synth(Synthesized):
    """A synthesized app plus what main.py printed while making it."""

    stdout: str = ""
    stderr: str = ""


def finish(process: subprocess.Popen[str], outdir: Path) -> Synth:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, f"synth failed ({process.returncode}):\n{stderr[-3000:]}"
    return loaded(outdir, stdout, stderr)


def loaded(outdir: Path, stdout: str, stderr: str) -> Synth:
    """A synthesized folder read back, with what main.py printed while making it."""
    found = load_synthesized(outdir)
    return Synth(outdir=found.outdir, manifest=found.manifest, stacks=found.stacks, stdout=stdout, stderr=stderr)


def strings(value: Any) -> Iterator[str]:
    """Every string (keys included) inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
