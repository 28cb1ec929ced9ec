"""``action=slow_queries``: its statement, in both forms, against the rows (real stores).

The report picks one of two statements by store kind (query_api/queries.py says why): they must
give the same page and summary on any store, and both must be what the rows say. Durations
are multiples of 1/8 with many ties, so the page's order rests on its tie-breakers
(timestamp, then span id); weights 1, 2 or 4 keep every sum exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from otel_perf.settings import Settings
from otel_perf.storage import parse_address
from otel_perf.storage.rows import Columns
from otel_perf.storage.session import StoreSession
from query_api import queries as Q
from query_api.params import Params
from query_api.reports import slow_queries
from query_api.reports.common import fetch_dicts

T0 = datetime(2026, 3, 1)
SLOW_MS = 1000.0


def operations(n: int = 300) -> list[dict]:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(n):
        rows.append(
            {
                "span_id": 1000 + i,
                # Timestamps repeat too: some ties run down to the span id.
                "timestamp": T0 + timedelta(seconds=int(rng.integers(0, 7200)) // 60 * 60),
                "duration_ms": float(rng.choice([500, 1000, 1500, 2000, 2500]))
                + float(rng.integers(0, 2)) / 8,
                "weight": float(rng.choice([1.0, 2.0, 4.0])),
                "operation_name": f"Op{i % 4}",
                "operation_type": "query",
                "query_hash": f"{i % 4:064x}",
                "query_text": "query Op { books { title } }",
                "variables": '{"id":"<redacted>"}',
                "endpoint": "POST /graphql/",
            }
        )
    return rows


def truth(rows: list[dict], start: datetime, end: datetime, limit: int, offset: int):
    slow = [r for r in rows if start <= r["timestamp"] < end and r["duration_ms"] >= SLOW_MS]
    slow.sort(key=lambda r: (-r["duration_ms"], -r["timestamp"].timestamp(), r["span_id"]))
    total = sum(r["weight"] for r in slow)
    summary = {
        "rows": len(slow),
        "total": total if slow else None,
        "avg_ms": sum(r["duration_ms"] * r["weight"] for r in slow) / total if slow else None,
        "slowest_ms": max((r["duration_ms"] for r in slow), default=None),
    }
    return summary, [r["span_id"] for r in slow[offset : offset + limit]]


@pytest.fixture(params=["ducklake", "duckdb"], scope="module")
def store(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    path = str(folder / ("store.duckdb" if request.param == "duckdb" else "store"))
    rows = operations()
    session = StoreSession(parse_address(path))
    try:
        table = Columns("graphql_operations")
        for row in rows:
            table.add(row)
        session.insert([table])
        yield request.param, session.con, rows
    finally:
        session.close()


CASES = [
    (T0, T0 + timedelta(hours=2), 10, 0),
    (T0, T0 + timedelta(hours=2), 7, 21),  # a page in the middle, ties across its edges
    (T0 + timedelta(minutes=30), T0 + timedelta(minutes=70), 50, 0),
    (T0, T0 + timedelta(hours=2), 10, 10_000),  # beyond the last: the summary alone
    (T0 + timedelta(days=1), T0 + timedelta(days=2), 10, 0),  # nothing slow at all
]


@pytest.mark.parametrize(("start", "end", "limit", "offset"), CASES)
def test_both_forms_give_the_rows_page_and_summary(store, start, end, limit, offset):
    _kind, con, rows = store
    parameters = {"start": start, "end": end, "slow_ms": SLOW_MS, "limit": limit}
    parameters["offset"] = offset
    expected_summary, expected_page = truth(rows, start, end, limit, offset)
    for statement in (Q.SLOW_OPERATIONS, Q.SLOW_OPERATIONS_TWO_READS):
        got = fetch_dicts(con, statement, parameters)
        summary = {k: got[0][k] for k in expected_summary}
        assert summary == expected_summary
        assert [r["span_id"] for r in got if r["span_id"] is not None] == expected_page


def test_the_report_reads_the_store_kind_it_is_given(store):
    kind, con, rows = store
    assert con.execute(Q.STORE_TYPE).fetchone()[0] == kind
    params = Params(start=T0, end=T0 + timedelta(hours=2), limit=5, offset=3)
    body = slow_queries.report(con, params, Settings(slow_query_ms=SLOW_MS), T0)
    summary, page = truth(rows, T0, T0 + timedelta(hours=2), 5, 3)
    assert [int(op["id"], 16) for op in body["slow_queries"]] == page
    assert body["pagination"]["total"] == summary["rows"]
