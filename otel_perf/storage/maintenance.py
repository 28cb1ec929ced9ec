"""Store maintenance, run by one process at a time, at most once per interval.

Coordination is an OS file lock (``flock``) on ``maintenance.lock`` in the store folder, held
only while maintenance runs, and the time of the last run written into that file. Any
process may run it when it is due — the first worker to get there, or ``otel-perf maintain``
at any moment — and no two run it at once; the kernel releases the lock if a process dies.
DuckLake's ``CHECKPOINT`` flushes rows inlined in the catalog into Parquet, merges small
files, expires old snapshots and deletes files no snapshot needs.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable

from otel_perf.storage import flush_lock
from otel_perf.storage.address import ALIAS, StoreAddress

_logger = logging.getLogger("otel_perf")

# Readers that started before a compaction may still read the files it replaced: keep
# superseded snapshots and files for an hour before deleting them.
KEEP_SNAPSHOTS = "1 hour"

SET_EXPIRE = f"CALL ducklake_set_option('{ALIAS}', 'expire_older_than', '{KEEP_SNAPSHOTS}')"
SET_DELETE = f"CALL ducklake_set_option('{ALIAS}', 'delete_older_than', '{KEEP_SNAPSHOTS}')"
CHECKPOINT = f"CHECKPOINT {ALIAS}"


class MaintenanceLock:
    """One elected job per store (``name``: maintenance, alerts, ...), each with its own lock."""

    def __init__(
        self,
        address: StoreAddress,
        clock: Callable[[], float] = time.time,
        name: str = "maintenance",
    ) -> None:
        self.path = os.path.join(address.lock_dir, f"{name}.lock")
        self.name = name
        # A PostgreSQL catalog (several hosts): PostgreSQL elects (storage/pg_election.py).
        self._conninfo = address.catalog
        self._clock = clock
        # When the job last ran before this run (0 if never) and the state it left (a short
        # string, e.g. the store snapshot it processed up to): set while ``action`` runs, so a
        # job can process exactly what arrived since. ``action`` sets ``next_state``.
        self.previous_run = 0.0
        self.previous_state = ""
        self.next_state = ""

    def run_if_due(self, interval_s: float, action: Callable[[], None]) -> bool:
        """Run ``action`` unless another process is running it or it ran within
        ``interval_s``; True when it ran here."""
        if self._conninfo:
            from otel_perf.storage import pg_election

            return pg_election.run_if_due(self, self._conninfo, self.name, interval_s, action)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # someone else is maintaining right now
            previous, state = _read(fd)
            if self._clock() - previous < interval_s:
                return False
            self.previous_run, self.previous_state, self.next_state = previous, state, state
            action()
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{self._clock()!r}\n{self.next_state}".encode(), 0)
            return True
        finally:
            os.close(fd)  # closing releases the lock

    def busy(self) -> bool:
        """True while another process holds the lock (is maintaining)."""
        if self._conninfo:
            from otel_perf.storage import pg_election

            return pg_election.busy(self._conninfo, self.name)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except OSError:
            return True
        finally:
            os.close(fd)


def _read(fd: int) -> tuple[float, str]:
    """(last run time, state) from the lock file; (0, "") when unreadable."""
    try:
        text = os.pread(fd, 256, 0).decode()
        when, _, state = text.partition("\n")
        return float(when or 0), state.strip()
    except (OSError, ValueError, UnicodeDecodeError):
        return 0.0, ""


def run_maintenance(con, address: StoreAddress, retention_days: float | None = None) -> None:
    # Retention first, so that the checkpoint below rewrites the files its deletes touched.
    # A failing cleanup must not stop the compaction: it is logged and retried next run.
    try:
        from otel_perf.storage.retention import run_retention

        if retention_days is None:
            from otel_perf.settings import get_settings

            retention_days = get_settings().retention_days
        run_retention(con, address, retention_days)
    except Exception as exc:
        _logger.warning("otel-perf: retention cleanup failed: %s", exc)
    try:  # one row per hour in the stats report's totals (storage/rollup.py)
        from otel_perf.storage.rollup import compact

        compact(con)
    except Exception as exc:
        _logger.warning("otel-perf: compacting the hourly totals failed: %s", exc)
    if address.kind == "ducklake":
        con.execute(SET_EXPIRE)
        con.execute(SET_DELETE)
    # Readers must not read while the checkpoint flushes inlined rows (storage/flush_lock.py).
    with flush_lock.flushing(address) as got:
        if not got:
            _logger.warning(
                "otel-perf: checkpoint skipped: reads of the store held it off for %.0f s; "
                "the next maintenance tries again",
                flush_lock.FLUSH_WAIT_S,
            )
            return
        con.execute(CHECKPOINT)
    if address.kind == "ducklake" and not address.catalog:
        # The checkpoint emptied the catalog of inlined rows: give their pages back.
        try:
            from otel_perf.storage.catalog_space import reclaim

            reclaim(address.catalog_path)
        except Exception as exc:
            _logger.warning("otel-perf: reclaiming the catalog's free space failed: %s", exc)
