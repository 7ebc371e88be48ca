"""Revisions of the write-only secrets (todo_infra/secret_revisions.py): derived from the synthesized stacks, keyed,
changed by exactly the secrets they carry, and refused without a proper key — through dev.py as the workflows call it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.synth import Synth
from todo_infra.app_secrets import APP_SECRET_KEYS, variable_name
from todo_infra.secret_revisions import DigestKeyError, digest_key, revision, revision_inputs, revisions

ROOT = Path(__file__).resolve().parent.parent
KEY = {"SECRETS_DIGEST_KEY": "0123456789abcdef" * 4}


def every_secret(synth: Synth, value: str = "v") -> dict[str, str]:
    names = {n for stack in synth.stacks.values() for n, v in stack.get("variable", {}).items() if v.get("sensitive")}
    return {f"TF_VAR_{name}": f"{value}-{name}" for name in names}


def test_each_revision_carries_exactly_the_secrets_of_its_secret(synth: Synth) -> None:
    assert revision_inputs(synth.stacks["app-staging"]) == {
        "app_secrets_revision": tuple(sorted(variable_name(key) for key in APP_SECRET_KEYS)),
        "ghcr_pull_secret_revision": ("ghcr_token", "ghcr_username"),
        "redis_backup_spaces_revision": ("backup_spaces_access_key_id", "backup_spaces_secret_access_key"),
    }
    assert revision_inputs(synth.stacks["platform"]) == {
        "grafana_admin_revision": ("grafana_admin_password",),
        "alertmanager_config_revision": ("alertmanager_slack_webhook_url",),
    }
    assert revision_inputs(synth.stacks["cluster"]) == {}


def test_a_rotated_secret_changes_only_the_revision_of_its_secret(synth: Synth) -> None:
    stack = synth.stacks["app-production"]
    before = revisions(stack, every_secret(synth) | KEY)
    rotated = every_secret(synth) | KEY | {"TF_VAR_ghcr_token": "a-new-token"}
    after = revisions(stack, rotated)
    assert before["app_secrets_revision"] == after["app_secrets_revision"]
    assert before["ghcr_pull_secret_revision"] != after["ghcr_pull_secret_revision"]
    assert revisions(stack, every_secret(synth) | KEY) == before, "the same values give the same revisions"


def test_revisions_are_keyed_positive_and_fit_a_json_number() -> None:
    values = {"database_url": "postgres://u:p@h/db"}
    one, other = revision(b"k" * 32, values), revision(b"x" * 32, values)
    assert one != other, "without the key a revision says nothing about the values"
    assert 1 <= one < 2**52 and 1 <= other < 2**52
    assert revision(b"k" * 32, {"database_url": "postgres://u:q@h/db"}) != one


def test_a_secret_left_out_leaves_its_revision_out_and_defaults_count(synth: Synth) -> None:
    stack = synth.stacks["platform"]
    found = revisions(stack, KEY)  # no grafana password: that revision cannot be derived
    assert set(found) == {"alertmanager_config_revision"}, "the webhook's default (empty) is a value"


@pytest.mark.parametrize("key", ["", "short-key"])
def test_a_missing_or_short_digest_key_is_refused_in_one_line(key: str) -> None:
    with pytest.raises(DigestKeyError) as refused:
        digest_key({"SECRETS_DIGEST_KEY": key} if key else {})
    assert "SECRETS_DIGEST_KEY must be set to a random string of at least 32 characters" in str(refused.value)
    assert "\n" not in str(refused.value)


def dev(work: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TF_VAR_", "SECRETS_"))}
    return subprocess.run(
        [sys.executable, str(work / "dev.py"), *args],
        cwd=work,
        env=clean | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_dev_py_prints_the_revisions_the_workflows_export(synth: Synth, tmp_path: Path) -> None:
    """`dev.py revisions` reads the synthesized stacks beside it: here a copy of dev.py next to this session's."""
    shutil.copy(ROOT / "dev.py", tmp_path / "dev.py")
    for name in ("toolchain", "todo_infra"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "cdktf.out").symlink_to(synth.outdir)
    result = dev(tmp_path, "revisions", "platform", env=every_secret(synth) | KEY)
    assert result.returncode == 0, result.stderr
    expected = revisions(synth.stacks["platform"], every_secret(synth) | KEY)
    assert result.stdout.splitlines() == [f"export TF_VAR_{name}={value}" for name, value in sorted(expected.items())]
    refused = dev(tmp_path, "revisions", "platform", env=every_secret(synth))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("dev.py: SECRETS_DIGEST_KEY must be set")
