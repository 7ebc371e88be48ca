"""Fixture of the state tests: an S3-compatible server (moto) on 127.0.0.1 for the S3 backend and
`terraform_remote_state`."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.synth import Synth

#: Credentials of the local S3 server; moto accepts any.
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local-test-key",
    "AWS_SECRET_ACCESS_KEY": "local-test-secret",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class LocalS3:
    """moto in server mode on 127.0.0.1, with the state bucket the stacks name."""

    def __init__(self, server: ThreadedMotoServer, endpoint: str) -> None:
        self.server = server
        self.endpoint = endpoint
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_boto_credentials())

    def overrides(self) -> dict[str, object]:
        """What a test changes in a synthesized S3 configuration to reach this server instead of Spaces:
        the endpoint, and path-style addressing (bucket names are not DNS names on 127.0.0.1)."""
        return {"endpoints": {"s3": self.endpoint}, "use_path_style": True}


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


@pytest.fixture(scope="session")
def local_s3(synth: Synth) -> Iterator[LocalS3]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3 = LocalS3(server, f"http://{host}:{port}")
    buckets = {stack["terraform"]["backend"]["s3"]["bucket"] for stack in synth.stacks.values()}
    for bucket in sorted(buckets):
        s3.client.create_bucket(Bucket=bucket)
    yield s3
    server.stop()
