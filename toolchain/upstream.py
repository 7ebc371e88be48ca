"""Upstream data the suite validates against (CRD schemas, Dapr component metadata), fetched by exact commit.

`python3 dev.py upstream-data` downloads every file `toolchain/upstream.json` pins from
https://raw.githubusercontent.com/<repository>/<commit>/<path>, checks each one's SHA-256 against the pin, and only
when every file matches stores them in `.upstream/` (gitignored), where tests/upstream.py looks first. One wrong sum
stores nothing. Standard library only, like the rest of toolchain/: it needs no virtual environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINS_FILE = Path(__file__).resolve().parent / "upstream.json"
#: Where the files go: the folder tests/upstream.py checks first.
DATA_DIR = ROOT / ".upstream"
BASE_URL = "https://raw.githubusercontent.com"
TIMEOUT_SECONDS = 60


class UpstreamError(RuntimeError):
    """A file could not be fetched or is not the pinned one; the message is one line."""


@dataclass(frozen=True)
class Pin:
    name: str  # where it is stored, relative to the data folder: crds/<file> or dapr/<file>
    repository: str
    commit: str
    path: str
    sha256: str

    def url(self, base: str = BASE_URL) -> str:
        return f"{base.rstrip('/')}/{self.repository}/{self.commit}/{self.path}"


def pins(pins_file: Path = PINS_FILE) -> list[Pin]:
    files: dict[str, dict[str, str]] = json.loads(pins_file.read_text())["files"]
    return [Pin(name=name, **spec) for name, spec in files.items()]


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            data: bytes = response.read()
    except urllib.error.HTTPError as error:
        raise UpstreamError(f"{url}: HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UpstreamError(f"{url}: {reason}") from None
    return data


def fetch(destination: Path = DATA_DIR, *, base: str = BASE_URL, pins_file: Path = PINS_FILE) -> list[Pin]:
    """Download and check every pinned file, then replace `destination` with them; nothing changes on any error."""
    wanted = pins(pins_file)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".upstream-", dir=destination.parent) as scratch:
        staged = Path(scratch) / "data"
        for pin in wanted:
            url = pin.url(base)
            data = _get(url)
            found = hashlib.sha256(data).hexdigest()
            if found != pin.sha256:
                raise UpstreamError(
                    f"{pin.name} from {url} has SHA-256 {found}, not the pinned {pin.sha256} "
                    f"({PINS_FILE.name}): refused, nothing stored"
                )
            target = staged / pin.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        old = Path(scratch) / "old"
        if destination.exists():
            os.replace(destination, old)
        os.replace(staged, destination)
        shutil.rmtree(old, ignore_errors=True)
    return wanted
