"""Fixture of the state tests: an S3-compatible server (moto) on 127.0.0.1 for the S3 backend and
`terraform_remote_state`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.local_s3 import LocalS3, running_local_s3
from tests.synth import Synth


@pytest.fixture(scope="session")
def local_s3(synth: Synth) -> Iterator[LocalS3]:
    """The server, with the state bucket the stacks name."""
    with running_local_s3(*(stack["terraform"]["backend"]["s3"]["bucket"] for stack in synth.stacks.values())) as s3:
        yield s3
