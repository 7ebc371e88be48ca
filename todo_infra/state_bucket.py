"""The Terraform state bucket, checked (and on request put right) before anything writes state to it.

Every stack's state is one object in one Spaces bucket. Its older versions are the only way back from a damaged or
deleted state object (docs/runbooks/rollback.md, "Terraform state"), and Spaces turns versioning on through the S3
API only ([Spaces versioning](https://docs.digitalocean.com/products/spaces/how-to/enable-versioning/)). The bucket
cannot be a resource of the stacks whose state it holds, so this module is what creates or verifies it:
`python3 dev.py state-bucket` checks, `--enable` creates the bucket if it is missing and turns versioning on; the
deploy workflows run the check before every deploy.

`python3 dev.py state-bucket` runs `main.py --state-bucket`, so the bucket checked is the one the stacks are
configured with (cdktf.json, TODO_* overrides), after the same refusals of bad configuration.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from todo_infra.settings import ConfigError, StateSettings

#: Grantees that make a bucket readable by anyone (S3 ACL group URIs, which Spaces uses too).
PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def client(state: StateSettings, environ: Mapping[str, str]) -> Any:
    """An S3 client for the bucket's endpoint (Spaces ignores the region; S3's signing needs one)."""
    import boto3  # noqa: PLC0415  (only this command needs it)

    missing = [name for name in CREDENTIALS if not environ.get(name)]
    if missing:
        raise ConfigError(", ".join(missing), "unset", "the Spaces access key of the state bucket")
    return boto3.client(
        "s3",
        endpoint_url=state.endpoint,
        region_name="us-east-1",
        aws_access_key_id=environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environ["AWS_SECRET_ACCESS_KEY"],
    )


def problems(s3: Any, bucket: str) -> list[str]:
    """What makes the bucket unfit to hold state: missing, unversioned, or readable by anyone."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status", "never enabled")
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "404"):
            return [f"state bucket {bucket} does not exist: run `python3 dev.py state-bucket --enable`"]
        return [f"state bucket {bucket}: cannot read its versioning ({code or error}); check the access key"]
    found = []
    if status != "Enabled":
        found.append(
            f"state bucket {bucket}: versioning is {status}, not Enabled: run `python3 dev.py state-bucket --enable`"
        )
    try:
        grants = s3.get_bucket_acl(Bucket=bucket).get("Grants", [])
    except ClientError as error:
        # A key limited to the bucket may read and write objects and versions but not the ACL: say so, and leave the
        # privacy check to the bootstrap guide's anonymous request.
        code = error.response.get("Error", {}).get("Code", "")
        print(f"state bucket {bucket}: its ACL is not readable with this key ({code}); privacy not checked")
        grants = []
    public = sorted({g["Permission"] for g in grants if g.get("Grantee", {}).get("URI") in PUBLIC_GRANTEES})
    if public:
        found.append(
            f"state bucket {bucket}: anyone may {', '.join(public)} it: make it private "
            "(control panel → the bucket → Settings → File listing: Restricted)"
        )
    return found


def enable(s3: Any, bucket: str) -> list[str]:
    """Create the bucket (private) if it is missing, and turn versioning on. Returns what it did."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    done = []
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket, ACL="private")
        done.append(f"created state bucket {bucket} (private)")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    done.append(f"state bucket {bucket}: versioning Enabled")
    return done


def run(state: StateSettings, argv: list[str], environ: Mapping[str, str]) -> int:
    """`main.py --state-bucket [--enable]`: one line per finding; 0 fit, 1 unfit, 2 bad input."""
    if argv not in ([], ["--enable"]):
        print(f"main.py: usage: --state-bucket [--enable]; got {' '.join(argv)}", file=sys.stderr)
        return 2
    if state.backend != "s3":
        print(f"state backend is {state.backend}: no bucket to check")
        return 0
    try:
        s3 = client(state, environ)
    except ConfigError as error:
        print(f"main.py: {error}", file=sys.stderr)
        return 2
    if argv == ["--enable"]:
        for line in enable(s3, state.bucket):
            print(line)
    found = problems(s3, state.bucket)
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print(f"state bucket {state.bucket} at {state.endpoint}: exists, versioning Enabled, not public")
    return 1 if found else 0
