"""Readers and the flush of inlined rows take turns: a readers-writer OS file lock.

Why: with duckdb 1.5.5's DuckLake on a SQLite catalog, a statement that reads while another
process flushes the rows inlined in the catalog into Parquet (maintenance's ``CHECKPOINT``) can
miss those rows: the count goes down for one read and comes back at the next. Measured
(tests/unit/test_flush_lock.py: a reader counting in a loop, 60 rounds of insert 50 inlined
rows then flush): 28 to 41 short reads a run, some of them 0; once in CI a reader saw 0 of a
store's 3,000 inlined rows. Inserts alone never did it. With the lock below: none. Upstream
reports of the same window: duckdb/ducklake#1413 and #1305.

So maintenance holds ``flush.lock`` exclusively around the steps of its checkpoint that flush,
merge or delete files (storage/maintenance.py, taken before the commit lock so that writers
go on while it waits for the reads), and the long-lived
readers (the reports' connection of the API and the Django views, ``otel-perf sql``, the alert
evaluation) hold it shared around a read. Readers do not wait for each other; a checkpoint
waits for the reads under way (reports take milliseconds to seconds) and new reads wait for it.
Neither waits forever: a read goes ahead unlocked after ``READ_WAIT_S``, and a checkpoint that
cannot get the lock within ``FLUSH_WAIT_S`` is skipped with a warning and tried at the next
maintenance. Other readers (the CLI's other commands, a DuckDB shell on the folder) are not
covered: a read of theirs that meets a maintenance run's checkpoint can come back short, as
with DuckLake itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from otel_perf.storage import commit_lock

READ_WAIT_S = 60.0  # a checkpoint of a large store can take tens of seconds
FLUSH_WAIT_S = 10.0  # maintenance waits for the reads this long, then stops for this run


def path_for(address) -> str | None:
    """The lock file of ``address`` (a StoreAddress), or None: a plain .duckdb file has one
    process and no inlined rows, and a PostgreSQL catalog's processes may be on other hosts,
    where a file lock means nothing (not measured there)."""
    if address.kind == "ducklake" and not address.catalog:
        return os.path.join(address.lock_dir, "flush.lock")
    return None


def _intent(path: str | None) -> str | None:
    return None if path is None else path + ".intent"


@contextlib.contextmanager
def reading(address, wait_s: float = READ_WAIT_S) -> Iterator[bool]:
    """Hold the lock shared for a read; yields whether it was got."""
    path = path_for(address)
    # A checkpoint waiting to start holds the intent lock: new reads queue behind it instead
    # of overlapping the reads under way (measured: a reader in a loop kept a plain flock's
    # checkpoint waiting about 0.2 s a round; overlapping readers could hold it off longer).
    with commit_lock.held(_intent(path), wait_s, shared=True):
        pass
    with commit_lock.held(path, wait_s, shared=True) as got:
        yield got


@contextlib.contextmanager
def flushing(address, wait_s: float | None = None) -> Iterator[bool]:
    """Hold the lock exclusively for a checkpoint (waiting at most ``wait_s``, default
    ``FLUSH_WAIT_S``); yields whether it was got (when not, the caller skips the checkpoint)."""
    wait_s = FLUSH_WAIT_S if wait_s is None else wait_s
    path = path_for(address)
    with commit_lock.held(_intent(path), wait_s), commit_lock.held(path, wait_s) as got:
        yield got
