"""Maintenance gives the SQLite catalog's free pages back, with other processes using the store.

Real DuckLake stores in temp dirs; the concurrent reader and writer are real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

from otel_perf.storage import open_store, parse_address
from otel_perf.storage.catalog_space import free_space, reclaim
from otel_perf.storage.maintenance import CHECKPOINT
from otel_perf.storage.rows import Columns
from otel_perf.storage.session import StoreSession

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def requests_rows(first: int, count: int) -> Columns:
    """``count`` requests of the last hour (older ones would be maintenance's to delete)."""
    start = int(time.time() * 1_000_000) - 3_600_000_000
    columns = Columns("requests")
    for i in range(first, first + count):
        columns.add(
            {
                "timestamp": start + i,
                "trace_id": i.to_bytes(16, "big"),
                "span_id": i + 1,
                "service_name": "unit",
                "endpoint": f"GET /items/{i % 7}/",
                "duration_ms": float(i),
                "weight": 1.0,
            }
        )
    return columns


def fill_inlined(store: str, commits: int, per_commit: int) -> None:
    """Small commits, each inlined in the catalog (as a quiet app's writer makes them)."""
    session = StoreSession(parse_address(store), inline_row_limit=10_000)
    try:
        for c in range(commits):
            session.insert([requests_rows(c * per_commit, per_commit)])
    finally:
        session.close()


def totals(store: str) -> tuple[int, float]:
    con = open_store(parse_address(store), read_only=True)
    try:
        count, total = con.execute("SELECT count(*), sum(duration_ms) FROM requests").fetchone()
        return count, total
    finally:
        con.close()


def test_reclaim_should_return_the_pages_a_checkpoint_freed_and_keep_every_row(tmp_path):
    store = str(tmp_path / "store")
    fill_inlined(store, commits=50, per_commit=60)
    address = parse_address(store)
    session = StoreSession(address)
    try:
        session.con.execute(CHECKPOINT)  # inlined rows move to Parquet, their pages go free
    finally:
        session.close()
    free, total = free_space(address.catalog_path)
    assert free > 0.25 * total and free > 256 << 10  # what the thresholds are for

    reclaimed = reclaim(address.catalog_path)

    free_after, total_after = free_space(address.catalog_path)
    assert free_after == 0
    assert reclaimed >= free  # the file lost at least the free pages
    assert total_after <= total - free
    n = 50 * 60
    assert totals(store) == (n, float(sum(range(n))))


def test_reclaim_should_leave_a_catalog_without_much_free_space_alone(tmp_path):
    store = str(tmp_path / "store")
    fill_inlined(store, commits=3, per_commit=5)
    catalog = parse_address(store).catalog_path
    size = os.path.getsize(catalog)
    assert reclaim(catalog) == 0
    assert os.path.getsize(catalog) == size


READER = textwrap.dedent(
    """
    import json, os, sys, time
    from query_api.store import StoreReader
    reader = StoreReader(sys.argv[1])  # the API's: kept attached, as a server
    seen, errors, deadline = [], [], time.time() + float(sys.argv[2])
    while time.time() < deadline and not os.path.exists(sys.argv[1] + "/done"):
        try:
            with reader.cursor() as cur:
                seen.append(cur.execute("SELECT count(*) FROM requests").fetchone()[0])
            if len(seen) == 1:
                open(sys.argv[1] + "/reading", "w").close()
        except Exception as exc:
            errors.append(str(exc))
        time.sleep(0.01)
    print(json.dumps({"seen": seen, "errors": errors}))
    """
)

WRITER = textwrap.dedent(
    """
    import json, sys
    from otel_perf.storage import parse_address
    from otel_perf.storage.session import StoreSession
    from tests.unit.test_catalog_space import requests_rows
    session = StoreSession(parse_address(sys.argv[1]), inline_row_limit=10_000)
    first, commits, per_commit = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    for c in range(commits):
        session.insert([requests_rows(first + c * per_commit, per_commit)])
        if c == 0:
            open(sys.argv[1] + "/writing", "w").close()
    session.close()
    print(json.dumps({"written": commits * per_commit}))
    """
)


def test_maintenance_should_reclaim_catalog_space_while_other_processes_read_and_write(
    tmp_path,
):
    store = str(tmp_path / "store")
    before = 50 * 60
    fill_inlined(store, commits=50, per_commit=60)
    env = {**os.environ, "PYTHONPATH": ROOT}
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, store, "300"], env=env, stdout=subprocess.PIPE, text=True
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, store, str(before), "40", "10"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not all(os.path.exists(os.path.join(store, f)) for f in ("reading", "writing")):
        assert time.monotonic() < deadline, "the reader or the writer did not start"
        assert reader.poll() is None and writer.poll() is None
        time.sleep(0.05)
    address = parse_address(store)
    session = StoreSession(address)
    try:
        session.maintain()  # retention, checkpoint, then the catalog's free pages
    finally:
        session.close()
    written = json.loads(writer.communicate(timeout=300)[0])["written"]
    open(os.path.join(store, "done"), "w").close()
    read = json.loads(reader.communicate(timeout=300)[0])
    assert writer.returncode == 0 and reader.returncode == 0

    assert read["errors"] == []
    assert read["seen"], "the reader never got an answer"
    assert read["seen"] == sorted(read["seen"])  # never a row lost or counted twice
    assert before <= read["seen"][0] and read["seen"][-1] <= before + written
    n = before + written
    assert totals(store) == (n, float(sum(range(n))))
    # The space came back: what is free now is at most what the writer's rows left after
    # the vacuum (they stay inlined until the next maintenance), not the 3,000 flushed rows'.
    free, total = free_space(address.catalog_path)
    assert free < 0.25 * total
