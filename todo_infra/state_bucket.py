"""The Spaces buckets, checked (and on request put right) before anything writes to them.

Buckets per configuration (todo_infra/settings.py derives every name from two settings): the state bucket of the
shared stacks (`state_bucket`), one state bucket per environment (`<state_bucket>-<env>`, for `app-<env>`) and one
Redis backup bucket per environment (`<backup_bucket>-<env>`). Older versions of a state object are the only way back
from a damaged or deleted one (docs/runbooks/rollback.md, "Terraform state"), and a deleted backup comes back only as
an older version; Spaces turns versioning on through the S3 API only
([Spaces versioning](https://docs.digitalocean.com/products/spaces/how-to/enable-versioning/)). A bucket cannot be a
resource of the stacks whose state it holds, so this module is what creates or verifies them.

A backup bucket also carries lifecycle rules (BACKUP_LIFECYCLE): what it keeps is decided by the bucket, by each
object's upload time, never by the names a writer chose — the backup job deletes nothing there, so objects planted
under backup-like names cannot push a genuine backup out, and a deleted or overwritten backup stays as an older
version for BACKUP_NONCURRENT_DAYS ([Spaces lifecycle rules](https://docs.digitalocean.com/products/spaces/how-to/configure-lifecycle-rules/);
the elements Spaces takes are those the DigitalOcean provider reads back:
[resource_spaces_bucket.go](https://github.com/digitalocean/terraform-provider-digitalocean/blob/main/digitalocean/spaces/resource_spaces_bucket.go)).

- `python3 dev.py state-bucket` checks every bucket the configuration names (exists, versioned, not public; a backup
  bucket's lifecycle rules too): an operator's check, with a key that reaches all of them;
- `python3 dev.py state-bucket <stack> [<stack> ...]` checks only the state buckets of those stacks: the deploy
  workflows' check, which staging's key (limited to staging's state bucket) can run;
- `--enable` with either form creates the missing buckets (private) and turns versioning on (and sets a backup
  bucket's lifecycle rules).

`python3 dev.py state-bucket` runs `main.py --state-bucket`, so the buckets checked are the ones the stacks are
configured with (cdktf.json, TODO_* overrides), after the same refusals of bad configuration.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from todo_infra.settings import ConfigError, Settings

#: Grantees that make a bucket readable by anyone (S3 ACL group URIs, which Spaces uses too).
PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
BACKUP_KIND = "backup bucket"
#: Days a backup stays the current object after its upload (daily backups: the newest 14), and days an older version
#: — one expired, deleted or overwritten — is kept after that before it is gone.
BACKUP_EXPIRY_DAYS = 14
BACKUP_NONCURRENT_DAYS = 30
#: The lifecycle configuration of every backup bucket (one rule for the whole bucket: it holds only backups), as S3's
#: PutBucketLifecycleConfiguration takes it; incomplete multipart uploads are cleared after a day.
BACKUP_LIFECYCLE: dict[str, Any] = {
    "Rules": [
        {
            "ID": "backups-by-upload-time",
            "Prefix": "",
            "Status": "Enabled",
            "Expiration": {"Days": BACKUP_EXPIRY_DAYS},
            "NoncurrentVersionExpiration": {"NoncurrentDays": BACKUP_NONCURRENT_DAYS},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    ]
}
USAGE = "--state-bucket [--enable] [STACK ...]"


@dataclass(frozen=True)
class Bucket:
    """One bucket to check: what it holds (the word the findings start with), its name and its S3 endpoint."""

    kind: str
    name: str
    endpoint: str


def configured_buckets(settings: Settings, stacks: list[str] | None = None) -> list[Bucket]:
    """The buckets to check: the state buckets of `stacks`, or (None) every bucket the configuration names."""
    state = settings.state
    chosen = settings.stack_ids if stacks is None else stacks
    names = dict.fromkeys(state.bucket_for(stack_id) for stack_id in chosen)
    found = [Bucket("state bucket", name, state.endpoint) for name in names]
    if stacks is None:
        found += [
            Bucket(BACKUP_KIND, settings.backup.bucket_for(env.name), settings.backup.endpoint)
            for env in settings.environments
        ]
    return found


def client(endpoint: str, environ: Mapping[str, str]) -> Any:
    """An S3 client for a bucket's endpoint (Spaces ignores the region; S3's signing needs one)."""
    import boto3  # noqa: PLC0415  (only this command needs it)

    missing = [name for name in CREDENTIALS if not environ.get(name)]
    if missing:
        raise ConfigError(", ".join(missing), "unset", "the Spaces access key of the state bucket")
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environ["AWS_SECRET_ACCESS_KEY"],
    )


def lifecycle_rules(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules as S3 returns them ([] when it has none)."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        rules: list[dict[str, Any]] = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code", "") == "NoSuchLifecycleConfiguration":
            return []
        raise
    return rules


def _whole_bucket(rule: dict[str, Any]) -> bool:
    """A rule without a prefix (or an empty one) applies to every object."""
    prefix = rule.get("Prefix", (rule.get("Filter") or {}).get("Prefix", ""))
    return not prefix and not set(rule.get("Filter") or {}) - {"Prefix"}


def lifecycle_problem(rules: list[dict[str, Any]]) -> str | None:
    """Why `rules` do not keep backups as BACKUP_LIFECYCLE does, or None. Exactly one enabled rule for the whole bucket
    with the same expirations; any other enabled rule could delete sooner."""
    (wanted,) = BACKUP_LIFECYCLE["Rules"]
    enabled = [rule for rule in rules if rule.get("Status") == "Enabled"]
    if not enabled:
        return "has no lifecycle rule: backups are never expired by upload time"
    keys = ("Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload")
    if len(enabled) > 1 or not _whole_bucket(enabled[0]) or any(enabled[0].get(k) != wanted[k] for k in keys):
        found = "; ".join(str({k: rule[k] for k in rule if k in keys}) for rule in enabled)
        return (
            f"lifecycle rules {found} are not the backups' (the whole bucket, current versions {BACKUP_EXPIRY_DAYS}"
            f" days after upload, older versions {BACKUP_NONCURRENT_DAYS} days)"
        )
    return None


def problems(s3: Any, bucket: str, kind: str = "state bucket") -> list[str]:
    """What makes the bucket unfit to hold state or backups: missing, unversioned, readable by anyone, or (a backup
    bucket) without the lifecycle rules that decide what it keeps."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status", "never enabled")
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "404"):
            return [f"{kind} {bucket} does not exist: run `python3 dev.py state-bucket --enable`"]
        return [f"{kind} {bucket}: cannot read its versioning ({code or error}); check the access key"]
    found = []
    if status != "Enabled":
        found.append(
            f"{kind} {bucket}: versioning is {status}, not Enabled: run `python3 dev.py state-bucket --enable`"
        )
    try:
        grants = s3.get_bucket_acl(Bucket=bucket).get("Grants", [])
    except ClientError as error:
        # A key limited to the bucket may read and write objects and versions but not the ACL: say so, and leave the
        # privacy check to the bootstrap guide's anonymous request.
        code = error.response.get("Error", {}).get("Code", "")
        print(f"{kind} {bucket}: its ACL is not readable with this key ({code}); privacy not checked")
        grants = []
    public = sorted({g["Permission"] for g in grants if g.get("Grantee", {}).get("URI") in PUBLIC_GRANTEES})
    if public:
        found.append(
            f"{kind} {bucket}: anyone may {', '.join(public)} it: make it private "
            "(control panel → the bucket → Settings → File listing: Restricted)"
        )
    if kind == BACKUP_KIND:
        try:
            wrong = lifecycle_problem(lifecycle_rules(s3, bucket))
        except ClientError as error:
            wrong = f"cannot read its lifecycle rules ({error.response.get('Error', {}).get('Code', '') or error})"
        if wrong:
            found.append(f"{kind} {bucket}: {wrong}: run `python3 dev.py state-bucket --enable`")
    return found


def enable(s3: Any, bucket: str, kind: str = "state bucket") -> list[str]:
    """Create the bucket (private) if it is missing, and turn versioning on. Returns what it did."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    done = []
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket, ACL="private")
        done.append(f"created {kind} {bucket} (private)")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    done.append(f"{kind} {bucket}: versioning Enabled")
    if kind == BACKUP_KIND:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=BACKUP_LIFECYCLE)
        done.append(
            f"{kind} {bucket}: lifecycle rules set (backups expire {BACKUP_EXPIRY_DAYS} days after upload, older "
            f"versions {BACKUP_NONCURRENT_DAYS} days after that)"
        )
    return done


def _parse(settings: Settings, argv: list[str]) -> tuple[bool, list[str] | None, str | None]:
    """(--enable given, the stacks named or None for all, a one-line refusal or None)."""
    options = [arg for arg in argv if arg.startswith("-")]
    stacks = [arg for arg in argv if not arg.startswith("-")]
    if options not in ([], ["--enable"]):
        return False, None, f"usage: {USAGE}; got {' '.join(argv)}"
    unknown = [stack for stack in stacks if stack not in settings.stack_ids]
    if unknown:
        return False, None, f"unknown stack {unknown[0]!r}: expected one of {', '.join(settings.stack_ids)}"
    return bool(options), (list(dict.fromkeys(stacks)) or None), None


def run(settings: Settings, argv: list[str], environ: Mapping[str, str]) -> int:
    """`main.py --state-bucket [--enable] [STACK ...]`: one line per finding; 0 fit, 1 unfit, 2 bad input."""
    enabling, stacks, refusal = _parse(settings, argv)
    if refusal:
        print(f"main.py: {refusal}", file=sys.stderr)
        return 2
    if settings.state.backend != "s3":
        # Offline work (no credentials); the backup buckets are checked with the s3 configuration the deploys use.
        print(f"state backend is {settings.state.backend}: no bucket to check")
        return 0
    buckets = configured_buckets(settings, stacks)
    clients: dict[str, Any] = {}
    try:
        for bucket in buckets:
            clients.setdefault(bucket.endpoint, client(bucket.endpoint, environ))
    except ConfigError as error:
        print(f"main.py: {error}", file=sys.stderr)
        return 2
    found = []
    for bucket in buckets:
        s3 = clients[bucket.endpoint]
        if enabling:
            for line in enable(s3, bucket.name, bucket.kind):
                print(line)
        unfit = problems(s3, bucket.name, bucket.kind)
        for line in unfit:
            print(line, file=sys.stderr)
        if not unfit:
            rules = ", lifecycle rules set" if bucket.kind == BACKUP_KIND else ""
            print(f"{bucket.kind} {bucket.name} at {bucket.endpoint}: exists, versioning Enabled, not public{rules}")
        found += unfit
    return 1 if found else 0
