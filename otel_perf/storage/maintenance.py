"""Store maintenance, run by one process at a time, at most once per interval.

Coordination is an OS file lock (``flock``) on ``maintenance.lock`` in the store folder (beside
a ``.duckdb`` file: ``<file>.maintenance.lock``, one per file), held only while maintenance
runs, and the time of the last run written into that file. Any process may run it when it is due
— the first worker to get there, or ``otel-perf maintain`` at any moment — and no two run it at
once; the kernel releases the lock if a process dies. A run flushes rows inlined in the catalog
into Parquet, expires old snapshots, merges small files and deletes files no snapshot needs:
DuckLake's ``CHECKPOINT``, one step at a time.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from otel_perf.storage import flush_lock, rollup, schema
from otel_perf.storage.address import ALIAS, StoreAddress

_logger = logging.getLogger("otel_perf")

# Snapshots are kept an hour: the alert evaluation reads the rows of a snapshot range since its
# last run (query_api/alert_evaluator.py). Files the merge and rewrite replace are deleted at
# the same run's cleanup: on a SQLite catalog ``delete_older_than`` is compared by day (see
# EXPIRE_SNAPSHOTS), so the cleanup steps wait for the reads under way (``Step.exclusive``); on
# a PostgreSQL catalog the option holds them for the hour.
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
        self.path = address.lock_file(name)
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

    def run_if_due(
        self, interval_s: float | Callable[[str], float], action: Callable[[], None]
    ) -> bool:
        """Run ``action`` unless another process is running it or it ran within
        ``interval_s`` (or ``interval_s(state)``: the interval after a run that left
        ``state``); True when it ran here."""
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
            if self._clock() - previous < interval_for(interval_s, state):
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


def interval_for(interval_s: float | Callable[[str], float], state: str) -> float:
    return interval_s(state) if callable(interval_s) else interval_s


def _read(fd: int) -> tuple[float, str]:
    """(last run time, state) from the lock file; (0, "") when unreadable."""
    try:
        text = os.pread(fd, 256, 0).decode()
        when, _, state = text.partition("\n")
        return float(when or 0), state.strip()
    except (OSError, ValueError, UnicodeDecodeError):
        return 0.0, ""


# DuckLake's ``CHECKPOINT`` is these functions, in this order (DuckLake's docs,
# maintenance/checkpoint). Run one by one so that the store's writers commit between them
# (``run_maintenance``): on the footprint soak's store (300 commits of 490 requests, 2026-11-25,
# /tmp/diag/msteps.py) the whole CHECKPOINT took 2.5 s, its longest part 1.4 s (the merge, of
# which 0.63 s for ``requests``, the longest table). Under load, a CHECKPOINT held every
# worker's commits for ~10 s (7.5 s without a snapshot in the soak of 2026-11-25): their queues
# of finished requests grew by ~2,400 each, and the RSS they took stayed.
FLUSH_INLINED = f"CALL ducklake_flush_inlined_data('{ALIAS}')"
# Expired by their ids, found with DuckDB's own timestamps: with a SQLite catalog, duckdb
# 1.5.5's DuckLake compares the cut-off (``expire_older_than``, or ``older_than``) by its day
# only, so every snapshot of the cut-off's day expired (measured: ``older_than => now() -
# INTERVAL '10 hours'`` and ``TIMESTAMPTZ '<today> 00:00:01'`` both listed all of today's
# snapshots, ``<yesterday> 23:59:59`` none). Each maintenance run expired all but the newest,
# and the alert evaluation by snapshot ranges (query_api/alert_evaluator.py) fell back to time.
# Never the newest; at most MAX_EXPIRED a run (bounded work; the rest go next run).
MAX_EXPIRED = 5000
OLD_SNAPSHOTS = f"""
SELECT coalesce(list(snapshot_id ORDER BY snapshot_id), []) FROM (
    SELECT snapshot_id FROM ducklake_snapshots('{ALIAS}')
    WHERE snapshot_time < now() - INTERVAL '{KEEP_SNAPSHOTS}'
      AND snapshot_id < (SELECT max(snapshot_id) FROM ducklake_snapshots('{ALIAS}'))
    ORDER BY snapshot_id
    LIMIT {MAX_EXPIRED}
)
"""
FLUSH_TOTALS = f"CALL ducklake_flush_inlined_data('{ALIAS}', table_name => '{rollup.TABLE}')"
EXPIRE_SNAPSHOTS = f"CALL ducklake_expire_snapshots('{ALIAS}', versions => $versions)"
MERGE_TABLE = {
    table: f"CALL ducklake_merge_adjacent_files('{ALIAS}', '{table}')" for table in schema.TABLES
}
REWRITE_DELETES = f"CALL ducklake_rewrite_data_files('{ALIAS}')"
CLEANUP_OLD_FILES = f"CALL ducklake_cleanup_old_files('{ALIAS}')"
DELETE_ORPHANED_FILES = f"CALL ducklake_delete_orphaned_files('{ALIAS}')"


@dataclass(frozen=True)
class Step:
    """One part of a maintenance run, committed on its own."""

    name: str
    action: Callable[[Any], None]  # given the connection
    # Readers must not read while it runs (storage/flush_lock.py). The flush of inlined rows
    # opens the window that lock is for; the merge and rewrite replace files that the cleanup
    # then deletes at once (measured with duckdb 1.5.5 on a SQLite catalog: files scheduled for
    # deletion seconds before went despite ``delete_older_than``), so a read under way must
    # finish before any of them.
    exclusive: bool = False


def _execute(statement: str) -> Callable[[Any], None]:
    return lambda con: con.execute(statement)


def steps(address: StoreAddress, retention_days: float | None = None) -> list[Step]:
    """What one maintenance run does, in order."""
    found = [Step("retention", lambda con: _retention(con, address, retention_days))]
    found.append(Step("hourly totals", _compact_totals))
    if address.kind != "ducklake":  # a plain file: DuckDB's own checkpoint of the file
        return [*found, Step("checkpoint", _execute(CHECKPOINT))]
    found.append(Step("options", _set_options))
    found.append(Step("flush inlined rows", _execute(FLUSH_INLINED), exclusive=True))
    found.append(Step("expire snapshots", _expire_snapshots))
    for table, statement in MERGE_TABLE.items():
        found.append(Step(f"merge {table}", _execute(statement), exclusive=True))
    found.append(Step("rewrite deletes", _rewrite_deletes, exclusive=True))
    found.append(Step("clean up old files", _execute(CLEANUP_OLD_FILES), exclusive=True))
    found.append(Step("delete orphaned files", _execute(DELETE_ORPHANED_FILES)))
    if not address.catalog:
        # The flush emptied the catalog of inlined rows: give their pages back.
        found.append(Step("catalog space", lambda con: _reclaim(address)))
    return found


def run_maintenance(
    con,
    address: StoreAddress,
    retention_days: float | None = None,
    run: Callable[[Step], None] | None = None,
    between: Callable[[], bool] | None = None,
) -> None:
    """Every step of ``steps``. ``run(step)`` runs one (default: right here; the writer's
    session takes the commit lock for each, storage/session.py); ``between()`` is called after
    each and returns False to stop (the writer commits what its requests queued meanwhile)."""
    for step in steps(address, retention_days):
        if step.exclusive:
            # Waiting for the readers here, before the commit lock: writers go on meanwhile.
            with flush_lock.flushing(address) as got:
                if not got:
                    _logger.warning(
                        "otel-perf: maintenance stopped before %s: reads of the store held it "
                        "off for %g s; the next maintenance tries again",
                        step.name,
                        flush_lock.FLUSH_WAIT_S,
                    )
                    return
                _run(step, con, run)
        else:
            _run(step, con, run)
        if between is not None and not between():
            return


def _run(step: Step, con, run: Callable[[Step], None] | None) -> None:
    if run is None:
        step.action(con)
    else:
        run(step)


# Retention counts in days, and looking for old rows in every dated table cost about 0.65 s
# of CPU per maintenance run even with none to delete (a store of 30 commits, 2026-12-06,
# /tmp/diag/maint_cpu.py): it runs hourly, and at every run while a backlog remains (each run
# deletes at most ``run_retention``'s bound). Its own election and record: "retention.lock".
RETENTION_INTERVAL_S = 3600.0
BACKLOG = "backlog"


def _retention_interval(state: str) -> float:
    return 0.0 if state == BACKLOG else RETENTION_INTERVAL_S


def _retention(con, address: StoreAddress, retention_days: float | None) -> None:
    # First, so that the merge and rewrite below rewrite the files its deletes touched. A
    # failing cleanup must not stop the compaction: it is logged and retried next run (its
    # record is written only when it ran through).
    lock = MaintenanceLock(address, name="retention")

    def run() -> None:
        from otel_perf.storage.retention import run_retention

        days = retention_days
        if days is None:
            from otel_perf.settings import get_settings

            days = get_settings().retention_days
        complete = run_retention(con, address, days)
        lock.next_state = "" if complete else BACKLOG

    try:
        lock.run_if_due(_retention_interval, run)
    except Exception as exc:
        _logger.warning("otel-perf: retention cleanup failed: %s", exc)


def _compact_totals(con) -> None:
    try:  # one row per hour in the stats report's totals (storage/rollup.py)
        from otel_perf.storage.rollup import compact

        compact(con)
    except Exception as exc:
        _logger.warning("otel-perf: compacting the hourly totals failed: %s", exc)


def _set_options(con) -> None:
    con.execute(SET_EXPIRE)
    con.execute(SET_DELETE)


def _expire_snapshots(con) -> None:
    (versions,) = con.execute(OLD_SNAPSHOTS).fetchone()
    if versions:  # an empty list is a syntax error in DuckLake's own statement
        con.execute(EXPIRE_SNAPSHOTS, {"versions": versions})


def _rewrite_deletes(con) -> None:
    # Rows writers committed since this run's flush are inlined again. duckdb 1.5.5's DuckLake,
    # after rewriting every file of a table that had deletes, recomputes the table's stats over
    # its inlined rows with ``isnan(...)``, which fails on a SQLite catalog for DOUBLE columns
    # (the scanner hands them as VARCHAR: "Failed to read inlined-data aggregates ...
    # isnan(VARCHAR)"). ``hourly_totals`` has deletes after each compaction, so the rewrite and
    # the cleanup after it failed whenever a writer had committed meanwhile (seen in CI;
    # tests/unit/test_maintenance_steps.py). Flushing first, under the same hold of the commit
    # lock, leaves no inlined row for the rewrite to read. Flushing every table costs about
    # 0.45 s of CPU even with nothing inlined (it visits each; one table: 20-40 ms), so first
    # ``hourly_totals`` alone, and every table only when the rewrite still fails (another
    # table with deletes, from retention, had inlined rows).
    try:
        con.execute(FLUSH_TOTALS)
        con.execute(REWRITE_DELETES)
    except Exception as exc:
        if "inlined-data aggregates" not in str(exc):
            raise
        con.execute(FLUSH_INLINED)
        con.execute(REWRITE_DELETES)


def _reclaim(address: StoreAddress) -> None:
    try:
        from otel_perf.storage.catalog_space import reclaim

        reclaim(address.catalog_path)
    except Exception as exc:
        _logger.warning("otel-perf: reclaiming the catalog's free space failed: %s", exc)
