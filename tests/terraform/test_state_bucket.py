"""The state bucket check (`python3 dev.py state-bucket`), against an S3 server on 127.0.0.1: a bucket without
versions, a public one and a missing one are refused with one line each; `--enable` puts them right."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.local_s3 import S3_CREDENTIALS, LocalS3
from todo_infra.settings import StateSettings
from todo_infra.state_bucket import problems, run

ROOT = Path(__file__).resolve().parents[2]


def state(local_s3: LocalS3, bucket: str) -> StateSettings:
    return StateSettings(backend="s3", bucket=bucket, endpoint=local_s3.endpoint, key_prefix="hackathon-todo")


def test_an_unversioned_bucket_is_refused_then_enabled(local_s3: LocalS3, capsys: pytest.CaptureFixture[str]) -> None:
    local_s3.client.create_bucket(Bucket="unversioned-state")
    assert run(state(local_s3, "unversioned-state"), [], S3_CREDENTIALS) == 1
    assert capsys.readouterr().err.splitlines() == [
        "state bucket unversioned-state: versioning is never enabled, not Enabled: "
        "run `python3 dev.py state-bucket --enable`"
    ]
    assert run(state(local_s3, "unversioned-state"), ["--enable"], S3_CREDENTIALS) == 0
    out = capsys.readouterr().out
    assert "versioning Enabled" in out and "created" not in out
    assert local_s3.client.get_bucket_versioning(Bucket="unversioned-state")["Status"] == "Enabled"


def test_a_missing_bucket_is_named_and_created_private(local_s3: LocalS3, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(state(local_s3, "missing-state"), [], S3_CREDENTIALS) == 1
    assert "state bucket missing-state does not exist" in capsys.readouterr().err
    assert run(state(local_s3, "missing-state"), ["--enable"], S3_CREDENTIALS) == 0
    assert capsys.readouterr().out.splitlines() == [
        "created state bucket missing-state (private)",
        "state bucket missing-state: versioning Enabled",
        f"state bucket missing-state at {local_s3.endpoint}: exists, versioning Enabled, not public",
    ]


def test_a_public_bucket_is_refused(local_s3: LocalS3, capsys: pytest.CaptureFixture[str]) -> None:
    local_s3.client.create_bucket(Bucket="public-state", ACL="public-read")
    local_s3.client.put_bucket_versioning(Bucket="public-state", VersioningConfiguration={"Status": "Enabled"})
    assert run(state(local_s3, "public-state"), [], S3_CREDENTIALS) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("state bucket public-state: anyone may READ it: make it private")


def test_bad_input_is_one_line_and_exit_2(local_s3: LocalS3, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(state(local_s3, "any"), ["--enabel"], S3_CREDENTIALS) == 2
    assert run(state(local_s3, "any"), [], {}) == 2
    assert capsys.readouterr().err.splitlines() == [
        "main.py: usage: --state-bucket [--enable]; got --enabel",
        "main.py: invalid AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY='unset': expected the Spaces access key of the "
        "state bucket",
    ]


def test_main_checks_the_configured_bucket_and_skips_local_state() -> None:
    local = subprocess.run(
        [sys.executable, "main.py", "--state-bucket"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "TODO_STATE_BACKEND": "local"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (local.returncode, local.stdout) == (0, "state backend is local: no bucket to check\n")


class _AclDenied:
    """A key that may read the bucket's versioning but not its ACL (the bucket-limited Spaces keys may be such)."""

    def __init__(self, real: object) -> None:
        self._real = real

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    def get_bucket_acl(self, **_: object) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "GetBucketAcl")


def test_an_unreadable_acl_is_reported_not_fatal(local_s3: LocalS3, capsys: pytest.CaptureFixture[str]) -> None:
    local_s3.client.create_bucket(Bucket="limited-key-state")
    local_s3.client.put_bucket_versioning(Bucket="limited-key-state", VersioningConfiguration={"Status": "Enabled"})
    assert problems(_AclDenied(local_s3.client), "limited-key-state") == []
    assert "ACL is not readable with this key (AccessDenied); privacy not checked" in capsys.readouterr().out
