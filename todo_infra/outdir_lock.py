"""One writer at a time on a synthesis output folder (cdktf.out/).

Synth, `cdktf diff|deploy|destroy` and a preflight over an existing folder read and write the same files: two runs
at once used to report success over each other's output. Each takes an exclusive lock (flock) on `.<folder>.lock`
beside the folder for its whole run, from the synthesis to the last read; a second run says in one line which run
holds it and waits. The lock is released when the process ends, however it ends.

Processes the holder starts (main.py under `dev.py synth`, the cdktf CLI and the main.py it runs) inherit
`HELD_ENV` naming the lock file and do not take it again.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Set for the holder's children: the lock file they are covered by.
HELD_ENV = "DEVPY_OUTDIR_LOCK"


def lock_file(outdir: Path) -> Path:
    outdir = outdir.resolve()
    return outdir.parent / f".{outdir.name}.lock"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def locked(outdir: Path, holder: str, *, say: Callable[[str], None] = _say, reading: bool = False) -> Iterator[None]:
    """Hold the lock of `outdir` for the block; wait (saying so once) while another run holds it. `reading`: a shared
    lock, for a run that only reads the folder (a preflight over it): readers go together, a writer waits for them."""
    path = lock_file(outdir)
    if os.environ.get(HELD_ENV) == str(path):
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    mode = fcntl.LOCK_SH if reading else fcntl.LOCK_EX
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another run"
            say(f"{outdir.name}/ is in use by {other}: waiting for it to finish")
            fcntl.flock(fd, mode)
        os.ftruncate(fd, 0)  # the holder a waiting run names (the latest, when readers share it)
        os.pwrite(fd, f"{holder} (pid {os.getpid()})".encode(), 0)
        previous = os.environ.get(HELD_ENV)
        if not reading:  # a reader's children do not write under its lock
            os.environ[HELD_ENV] = str(path)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(HELD_ENV, None)
            else:
                os.environ[HELD_ENV] = previous
            if not reading:
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
