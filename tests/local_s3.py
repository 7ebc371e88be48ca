"""An S3-compatible server (moto in server mode) on 127.0.0.1: the stand-in for DigitalOcean Spaces in the state
backend tests and the Redis offsite-backup tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

#: Credentials of the local S3 server; moto accepts any.
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local-test-key",
    "AWS_SECRET_ACCESS_KEY": "local-test-secret",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class LocalS3:
    """A running server: its endpoint and a boto3 client for it."""

    def __init__(self, server: ThreadedMotoServer, endpoint: str) -> None:
        self.server = server
        self.endpoint = endpoint
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.key[0],
            aws_secret_access_key=self.key[1],
        )

    @property
    def key(self) -> tuple[str, str]:
        """(access key id, secret), as an S3 client is given them."""
        return S3_CREDENTIALS["AWS_ACCESS_KEY_ID"], S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]

    def overrides(self) -> dict[str, object]:
        """What a test changes in a synthesized S3 configuration to reach this server instead of Spaces:
        the endpoint, and path-style addressing (bucket names are not DNS names on 127.0.0.1)."""
        return {"endpoints": {"s3": self.endpoint}, "use_path_style": True}

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listed = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return sorted(item["Key"] for item in listed)


@contextmanager
def running_local_s3(*buckets: str) -> Iterator[LocalS3]:
    """moto on a free port of 127.0.0.1 with `buckets` created, stopped on exit."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = LocalS3(server, f"http://{host}:{port}")
        for bucket in sorted(set(buckets)):
            s3.client.create_bucket(Bucket=bucket)
        yield s3
    finally:
        server.stop()
