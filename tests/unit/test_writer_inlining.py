"""The writer's commits follow its own settings' inline row limit (no process-wide override).

Real DuckLake stores in temp dirs; what landed where is read from the catalog.
"""

from __future__ import annotations

import dataclasses
import time

from otel_perf.settings import Settings
from otel_perf.storage import open_store, parse_address
from otel_perf.storage.rows import Columns
from otel_perf.storage.writer import WRITER_THREADS, StoreWriter

DATA_FILES = """
SELECT count(*) FROM __ducklake_metadata_perf.ducklake_data_file f
JOIN __ducklake_metadata_perf.ducklake_table t ON t.table_id = f.table_id
WHERE t.table_name = 'service_instances' AND f.end_snapshot IS NULL
"""


def heartbeats(store: str, limit: int) -> tuple[int, int, int]:
    """Commit two heartbeat rows through a StoreWriter whose settings carry ``limit``;
    (rows, Parquet files of the table, DuckDB threads of the writer's connection)."""
    settings = dataclasses.replace(Settings(store=store), inline_row_limit=limit)
    writer = StoreWriter(parse_address(store), settings, {"service.name": "unit"})
    session = writer._open(force=True)
    threads = session.con.execute("SELECT current_setting('threads')").fetchone()[0]
    writer._heartbeat()
    writer._heartbeat()
    writer._drop_session()
    con = open_store(parse_address(store), read_only=True)
    try:
        rows = con.execute("SELECT count(*) FROM service_instances").fetchone()[0]
        return rows, con.execute(DATA_FILES).fetchone()[0], threads
    finally:
        con.close()


def test_a_limit_of_zero_should_write_a_parquet_file_per_commit(tmp_path):
    assert heartbeats(str(tmp_path / "store"), 0) == (2, 2, WRITER_THREADS)


def test_commits_under_the_limit_should_stay_in_the_catalog(tmp_path):
    assert heartbeats(str(tmp_path / "store"), 100) == (2, 0, WRITER_THREADS)


def test_the_default_limit_should_send_a_large_commit_to_parquet(tmp_path):
    store = str(tmp_path / "store")
    limit = Settings().inline_row_limit
    writer = StoreWriter(parse_address(store), Settings(store=store), {"service.name": "unit"})
    session = writer._open(force=True)
    rows = Columns("service_instances")
    now = int(time.time() * 1_000_000)
    for i in range(limit + 1):
        rows.add({"instance_id": f"i{i}", "service_name": "unit", "last_seen": now})
    session.insert([rows])
    writer._drop_session()
    con = open_store(parse_address(store), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM service_instances").fetchone()[0] == limit + 1
        assert con.execute(DATA_FILES).fetchone()[0] == 1
    finally:
        con.close()
