"""Store maintenance, run by one process at a time.

Election is an OS file lock (``flock``) on ``maintenance.lock`` in the store folder: the first
process to take it keeps it for its life, the kernel releases it when that process dies, and
the others try again at their next interval. DuckLake's ``CHECKPOINT`` flushes rows inlined in
the catalog into Parquet, merges small files, expires old snapshots and deletes files no
snapshot needs.
"""

from __future__ import annotations

import fcntl
import logging
import os

from otel_perf.storage.address import ALIAS, StoreAddress

_logger = logging.getLogger("otel_perf")

# Readers that started before a compaction may still read the files it replaced: keep
# superseded snapshots and files for an hour before deleting them.
KEEP_SNAPSHOTS = "1 hour"

SET_EXPIRE = f"CALL ducklake_set_option('{ALIAS}', 'expire_older_than', '{KEEP_SNAPSHOTS}')"
SET_DELETE = f"CALL ducklake_set_option('{ALIAS}', 'delete_older_than', '{KEEP_SNAPSHOTS}')"
CHECKPOINT = f"CHECKPOINT {ALIAS}"


class Election:
    """Holds the maintenance lock once won; ``try_win()`` is cheap to repeat."""

    def __init__(self, address: StoreAddress, name: str = "maintenance") -> None:
        self._path = os.path.join(address.lock_dir, f"{name}.lock")
        self._fd: int | None = None
        self._pid = os.getpid()

    @property
    def won(self) -> bool:
        return self._fd is not None and self._pid == os.getpid()

    def try_win(self) -> bool:
        if self._pid != os.getpid():  # a forked child does not inherit leadership
            self._fd, self._pid = None, os.getpid()
        if self._fd is not None:
            return True
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None


def run_maintenance(con, address: StoreAddress) -> None:
    if address.kind == "ducklake":
        con.execute(SET_EXPIRE)
        con.execute(SET_DELETE)
    con.execute(CHECKPOINT)
