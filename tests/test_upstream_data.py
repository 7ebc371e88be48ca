"""`python3 dev.py upstream-data` fetches the pinned upstream files by exact commit and stores them only when every
SHA-256 is the pinned one (toolchain/upstream.py). Run here against a server on 127.0.0.1 that serves fixtures laid
out as raw.githubusercontent.com lays out files: /<repository>/<commit>/<path>."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.upstream import FETCHED, candidates, upstream
from toolchain import upstream as fetcher

ROOT = Path(__file__).resolve().parent.parent
#: Stand-ins for the upstream files (never the upstream text itself): one CRD folder file, one Dapr metadata file.
FIXTURES = {
    "crds/example.io_widgets.yaml": ("example/widgets", "a" * 40, "deploy/crds/widgets.yaml", b"kind: Widget\n"),
    "dapr/state-example-metadata.yaml": ("example/contrib", "b" * 40, "state/example/metadata.yaml", b"name: x\n"),
}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No access log on stderr."""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 holding the fixtures at /<repository>/<commit>/<path>."""
    site = tmp_path / "site"
    for repository, commit, path, data in FIXTURES.values():
        target = site / repository / commit / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _sandbox(tmp_path: Path, *, wrong: str | None = None) -> Path:
    """dev.py and toolchain/ copied, with pins for the fixtures (`wrong`: the one whose pinned sum is seeded wrong)."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "dev.py", root / "dev.py")
    shutil.copytree(ROOT / "toolchain", root / "toolchain", ignore=shutil.ignore_patterns("__pycache__"))
    for package in ("todo_infra",):
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    files = {
        name: {
            "repository": repository,
            "commit": commit,
            "path": path,
            "sha256": hashlib.sha256(b"tampered" if name == wrong else data).hexdigest(),
        }
        for name, (repository, commit, path, data) in FIXTURES.items()
    }
    (root / "toolchain" / "upstream.json").write_text(json.dumps({"files": files}))
    return root


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "dev.py", "upstream-data", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_fetches_every_pinned_file_by_commit_and_stores_it_where_the_tests_look(served: str, tmp_path: Path) -> None:
    root = _sandbox(tmp_path)
    result = _run(root, "--base-url", served)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"dev.py: upstream-data: {len(FIXTURES)} files, SHA-256 checked, in .upstream/"
    ]
    for name, (_, _, _, data) in FIXTURES.items():
        assert (root / ".upstream" / name).read_bytes() == data


def test_seeded_a_wrong_sum_is_refused_in_one_line_and_nothing_is_stored(served: str, tmp_path: Path) -> None:
    wrong = "dapr/state-example-metadata.yaml"
    repository, commit, path, data = FIXTURES[wrong]
    root = _sandbox(tmp_path, wrong=wrong)
    result = _run(root, "--base-url", served)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"dev.py: upstream-data: {wrong} from {served}/{repository}/{commit}/{path} has SHA-256 "
        f"{hashlib.sha256(data).hexdigest()}, not the pinned {hashlib.sha256(b'tampered').hexdigest()} "
        "(upstream.json): refused, nothing stored"
    ]
    assert not (root / ".upstream").exists()


def test_a_file_the_server_lacks_is_refused_in_one_line(served: str, tmp_path: Path) -> None:
    root = _sandbox(tmp_path)
    result = _run(root, "--base-url", served + "/elsewhere")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.endswith(": HTTP 404\n")
    assert _run(root, "--base-url", "file:///etc").returncode == 2


def test_the_pins_name_public_files_by_exact_commit() -> None:
    """Each pinned file is a raw.githubusercontent.com URL at a full commit, in the folder the tests read."""
    pins = fetcher.pins()
    assert {pin.name.split("/")[0] for pin in pins} == {"crds", "dapr"}
    for pin in pins:
        assert re.fullmatch(r"[0-9a-f]{40}", pin.commit), pin
        assert re.fullmatch(r"[0-9a-f]{64}", pin.sha256), pin
        assert pin.url() == f"https://raw.githubusercontent.com/{pin.repository}/{pin.commit}/{pin.path}"
    assert fetcher.DATA_DIR == FETCHED == candidates()[0]


def test_the_upstream_data_at_hand_is_the_pinned_data() -> None:
    """Whatever folder the tests read holds exactly the pinned files, byte for byte (seeded above: a wrong sum)."""
    root = upstream()
    present = sorted(str(path.relative_to(root)) for path in root.glob("*/*.yaml"))
    assert present == sorted(pin.name for pin in fetcher.pins())
    for pin in fetcher.pins():
        assert hashlib.sha256((root / pin.name).read_bytes()).hexdigest() == pin.sha256, pin.name
