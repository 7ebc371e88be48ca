"""The Spaces buckets, checked (and on request put right) before anything writes to them.

Buckets per configuration (todo_infra/settings.py derives every name from two settings): the state bucket of the
shared stacks (`state_bucket`), one state bucket per environment (`<state_bucket>-<env>`, for `app-<env>`) and one
Redis backup bucket per environment (`<backup_bucket>-<env>`). Older versions of a state object are the only way back
from a damaged or deleted one (docs/runbooks/rollback.md, "Terraform state"), and a deleted backup comes back only as
an older version; Spaces turns versioning on through the S3 API only
([Spaces versioning](https://docs.digitalocean.com/products/spaces/how-to/enable-versioning/)). A bucket cannot be a
resource of the stacks whose state it holds, so this module is what creates or verifies them:

- `python3 dev.py state-bucket` checks every bucket the configuration names (exists, versioned, not public): an
  operator's check, with a key that reaches all of them;
- `python3 dev.py state-bucket <stack> [<stack> ...]` checks only the state buckets of those stacks: the deploy
  workflows' check, which staging's key (limited to staging's state bucket) can run;
- `--enable` with either form creates the missing buckets (private) and turns versioning on.

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
            Bucket("backup bucket", settings.backup.bucket_for(env.name), settings.backup.endpoint)
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


def problems(s3: Any, bucket: str, kind: str = "state bucket") -> list[str]:
    """What makes the bucket unfit to hold state or backups: missing, unversioned, or readable by anyone."""
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
            print(f"{bucket.kind} {bucket.name} at {bucket.endpoint}: exists, versioning Enabled, not public")
        found += unfit
    return 1 if found else 0
