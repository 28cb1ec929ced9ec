"""Maintenance lets the writers commit between its steps (storage/maintenance.py).

Why: DuckLake's CHECKPOINT in one statement held the store's commit lock for seconds under
load (~10 s in the footprint soak), and every worker's queue of finished requests, each holding
its spans, grew meanwhile. Real DuckLake stores in temp dirs; the lock is the real file lock.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from otel_perf.storage import commit_lock, open_store, parse_address
from otel_perf.storage.maintenance import steps
from otel_perf.storage.rollup import compact
from otel_perf.storage.session import StoreSession
from query_api.alert_evaluator import readable_window
from tests.unit.test_catalog_space import requests_rows
from tests.unit.test_writer_memory import requests, stored_requests, writer  # noqa: F401

# What each DuckLake step leaves in a snapshot's changes (ducklake_snapshots), when it did work.
FLUSHED, MERGED = "flushed_inlined", "merge_adjacent"


def snapshot_changes(store: str) -> list[str]:
    con = open_store(parse_address(store), read_only=True)
    try:
        rows = con.execute(
            "SELECT changes::VARCHAR FROM ducklake_snapshots('perf') ORDER BY snapshot_id"
        ).fetchall()
        return [r[0] for r in rows]
    finally:
        con.close()


def first_index(changes: list[str], word: str, start: int = 0) -> int:
    return next(i for i in range(start, len(changes)) if word in changes[i])


@pytest.fixture
def store_to_maintain(tmp_path) -> str:
    """Inlined rows to flush and several small Parquet files to merge."""
    store = str(tmp_path / "store")
    session = StoreSession(parse_address(store), inline_row_limit=10)
    try:
        for i in range(4):  # over the inline limit: one small file each
            session.insert([requests_rows(100 * i, 50)])
        session.insert([requests_rows(1000, 5)])  # inlined
    finally:
        session.close()
    return store


def test_writers_should_commit_between_the_steps_of_a_maintenance_run(store_to_maintain):
    address = parse_address(store_to_maintain)
    session = StoreSession(address, inline_row_limit=10)
    lock = commit_lock.path_for(address)
    free, added = [], 0

    def between() -> bool:
        nonlocal added
        with commit_lock.held(lock, wait_s=0) as got:  # another open file: as another process
            free.append(got)
        session.insert([requests_rows(5000 + added, 1)])  # inlined: a writer's small commit
        added += 1
        return True

    try:
        session.maintain(between=between)
    finally:
        session.close()
    assert len(free) == len(steps(address)) and all(free)
    # The store's own record: commits landed after the flush and before the merge.
    changes = snapshot_changes(store_to_maintain)
    flushed = first_index(changes, FLUSHED)
    merged = first_index(changes, MERGED, flushed)
    assert any("insert" in c for c in changes[flushed + 1 : merged])
    assert stored_requests(store_to_maintain) == 4 * 50 + 5 + added


def test_a_maintenance_run_should_stop_when_told_between_steps(store_to_maintain):
    session = StoreSession(parse_address(store_to_maintain))
    calls = []
    try:
        session.maintain(between=lambda: calls.append(1) and False)
    finally:
        session.close()
    assert len(calls) == 1  # after the first step (retention), nothing more ran
    assert not any(FLUSHED in c or MERGED in c for c in snapshot_changes(store_to_maintain))
    assert stored_requests(store_to_maintain) == 4 * 50 + 5


def test_the_writer_commits_what_its_requests_queued_while_it_maintains(writer):  # noqa: F811
    writer._next_heartbeat = writer._next_alerts = writer._next_maintenance = float("inf")
    for _ in range(2):  # two commits over the inline limit: files for the merge
        writer._queue.extend(requests(30))
        writer._cycle()
    # Requests that finish once maintenance has begun (queued as it starts its first step).
    waiting = requests(7)
    original = writer._session.maintain

    def maintain(between):
        writer._queue.extend(waiting)
        original(between=between)

    writer._session.maintain = maintain
    writer._maybe_maintain()
    assert not writer._queue  # committed during the run, not after it
    assert (writer.requests_written, writer.requests_dropped) == (67, 0)
    path = writer.address.path
    writer._drop_session()
    changes = snapshot_changes(path)
    assert stored_requests(path) == 67
    last_insert = max(i for i, c in enumerate(changes) if "insert" in c)
    assert last_insert < first_index(changes, MERGED)


def test_maintenance_should_keep_the_last_hour_of_snapshots(store_to_maintain):
    # With a SQLite catalog, DuckLake's own cut-off expired every snapshot of its day
    # (maintenance.EXPIRE_SNAPSHOTS), and with them the alert evaluation's snapshot window.
    address = parse_address(store_to_maintain)
    before = snapshot_ids(store_to_maintain)
    old = before[:2]  # made two hours old, in the catalog itself
    catalog = sqlite3.connect(address.catalog_path)
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    with catalog:
        catalog.executemany(
            "UPDATE ducklake_snapshot SET snapshot_time = ? WHERE snapshot_id = ?",
            [(two_hours_ago.strftime("%Y-%m-%d %H:%M:%S.%f+00"), i) for i in old],
        )
    catalog.close()
    session = StoreSession(address)
    try:
        session.maintain()
        after = snapshot_ids(store_to_maintain)
        assert not set(old) & set(after)
        assert set(before[2:]) <= set(after)
        current = max(after)
        # The alert evaluation's window from before the run is still readable after it.
        assert readable_window(session.con, before[-1], current) is not None
    finally:
        session.close()
    assert stored_requests(store_to_maintain) == 4 * 50 + 5


def snapshot_ids(store: str) -> list[int]:
    con = open_store(parse_address(store), read_only=True)
    try:
        sql = "SELECT list(snapshot_id ORDER BY snapshot_id) FROM ducklake_snapshots('perf')"
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


@contextlib.contextmanager
def session_and_rewrite(tmp_path, inline_row_limit: int):
    """A writer's session on a new store and the maintenance run's rewrite step."""
    address = parse_address(str(tmp_path / "store"))
    session = StoreSession(address, inline_row_limit=inline_row_limit)
    try:
        yield session, next(step for step in steps(address) if step.name == "rewrite deletes")
    finally:
        session.close()


def test_the_rewrite_should_succeed_when_writers_committed_after_the_totals_were_compacted(
    tmp_path,
):
    # The hourly totals in Parquet, several rows an hour: the run's compaction deletes them,
    # and the rows writers commit between its steps are inlined. duckdb 1.5.5's DuckLake failed
    # the rewrite of a table with deletes and inlined DOUBLE rows on a SQLite catalog
    # (maintenance._rewrite_deletes), and every step after it was skipped.
    with session_and_rewrite(tmp_path, inline_row_limit=10_000) as (session, rewrite):
        for i in range(5):
            session.insert([requests_rows(100 * i, 20)])
        session.con.execute("CALL ducklake_flush_inlined_data('perf')")
        before = table_files(session.con, "hourly_totals")
        assert compact(session.con)
        session.insert([requests_rows(5000, 1)])  # a writer's commit: inlined
        rewrite.action(session.con)
        after = table_files(session.con, "hourly_totals")
        hourly, rows = session.con.execute(
            "SELECT (SELECT sum(samples) FROM hourly_totals), (SELECT count(*) FROM requests)"
        ).fetchone()
    assert len(before) == 1 and before[0] not in after  # its rows all deleted: rewritten away
    assert hourly == rows == 5 * 20 + 1


def table_files(con, table: str) -> list[str]:
    sql = "SELECT coalesce(list(data_file), []) FROM ducklake_list_files('perf', $table)"
    return con.execute(sql, {"table": table}).fetchone()[0]


def test_the_rewrite_should_succeed_when_a_table_retention_deleted_from_has_inlined_rows(
    tmp_path,
):
    # Not hourly_totals this time: the rewrite step flushes that table alone first (and falls
    # back to flushing every table if the rewrite fails all the same; requests did not make
    # it fail here, but its file with every row deleted must go and its inlined rows stay).
    with session_and_rewrite(tmp_path, inline_row_limit=10) as (session, rewrite):
        session.insert([requests_rows(0, 50)])  # over the inline limit: a Parquet file
        session.con.execute("CALL ducklake_flush_inlined_data('perf')")
        before = table_files(session.con, "requests")
        session.con.execute("DELETE FROM requests")  # as retention deletes
        session.insert([requests_rows(100, 3)])  # inlined
        rewrite.action(session.con)
        after = table_files(session.con, "requests")
        count = session.con.execute("SELECT count(*) FROM requests").fetchone()[0]
    assert len(before) == 1 and before[0] not in after
    assert count == 3
