"""The hourly totals (otel_perf/storage/rollup.py) against the rows, on real stores in tmp_path.

stats' totals read whole hours from ``hourly_totals`` and the partial hours from the rows; they
must be the figures the rows give, after inserts (late rows included), retention, compaction,
a migration from schema 3 (or 5, for the GraphQL operations) and an import. Values are
multiples of 1/8 and weights 1, 2 or 4, so every sum is exact in any order and the comparisons
are equalities. The expected figures come
from numpy over the generated rows, and from the raw statements (REQUEST_OVERVIEW,
SLOW_DB_STATEMENTS, OPERATION_OVERVIEW) over the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from otel_perf.storage import open_store, parse_address, rollup, schema
from otel_perf.storage.retention import cleanup
from otel_perf.storage.rows import Columns
from otel_perf.storage.session import StoreSession
from query_api import queries as Q
from query_api import queries_pool as QP
from query_api.reports.common import EARLIEST, LATEST, fetch_dict
from query_api.reports.stats import OPERATION_FIGURES, totals_statement
from query_api.reports.stats import totals as stats_totals

T0 = datetime(2026, 3, 1, 0, 0, 0)
HOURS = 6


def make_rows(seed: int, n: int, start: datetime = T0, hours: float = HOURS) -> dict:
    """Requests, their DB statement rows and GraphQL operations as plain lists (numpy
    draws); about half the operations are slow or over the complexity limit (``THRESHOLDS``)."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.integers(0, int(hours * 3600e6), n))
    requests = [
        {
            "timestamp": start + timedelta(microseconds=int(offsets[i])),
            "duration_ms": float(rng.integers(1, 8000)) / 8,
            "error": bool(rng.random() < 0.2),
            "db_count": int(rng.integers(0, 9)),
            "db_time_ms": float(rng.integers(0, 800)) / 8,
            "cache_time_ms": float(rng.integers(0, 80)) / 8,
            "memory_usage_mb": None if rng.random() < 0.3 else float(rng.integers(800, 1600)) / 8,
            "cache_hits": int(rng.integers(0, 5)),
            "cache_misses": int(rng.integers(0, 3)),
            "weight": float(rng.choice([1.0, 2.0, 4.0])),
        }
        for i in range(n)
    ]
    statements = [
        {
            "timestamp": r["timestamp"],
            "slow_count": int(rng.integers(0, 3)),
            "weight": r["weight"],
            "fingerprint": int(rng.integers(0, 5)),
        }
        for r in requests
        for _ in range(int(rng.integers(0, 3)))
    ]
    operations = [
        {
            "timestamp": r["timestamp"],
            "duration_ms": float(rng.integers(8, 16000)) / 8,
            "complexity_score": None if rng.random() < 0.2 else int(rng.integers(1, 200)),
            "weight": r["weight"],
        }
        for r in requests
        if rng.random() < 0.4
    ]
    pools = [
        {
            "timestamp": r["timestamp"],
            "pool_name": "pg",
            "usage": None if rng.random() < 0.25 else float(rng.integers(0, 9)) / 8,
        }
        for r in requests
        # From the third hour only: windows whose partial first hour has no pool sample
        # (stats then reads no pool_samples rows for it) and windows whose has some.
        if rng.random() < 0.3 and r["timestamp"] >= start + timedelta(hours=2)
    ]
    return {
        "requests": requests,
        "db_statements": statements,
        "graphql_operations": operations,
        "pool_samples": pools,
    }


def columns(rows: dict) -> list[Columns]:
    tables = []
    for table, items in rows.items():
        c = Columns(table)
        for i, item in enumerate(items):
            c.add({"span_id": i, "endpoint": "GET /a/", **item})
        tables.append(c)
    return tables


def expected(rows: dict, start: datetime, end: datetime) -> dict:
    """The stats figures of [start, end), computed with numpy from the generated rows."""
    req = [r for r in rows["requests"] if start <= r["timestamp"] < end]
    st = [s for s in rows["db_statements"] if start <= s["timestamp"] < end]
    w = np.array([r["weight"] for r in req])

    def col(name):
        return np.array([r[name] for r in req], dtype=float)

    def mean(name):
        return float((col(name) * w).sum() / w.sum()) if len(req) else None

    mem = [(r["memory_usage_mb"], r["weight"]) for r in req if r["memory_usage_mb"] is not None]
    return (
        operation_figures(rows, start, end, THRESHOLDS)
        | pool_figures(rows, start, end)
        | {
            "total": float(w.sum()) if len(req) else None,
            "avg_ms": mean("duration_ms"),
            "error_rate": mean("error"),
            "avg_db_ms": mean("db_time_ms"),
            "avg_cache_ms": mean("cache_time_ms"),
            "avg_memory_mb": sum(m * x for m, x in mem) / sum(x for _, x in mem) if mem else None,
            "cache_hits": float((col("cache_hits") * w).sum()) if len(req) else None,
            "cache_misses": float((col("cache_misses") * w).sum()) if len(req) else None,
            "avg_queries": mean("db_count"),
            "slow_db": float(sum(s["slow_count"] * s["weight"] for s in st)),
        }
    )


def pool_figures(rows: dict, start: datetime, end: datetime) -> dict:
    """POOL_USAGE's figures of [start, end) over the generated samples."""
    usage = [p["usage"] for p in rows["pool_samples"] if start <= p["timestamp"] < end]
    usage = [u for u in usage if u is not None]
    return {"pool_usage": sum(usage) / len(usage) if usage else None, "pool_samples": len(usage)}


def operation_figures(rows: dict, start: datetime, end: datetime, thresholds: dict) -> dict:
    """OPERATION_OVERVIEW's figures of [start, end), by plain Python over the generated rows."""
    ops = [o for o in rows["graphql_operations"] if start <= o["timestamp"] < end]
    scored = [(o["complexity_score"], o["weight"]) for o in ops if o["complexity_score"]]
    weight = sum(o["weight"] for o in ops)
    return {
        "op_avg_ms": sum(o["duration_ms"] * o["weight"] for o in ops) / weight if ops else None,
        "op_avg_complexity": sum(c * w for c, w in scored) / sum(w for _, w in scored)
        if scored
        else None,
        "op_max_complexity": max((c for c, _ in scored), default=None),
        "op_high_complexity": sum(w for c, w in scored if c > thresholds["max_complexity"]),
        "op_slow": sum(o["weight"] for o in ops if o["duration_ms"] >= thresholds["slow_ms"]),
    }


THRESHOLDS = {"slow_ms": 1000.0, "max_complexity": 100}  # the settings' defaults


def totals(con, start: datetime, end: datetime, thresholds: dict = THRESHOLDS) -> dict:
    """stats' totals, as the report reads them (the partial hours of the tables with rows
    there), and the same reading every table's partial hours: they must agree."""
    window = {"start": start, "end": end}
    figures = stats_totals(con, window, thresholds)
    assert figures == fetch_dict(con, *totals_statement(window, thresholds)), (start, end)
    figures.pop("op_total")
    assert figures.pop("op_thresholds_match") == (thresholds == THRESHOLDS)
    return figures


def raw(con, start: datetime, end: datetime, thresholds: dict = THRESHOLDS) -> dict:
    window = {"start": start, "end": end}
    figures = fetch_dict(con, Q.REQUEST_OVERVIEW, window)
    figures["slow_db"] = float(con.execute(Q.SLOW_DB_STATEMENTS, window).fetchone()[0])
    ops = fetch_dict(con, Q.OPERATION_OVERVIEW, {**window, **thresholds})
    pool = fetch_dict(con, QP.POOL_USAGE, window)
    return (
        figures
        | {f"op_{name}": ops[name] for name in OPERATION_FIGURES}
        | {"pool_usage": pool["usage"], "pool_samples": pool["samples"]}
    )


WINDOWS = [
    (EARLIEST, LATEST),  # all data: the totals alone
    (T0 + timedelta(hours=1), T0 + timedelta(hours=4)),  # whole hours only
    (T0 + timedelta(minutes=37), T0 + timedelta(hours=4, minutes=5)),  # both edges partial
    (T0 + timedelta(hours=2, minutes=10), T0 + timedelta(hours=2, minutes=50)),  # in one hour
    (T0 + timedelta(minutes=59, seconds=59), LATEST),  # open end
    (T0 - timedelta(days=3), T0 - timedelta(days=2)),  # before any row
]


def assert_all_windows_agree(con, rows: dict) -> None:
    for start, end in WINDOWS:
        want = expected(rows, start, end)
        assert raw(con, start, end) == want, (start, end)  # the reference itself is right
        assert totals(con, start, end) == want, (start, end)


@pytest.fixture(params=["lake", "file.duckdb"])
def store(request, tmp_path):
    return str(tmp_path / request.param)


def test_should_give_the_figures_of_the_rows_in_every_window_with_late_rows(store):
    first = make_rows(1, 400)
    # A second writer's batch: rows for hours the first batch already covered, committed later.
    late = make_rows(2, 150, start=T0 + timedelta(minutes=20), hours=3)
    session = StoreSession(parse_address(store))
    try:
        session.insert(columns(first))
        session.insert(columns(late))
        every = {t: first[t] + late[t] for t in first}
        assert_all_windows_agree(session.con, every)
        hours = session.con.execute(f"SELECT count(*) FROM {rollup.TABLE}").fetchone()[0]
        assert hours > HOURS  # two batches touched the same hours: several rows per hour
        assert rollup.compact(session.con)
        assert session.con.execute(
            f"SELECT count(*), count(DISTINCT hour) FROM {rollup.TABLE}"
        ).fetchone() == (HOURS, HOURS)
        assert not rollup.compact(session.con)  # nothing left to fold
        assert_all_windows_agree(session.con, every)
    finally:
        session.close()


def test_should_take_deleted_rows_out_of_the_totals_under_retention(store):
    rows = make_rows(3, 500)
    # The highest complexity of all, deleted from the hour that keeps part of its rows: the
    # maximum must go with it (a maximum cannot be subtracted; rollup.MAX_AFTER_RETENTION).
    top = {"timestamp": T0 + timedelta(hours=2, minutes=10), "duration_ms": 1.0,
           "complexity_score": 10_000, "weight": 1.0}  # fmt: skip
    rows["graphql_operations"].append(top)
    now = T0 + timedelta(days=10)
    # A cutoff inside an hour (2 h 25 min after T0): that hour keeps part of its rows.
    days = (now - (T0 + timedelta(hours=2, minutes=25))).total_seconds() / 86400
    session = StoreSession(parse_address(store))
    try:
        session.insert(columns(rows))
        assert totals(session.con, EARLIEST, LATEST)["op_max_complexity"] == 10_000
        # batch_rows=37: many small delete transactions, each with its totals.
        result = cleanup(session.con, days, now=now, batch_rows=37)
        assert result.complete and result.deleted["requests"] > 37
        cutoff = result.cutoff
        kept = {t: [r for r in rows[t] if r["timestamp"] >= cutoff] for t in rows}
        assert_all_windows_agree(session.con, kept)
        assert top not in kept["graphql_operations"]
        rollup.compact(session.con)  # hours with no rows left go
        first_hour = session.con.execute(f"SELECT min(hour) FROM {rollup.TABLE}").fetchone()[0]
        assert first_hour == T0 + timedelta(hours=2)
        assert_all_windows_agree(session.con, kept)
    finally:
        session.close()


def store_at_version(address, version: int, rows: dict, before_rows=None) -> None:
    """A store at schema ``version`` holding ``rows`` as a writer of that version left them:
    without their totals. ``before_rows(con)`` shapes the schema first."""
    con = open_store(address)
    try:
        con.execute(schema.CREATE_META)
        for v in range(1, version + 1):
            for statement in schema.MIGRATIONS[v]:
                con.execute(statement, rollup.parameters(statement))
            con.execute(schema.WRITE_VERSION, [str(v)])
        if before_rows is not None:
            before_rows(con)
        for table in columns(rows):
            con.register("batch", table.to_arrow())
            con.execute(f"INSERT INTO {table.table} BY NAME SELECT * FROM batch")
            con.unregister("batch")
    finally:
        con.close()


def assert_migrated_with_totals(address, rows: dict) -> None:
    session = StoreSession(address)
    try:
        assert schema.current_version(session.con) == schema.SCHEMA_VERSION
        assert_all_windows_agree(session.con, rows)
    finally:
        session.close()


def test_should_fill_the_totals_when_migrating_a_schema_3_store(store):
    rows = make_rows(4, 300)
    address = parse_address(store)
    store_at_version(address, 3, rows)
    con = open_store(address, read_only=True)
    try:
        assert rollup.TABLE not in [r[0] for r in con.execute("SHOW TABLES").fetchall()]
    finally:
        con.close()
    assert_migrated_with_totals(address, rows)


def test_should_add_imported_rows_to_the_totals(tmp_path):
    from otel_perf.commands.store_admin import export_store, import_export

    rows = make_rows(5, 200)
    source = StoreSession(parse_address(str(tmp_path / "source")))
    try:
        source.insert(columns(rows))
        export_store(source.con, str(tmp_path / "export"), None, None)
    finally:
        source.close()
    target = StoreSession(parse_address(str(tmp_path / "target.duckdb")))
    try:
        import_export(target.con, str(tmp_path / "export"))
        assert_all_windows_agree(target.con, rows)
    finally:
        target.close()


def test_should_fill_the_operation_totals_when_migrating_a_schema_5_store(tmp_path):
    rows = make_rows(7, 300)
    address = parse_address(str(tmp_path / "lake"))

    def schema_5_totals(con) -> None:  # no operation or pool columns, no thresholds
        con.execute(f"DROP TABLE {rollup.TABLE}")
        schema_5 = [c for c in rollup.COLUMNS if c not in rollup.SCHEMA_6_COLUMNS]
        con.execute(schema._create(rollup.TABLE, schema_5))

    store_at_version(address, 5, rows, schema_5_totals)
    con = open_store(address)
    try:
        for table in rollup.SCHEMA_4_SOURCES:  # the totals schema 5 writers kept
            sums = rollup.SOURCES[table]
            names = ", ".join(name for name, _, _, _ in sums)
            select = ", ".join(expression for _, _, expression, _ in sums)
            con.execute(
                f"INSERT INTO {rollup.TABLE} (hour, {names}) "
                f"SELECT date_trunc('hour', timestamp), {select} FROM {table} GROUP BY 1"
            )
    finally:
        con.close()
    assert_migrated_with_totals(address, rows)


def test_should_count_slow_and_complex_operations_over_the_rows_for_other_thresholds(tmp_path):
    """Totals counted with one set of thresholds cannot answer for another: the report counts
    those two figures over the rows, and every other figure still comes from the totals."""
    from otel_perf.settings import Settings
    from query_api.params import Params
    from query_api.reports import stats

    rows = make_rows(8, 300)
    other = {"slow_ms": 500.0, "max_complexity": 40}
    session = StoreSession(parse_address(str(tmp_path / "lake")))
    try:
        session.insert(columns(rows))
        got = totals(session.con, EARLIEST, LATEST, other)
        want = operation_figures(rows, EARLIEST, LATEST, other)
        assert got["op_slow"] != want["op_slow"]  # the totals' counts are the defaults'
        assert raw(session.con, EARLIEST, LATEST, other) == expected(rows, EARLIEST, LATEST) | {
            "op_slow": want["op_slow"],
            "op_high_complexity": want["op_high_complexity"],
        }
        settings = Settings(slow_query_ms=500.0, graphql_max_complexity=40)
        body = stats.report(session.con, Params(start=EARLIEST), settings, T0)
    finally:
        session.close()
    assert body["overview"]["slow_queries_count"] == want["op_slow"]
    assert body["query_complexity"]["high_complexity_queries"] == want["op_high_complexity"]
    assert body["query_complexity"]["max_complexity"] == want["op_max_complexity"]


def test_a_writer_should_count_its_totals_with_its_own_settings_thresholds(tmp_path):
    """A writer built with explicit settings (not the process's) records their thresholds: a
    reader with the same settings reads every figure from the totals."""
    import dataclasses

    from otel_perf.settings import Settings
    from otel_perf.storage.writer import StoreWriter

    rows = make_rows(9, 300)
    other = {"slow_ms": 500.0, "max_complexity": 40}
    store = str(tmp_path / "lake")
    settings = dataclasses.replace(
        Settings(store=store), slow_query_ms=500.0, graphql_max_complexity=40
    )
    writer = StoreWriter(parse_address(store), settings, {"service.name": "unit"})
    session = writer._open(force=True)
    try:
        session.insert(columns(rows))
        window = {"start": EARLIEST, "end": LATEST}
        figures = stats_totals(session.con, window, other)
    finally:
        writer._drop_session()
    assert figures["op_thresholds_match"]
    want = operation_figures(rows, EARLIEST, LATEST, other)
    assert (figures["op_slow"], figures["op_high_complexity"]) == (
        want["op_slow"],
        want["op_high_complexity"],
    )


def test_should_compare_the_two_trend_windows_read_together(tmp_path):
    """stats' trends read both windows in one statement; an empty window gives no trend."""
    from query_api.reports.common import trend
    from query_api.reports.stats import recent_trends

    end = T0 + timedelta(hours=2)
    rows = make_rows(6, 300, start=T0, hours=2)
    session = StoreSession(parse_address(str(tmp_path / "t.duckdb")))
    try:
        session.insert(columns(rows))
        got = recent_trends(session.con, end)
        windows = [(T0, T0 + timedelta(hours=1)), (T0 + timedelta(hours=1), end)]
        previous, current = (expected(rows, *w) for w in windows)
        assert got == {
            "response_time_trend": trend(previous["avg_ms"], current["avg_ms"]),
            "error_rate_trend": trend(previous["error_rate"], current["error_rate"]),
            "memory_usage_trend": trend(previous["avg_memory_mb"], current["avg_memory_mb"]),
        }
        assert None not in got.values()
        # An hour later the current window is empty: no trend, and no error.
        assert set(recent_trends(session.con, end + timedelta(hours=1)).values()) == {None}
    finally:
        session.close()
