"""One committer at a time per DuckLake store on a SQLite catalog: an OS file lock.

Why: when two processes commit to one SQLite catalog at the same moment, DuckLake's commit
fails with "database is locked" (SQLite refuses the read-to-write upgrade of a transaction
that has read the catalog without waiting; duckdb/ducklake#1309), and the writer retries. With
duckdb 1.5.5 every failed commit leaves its transaction's rows allocated on the connection
(DuckDB's ``COLUMN_DATA``: +0.5 MB per failed commit of a small batch, never given back;
40 MB after 80 failures), and closing that connection does not free the instance either. So
under load an app worker's RSS grew with every conflict. Taking turns avoids the failed
commits instead of cleaning up after them.

The lock is ``flock`` on ``commit.lock`` in the store folder, held only around one
``BEGIN ... COMMIT`` (tens of milliseconds), never while a retry sleeps; the kernel releases it
if a process dies. A PostgreSQL catalog waits for its own locks and a .duckdb file has one
writer, so neither takes it. A holder stuck beyond ``WAIT_S`` is not waited for longer: the
commit goes ahead as before and a conflict is retried.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator

WAIT_S = 10.0
POLL_S = 0.002  # a commit takes tens of milliseconds: poll well inside that


def path_for(address) -> str | None:
    """The lock file of ``address`` (a StoreAddress), or None when it needs none."""
    if address.kind == "ducklake" and not address.catalog:
        return os.path.join(address.lock_dir, "commit.lock")
    return None


@contextlib.contextmanager
def held(path: str | None, wait_s: float = WAIT_S, shared: bool = False) -> Iterator[bool]:
    """Hold the lock at ``path`` for the body (``shared``: alongside other shared holders,
    storage/flush_lock.py); yields whether it was got (True without a path). Never raises
    for the lock itself: without it the body runs as it would have."""
    if path is None:
        yield True
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        yield _acquire(fd, time.monotonic() + wait_s, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
    finally:
        os.close(fd)  # closing releases the lock


def _acquire(fd: int, deadline: float, mode: int) -> bool:
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
