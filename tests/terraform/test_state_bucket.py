"""The bucket check (`python3 dev.py state-bucket [STACK ...]`), against S3 servers on 127.0.0.1: a bucket without
versions, a public one and a missing one are refused with one line each and named; `--enable` puts them right.
Without stacks it checks every bucket the configuration names (the shared state bucket, each environment's state
bucket and backup bucket, each at its endpoint); with stacks only their state buckets, so a key limited to staging's
state bucket is enough for staging's deploy."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from main import embedded_context
from tests.local_s3 import S3_CREDENTIALS, LocalS3, running_local_s3
from todo_infra import state_bucket
from todo_infra.settings import Settings, load_settings
from todo_infra.state_bucket import BACKUP_KIND, BACKUP_LIFECYCLE, lifecycle_rules, problems, run

ROOT = Path(__file__).resolve().parents[2]
REAL_CLIENT = state_bucket.client
VERSIONED = {"Status": "Enabled"}


def settings(
    state_s3: LocalS3, state_bucket: str, *, backups: LocalS3 | None = None, backup_bucket: str = ""
) -> Settings:
    """The embedded configuration with these base names, its endpoints pointed at the local servers."""
    overrides = {"TODO_STATE_BUCKET": state_bucket}
    if backup_bucket:
        overrides["TODO_BACKUP_BUCKET"] = backup_bucket
    loaded = load_settings(embedded_context(), overrides)
    return dataclasses.replace(
        loaded,
        state=dataclasses.replace(loaded.state, endpoint=state_s3.endpoint),
        backup=dataclasses.replace(loaded.backup, endpoint=(backups or state_s3).endpoint),
    )


def make(s3: LocalS3, *buckets: str, versioned: bool = True, lifecycle: bool = False) -> None:
    for bucket in buckets:
        s3.client.create_bucket(Bucket=bucket)
        if versioned:
            s3.client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=VERSIONED)
        if lifecycle:
            s3.client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=BACKUP_LIFECYCLE)


@pytest.fixture(scope="module")
def backup_s3() -> Iterator[LocalS3]:
    """A second server: the backup buckets' endpoint (another Spaces region than the state's). moto's servers in one
    process share their buckets, so which endpoint a bucket was asked at is recorded (`_Recorded`), not inferred."""
    with running_local_s3() as s3:
        yield s3


# --- one bucket: the findings -------------------------------------------------------------------------------------


def test_an_unversioned_bucket_is_refused_then_enabled(local_s3: LocalS3, capsys: pytest.CaptureFixture[str]) -> None:
    local_s3.client.create_bucket(Bucket="unversioned-state")
    assert run(settings(local_s3, "unversioned-state"), ["cluster"], S3_CREDENTIALS) == 1
    assert capsys.readouterr().err.splitlines() == [
        "state bucket unversioned-state: versioning is never enabled, not Enabled: "
        "run `python3 dev.py state-bucket --enable`"
    ]
    assert run(settings(local_s3, "unversioned-state"), ["--enable", "cluster"], S3_CREDENTIALS) == 0
    out = capsys.readouterr().out
    assert "versioning Enabled" in out and "created" not in out
    assert local_s3.client.get_bucket_versioning(Bucket="unversioned-state")["Status"] == "Enabled"


def test_a_missing_bucket_is_named_and_created_private(local_s3: LocalS3, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(settings(local_s3, "missing-state"), ["platform"], S3_CREDENTIALS) == 1
    assert "state bucket missing-state does not exist" in capsys.readouterr().err
    assert run(settings(local_s3, "missing-state"), ["platform", "--enable"], S3_CREDENTIALS) == 0
    assert capsys.readouterr().out.splitlines() == [
        "created state bucket missing-state (private)",
        "state bucket missing-state: versioning Enabled",
        f"state bucket missing-state at {local_s3.endpoint}: exists, versioning Enabled, not public",
    ]


def test_a_public_bucket_is_refused(local_s3: LocalS3, capsys: pytest.CaptureFixture[str]) -> None:
    local_s3.client.create_bucket(Bucket="public-state", ACL="public-read")
    local_s3.client.put_bucket_versioning(Bucket="public-state", VersioningConfiguration=VERSIONED)
    assert run(settings(local_s3, "public-state"), ["cluster"], S3_CREDENTIALS) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("state bucket public-state: anyone may READ it: make it private")


def test_bad_input_is_one_line_and_exit_2(local_s3: LocalS3, capsys: pytest.CaptureFixture[str]) -> None:
    configured = settings(local_s3, "any-state")
    assert run(configured, ["--enabel"], S3_CREDENTIALS) == 2
    assert run(configured, ["app-qa"], S3_CREDENTIALS) == 2
    assert run(configured, ["cluster"], {}) == 2
    assert capsys.readouterr().err.splitlines() == [
        "main.py: usage: --state-bucket [--enable] [STACK ...]; got --enabel",
        "main.py: unknown stack 'app-qa': expected one of cluster, platform, app-staging, app-production",
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
    make(local_s3, "limited-key-state")
    assert problems(_AclDenied(local_s3.client), "limited-key-state") == []
    assert "ACL is not readable with this key (AccessDenied); privacy not checked" in capsys.readouterr().out


# --- every bucket of the configuration ------------------------------------------------------------------------------


class _Recorded:
    """A client that notes (endpoint, bucket) of every request."""

    def __init__(self, endpoint: str, environ: Mapping[str, str], log: list[tuple[str, str]]) -> None:
        self._real, self._endpoint, self._log = REAL_CLIENT(endpoint, environ), endpoint, log

    def __getattr__(self, name: str) -> object:
        method = getattr(self._real, name)

        def call(**kwargs: object) -> object:
            self._log.append((self._endpoint, str(kwargs.get("Bucket"))))
            return method(**kwargs)

        return call


def test_every_configured_bucket_is_checked_at_its_endpoint_and_each_unfit_one_is_named(
    local_s3: LocalS3, backup_s3: LocalS3, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seeded: production's state bucket is missing and staging's backup bucket keeps no versions; everything else
    is fit. Both are named, nothing else is; `--enable` then makes all five fit."""
    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(state_bucket, "client", lambda endpoint, environ: _Recorded(endpoint, environ, asked))
    make(local_s3, "fleet-state", "fleet-state-staging")
    make(backup_s3, "fleet-backups-production", lifecycle=True)
    make(backup_s3, "fleet-backups-staging", versioned=False)
    configured = settings(local_s3, "fleet-state", backups=backup_s3, backup_bucket="fleet-backups")
    assert run(configured, [], S3_CREDENTIALS) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "state bucket fleet-state-production does not exist: run `python3 dev.py state-bucket --enable`",
        "backup bucket fleet-backups-staging: versioning is never enabled, not Enabled: "
        "run `python3 dev.py state-bucket --enable`",
        "backup bucket fleet-backups-staging: has no lifecycle rule: backups are never expired by upload time: "
        "run `python3 dev.py state-bucket --enable`",
    ]
    assert captured.out.splitlines() == [
        f"state bucket fleet-state at {local_s3.endpoint}: exists, versioning Enabled, not public",
        f"state bucket fleet-state-staging at {local_s3.endpoint}: exists, versioning Enabled, not public",
        f"backup bucket fleet-backups-production at {backup_s3.endpoint}: exists, versioning Enabled, not public, "
        "lifecycle rules set",
    ]
    assert run(configured, ["--enable"], S3_CREDENTIALS) == 0
    assert "created state bucket fleet-state-production (private)" in capsys.readouterr().out
    for s3, bucket in (
        (local_s3, "fleet-state"),
        (local_s3, "fleet-state-staging"),
        (local_s3, "fleet-state-production"),
        (backup_s3, "fleet-backups-staging"),
        (backup_s3, "fleet-backups-production"),
    ):
        assert s3.client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled", bucket
        assert bool(lifecycle_rules(s3.client, bucket)) == ("backups" in bucket), bucket
    assert {endpoint for endpoint, bucket in asked if "backups" in bucket} == {backup_s3.endpoint}
    assert {endpoint for endpoint, bucket in asked if "backups" not in bucket} == {local_s3.endpoint}


class _LimitedKey:
    """A Spaces key limited to some buckets: any request about another bucket is refused, as Spaces would."""

    def __init__(self, real: object, *buckets: str) -> None:
        self._real, self._buckets = real, buckets
        self.asked: list[str] = []

    def __getattr__(self, name: str) -> object:
        method = getattr(self._real, name)

        def call(**kwargs: object) -> object:
            bucket = str(kwargs.get("Bucket"))
            self.asked.append(bucket)
            if bucket not in self._buckets:
                raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, name)
            return method(**kwargs)

        return call


def test_a_stack_checks_only_its_own_state_bucket_with_a_key_limited_to_it(
    local_s3: LocalS3, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What staging's deploy runs (`state-bucket app-staging`) with staging's key: the shared, production's and the
    backup buckets are neither asked about nor needed (none of them exists here)."""
    make(local_s3, "solo-state-staging")
    key = _LimitedKey(local_s3.client, "solo-state-staging")
    monkeypatch.setattr(state_bucket, "client", lambda endpoint, environ: key)
    assert run(settings(local_s3, "solo-state"), ["app-staging"], S3_CREDENTIALS) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"state bucket solo-state-staging at {local_s3.endpoint}: exists, versioning Enabled, not public"
    ]
    assert set(key.asked) == {"solo-state-staging"}


def test_the_shared_stacks_check_the_shared_bucket_once_and_a_wrong_key_is_refused(
    local_s3: LocalS3, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seeded: staging's key used for the shared stacks' check is refused, naming the bucket."""
    make(local_s3, "duo-state")
    assert run(settings(local_s3, "duo-state"), ["cluster", "platform"], S3_CREDENTIALS) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    monkeypatch.setattr(state_bucket, "client", lambda endpoint, environ: _LimitedKey(local_s3.client, "x-staging"))
    assert run(settings(local_s3, "duo-state"), ["platform"], S3_CREDENTIALS) == 1
    assert capsys.readouterr().err.splitlines() == [
        "state bucket duo-state: cannot read its versioning (AccessDenied); check the access key"
    ]


# --- a backup bucket's lifecycle rules: what it keeps is the bucket's decision, by upload time ----------------------


def test_the_backup_lifecycle_expires_by_upload_time_and_keeps_older_versions() -> None:
    """What every backup bucket must carry, stated: one enabled rule for the whole bucket; current versions expire 14
    days after their upload, the versions an expiry, a delete or an overwrite leaves behind 30 days later."""
    (rule,) = BACKUP_LIFECYCLE["Rules"]
    assert rule["Status"] == "Enabled" and rule["Prefix"] == "" and "Filter" not in rule
    assert rule["Expiration"] == {"Days": 14}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


@pytest.mark.parametrize(
    ("rules", "finding"),
    [
        pytest.param(None, "has no lifecycle rule: backups are never expired by upload time", id="none"),
        pytest.param(
            [{"ID": "short", "Prefix": "", "Status": "Enabled", "Expiration": {"Days": 1}}],
            "lifecycle rules {'Expiration': {'Days': 1}} are not the backups'",
            id="expires after a day, old versions never",
        ),
        pytest.param(
            [
                BACKUP_LIFECYCLE["Rules"][0],
                {
                    "ID": "extra",
                    "Prefix": "redis/",
                    "Status": "Enabled",
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                },
            ],
            "are not the backups'",
            id="a second rule that deletes old versions sooner",
        ),
        pytest.param(
            [{**BACKUP_LIFECYCLE["Rules"][0], "Prefix": "redis/staging/"}],
            "are not the backups'",
            id="only part of the bucket",
        ),
    ],
)
def test_a_backup_bucket_whose_lifecycle_is_not_the_backups_is_refused_then_set(
    local_s3: LocalS3, capsys: pytest.CaptureFixture[str], rules: list[dict[str, object]] | None, finding: str
) -> None:
    """Seeded: no rules at all (a bucket where only the job's names decided, as before), and rules that would delete
    sooner or cover only part of the bucket. Each is named in one line; `--enable` puts the backups' rule in place."""
    bucket = f"lc-{len(local_s3.client.list_buckets()['Buckets'])}-backups"
    make(local_s3, bucket)
    if rules:
        local_s3.client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    (line,) = problems(local_s3.client, bucket, BACKUP_KIND)
    assert line.startswith(f"backup bucket {bucket}: ") and finding in line
    assert line.endswith(": run `python3 dev.py state-bucket --enable`")
    assert problems(local_s3.client, bucket) == []  # a state bucket needs no lifecycle rules
    assert "lifecycle rules set" in "\n".join(state_bucket.enable(local_s3.client, bucket, BACKUP_KIND))
    assert problems(local_s3.client, bucket, BACKUP_KIND) == []
    assert lifecycle_rules(local_s3.client, bucket) == BACKUP_LIFECYCLE["Rules"]
