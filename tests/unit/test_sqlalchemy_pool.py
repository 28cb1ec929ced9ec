"""SQLAlchemy pool observation, its samples in a real store, the pool rules and reports, and the
processor's counting of SQLAlchemy statements (real engines on sqlite files, no mocks)."""

from __future__ import annotations

import datetime
import sqlite3
import threading
import time

import pytest

sqlalchemy = pytest.importorskip("sqlalchemy")

from opentelemetry.instrumentation.dbapi import instrument_connection  # noqa: E402
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402
from sqlalchemy.exc import TimeoutError as PoolTimeout  # noqa: E402

from otel_perf.settings import Settings  # noqa: E402
from otel_perf.storage import open_store, parse_address  # noqa: E402
from otel_perf.storage.jobs import JobContext, load_jobs  # noqa: E402
from otel_perf.storage.rows import Columns  # noqa: E402
from otel_perf.storage.session import StoreSession  # noqa: E402
from processors import sqlalchemy_pool as P  # noqa: E402
from processors.perf_processor import PerfSpanProcessor  # noqa: E402
from query_api.bottlenecks import pool as rules  # noqa: E402
from query_api.bottlenecks import run_rules  # noqa: E402
from query_api.params import Params  # noqa: E402
from query_api.reports import pools as report  # noqa: E402
from query_api.reports import stats  # noqa: E402
from query_api.reports.common import fetch_dict  # noqa: E402
from query_api.reports.stats import totals_statement  # noqa: E402
from tests.unit.sinks import ListSink  # noqa: E402

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture
def instrumented():
    instrumentor = P.SQLAlchemyPoolInstrumentor()
    instrumentor.instrument()
    try:
        yield
    finally:
        instrumentor.uninstrument()


def small_engine(tmp_path, **pool):
    return create_engine(f"sqlite:///{tmp_path / 'pool.db'}", **pool)


def hold_concurrently(engine, threads: int, hold_s: float) -> list[tuple[float, bool]]:
    """Each thread checks out a connection, runs a statement and holds it; returns what each
    thread itself measured: (seconds to get a connection, timed out)."""
    barrier = threading.Barrier(threads)
    measured: list[tuple[float, bool]] = []

    def one():
        barrier.wait()
        start = time.perf_counter()
        try:
            with engine.connect() as conn:
                got = time.perf_counter() - start
                conn.execute(text("SELECT 1"))
                time.sleep(hold_s)
            measured.append((got, False))
        except PoolTimeout:
            measured.append((time.perf_counter() - start, True))

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return measured


def test_should_see_an_exhausted_pool_its_waits_and_timeouts(tmp_path, instrumented):
    engine = small_engine(tmp_path, pool_size=2, max_overflow=0, pool_timeout=0.25)
    measured = hold_concurrently(engine, threads=5, hold_s=0.4)
    (row,) = P.sample_pools([engine])
    waited = [got for got, _ in measured if got > 0.1]
    assert row["size"] == 2 and row["max_overflow"] == 0
    assert row["usage"] == 1.0
    assert row["checked_out"] == 0 and row["overflow"] == 0
    # Two threads got a connection at once; the three others waited and gave up at 0.25 s.
    assert row["waits"] == len(waited) == 3
    assert row["timeouts"] == sum(1 for _, out in measured if out) == 3
    # Our timing is inside the thread's own: at most what it saw, within a few ms of it.
    assert max(waited) - 0.02 <= row["wait_ms_max"] / 1000 <= max(waited)
    assert row["wait_ms_total"] / 1000 <= sum(waited)
    assert row["pool_name"] == f"sqlite:///{tmp_path / 'pool.db'}"
    # The next interval starts from what is checked out then: nothing, no waits.
    (after,) = P.sample_pools([engine])
    assert (after["usage"], after["waits"], after["timeouts"]) == (0.0, 0, 0)


def test_should_count_no_wait_when_overflow_has_room(tmp_path, instrumented):
    engine = small_engine(tmp_path, pool_size=1, max_overflow=3)
    hold_concurrently(engine, threads=3, hold_s=0.1)
    (row,) = P.sample_pools([engine])
    assert row["usage"] == 3 / 4
    assert row["waits"] == 0
    assert P.stats_of(engine.pool).connects == 3


def test_should_follow_the_pool_an_engine_gets_after_dispose(tmp_path, instrumented):
    engine = small_engine(tmp_path, pool_size=2, max_overflow=0)
    with engine.connect():
        pass
    engine.dispose()
    with engine.connect() as a, engine.connect() as b:
        a.execute(text("SELECT 1"))
        b.execute(text("SELECT 1"))
        (row,) = P.sample_pools([engine])
    assert row["checked_out"] == 2 and row["usage"] == 1.0


def test_should_name_pools_without_credentials(instrumented):
    engine = create_engine(
        "postgresql+psycopg://alice:s3cret@db.example:5432/shop?sslpassword=x", pool_size=1
    )
    assert P.pool_name(engine) == "postgresql+psycopg://db.example:5432/shop"
    assert engine in P._engines  # registered at creation: no user code


def test_should_leave_unbounded_pools_without_usage(tmp_path, instrumented):
    engine = small_engine(tmp_path, pool_size=2, max_overflow=-1)
    with engine.connect():
        pass
    (row,) = P.sample_pools([engine])
    assert row["usage"] is None


def test_job_writes_pool_samples_rows_into_the_store(tmp_path, instrumented):
    engine = small_engine(tmp_path, pool_size=2, max_overflow=0, pool_timeout=5)
    hold_concurrently(engine, threads=3, hold_s=0.2)
    address = parse_address(str(tmp_path / "store.duckdb"))
    session = StoreSession(address)
    try:
        (job,) = [j for j in load_jobs(Settings()) if j.name == "pool_samples"]
        assert job.interval_s == 10.0 and job.elect is None
        ctx = JobContext(session.con, Settings(), NOW, "host-a", "svc", "inst/1", 1, address)
        tables = job.run(ctx)
        session.insert(tables)
        rows = session.con.execute(
            "SELECT host_name, service_instance, size, usage, waits, timeouts "
            "FROM pool_samples WHERE pool_name = ?",
            [P.pool_name(engine)],
        ).fetchall()
    finally:
        session.close()
    assert rows == [("host-a", "inst/1", 2, 1.0, 1, 0)]


# -- reports and rules over stored samples ---------------------------------------------------
def store_samples(tmp_path, samples: list[dict]):
    address = parse_address(str(tmp_path / "rules.duckdb"))
    session = StoreSession(address)
    columns = Columns("pool_samples")
    for s in samples:
        columns.add(
            {
                "host_name": "h",
                "service_name": "svc",
                "service_instance": "h/1",
                "size": 2,
                "max_overflow": 0,
                "checked_out": 0,
                "overflow": 0,
                "waits": 0,
                "wait_ms_total": 0.0,
                "wait_ms_max": 0.0,
                "timeouts": 0,
                **s,
            }
        )
    session.insert([columns])
    session.close()
    return open_store(address, read_only=True)


def minutes_ago(m: float) -> datetime.datetime:
    return NOW - datetime.timedelta(minutes=m)


def test_rules_should_raise_exhaustion_and_long_waits(tmp_path):
    con = store_samples(
        tmp_path,
        [
            {"timestamp": minutes_ago(3), "pool_name": "pg", "usage": 0.5},
            {
                "timestamp": minutes_ago(2),
                "pool_name": "pg",
                "usage": 1.0,
                "waits": 4,
                "wait_ms_total": 2600.0,
                "wait_ms_max": 1200.0,
            },
            {"timestamp": minutes_ago(1), "pool_name": "pg", "usage": 1.0, "timeouts": 1},
            {"timestamp": minutes_ago(1), "pool_name": "quiet", "usage": 0.5},
            # Outside the 5-minute window: not judged.
            {"timestamp": minutes_ago(20), "pool_name": "old", "usage": 1.0},
        ],
    )
    settings = Settings()
    try:
        (exhausted,) = rules.pool_exhausted(con, settings, NOW)
        (wait,) = rules.pool_long_wait(con, settings, NOW)
        names = [
            "query_api.bottlenecks.pool:pool_exhausted",
            "query_api.bottlenecks.pool:pool_long_wait",
        ]
        assert len(run_rules(con, settings, NOW, names)) == 2
        window = {"start": minutes_ago(10), "end": NOW}
        thresholds = {"slow_ms": 1000.0, "max_complexity": 100}
        totals = fetch_dict(con, *totals_statement(window, thresholds))  # stats' statement
        assert (round(totals["pool_usage"], 4), totals["pool_samples"]) == (round(3.0 / 4, 4), 4)
        (section,) = [
            p
            for p in report.section(con, {"start": minutes_ago(10), "end": NOW}, 10)
            if p["pool"] == "pg"
        ]
    finally:
        con.close()
    assert (exhausted.type, exhausted.subject, exhausted.severity) == (
        "pool_exhausted",
        "pg",
        "critical",
    )
    assert exhausted.worst_value == 2 / 3  # two of the three samples at 1.0
    assert exhausted.first_seen == minutes_ago(2) and exhausted.last_seen == minutes_ago(1)
    assert exhausted.details["waits"] == 4 and exhausted.details["timeouts"] == 1
    assert (wait.type, wait.subject, wait.worst_value) == ("pool_long_wait", "pg", 1200.0)
    assert wait.severity == "error"  # 1200 ms is over 2x the 500 ms threshold
    assert wait.details["avg_wait_ms"] == 650.0
    assert section["peak_usage"] == 1.0 and section["exhausted_samples"] == 2
    assert section["waits"] == 4 and section["avg_wait_ms"] == 650.0 and section["timeouts"] == 1


def test_rules_should_rate_exhaustion_without_waits_a_warning(tmp_path):
    con = store_samples(tmp_path, [{"timestamp": minutes_ago(1), "pool_name": "pg", "usage": 1.0}])
    try:
        (found,) = rules.pool_exhausted(con, Settings(), NOW)
        assert rules.pool_long_wait(con, Settings(), NOW) == []
    finally:
        con.close()
    assert found.severity == "warning"


def test_usage_is_null_without_samples(tmp_path):
    con = store_samples(tmp_path, [])
    try:
        body = stats.report(con, Params(start=minutes_ago(10), end=NOW), Settings(), NOW)
        assert body["database_stats"]["connection_pool_usage"] is None
        assert report.section(con, {"start": minutes_ago(10), "end": NOW}, 10) == []
    finally:
        con.close()


# -- the processor counts a SQLAlchemy statement once, not once per instrumentation ---------
def test_processor_counts_sqlalchemy_and_driver_spans_of_one_statement_once(tmp_path):
    provider = TracerProvider()
    sink = ListSink()
    provider.add_span_processor(PerfSpanProcessor(sink, Settings(n_plus_one_threshold=3)))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    path = str(tmp_path / "twins.db")

    def connect():  # the driver's own spans, as the sqlite3 instrumentation makes them
        return instrument_connection(
            "sqlite3", sqlite3.connect(path), "sqlite", tracer_provider=provider
        )

    engine = create_engine("sqlite://", creator=connect)
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider)
    with engine.connect():  # the dialect's first-connect statements (driver only): not here
        pass
    executed = []
    event.listen(engine, "before_cursor_execute", lambda *a: executed.append(a[2]))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes={"http.route": "/x"}):
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER)"))
            for i in range(4):
                conn.execute(text("SELECT id FROM t WHERE id = :i"), {"i": i})
    (_, root, _trace) = sink.items[0]
    assert len(executed) == 5
    assert root.attributes["perf.db.count"] == 5
    assert root.attributes["perf.n_plus_one.executions"] == (4,)
    # Both instrumentations made a span per statement: the driver's are the twins.
    scopes = [
        s.instrumentation_scope.name
        for s in exporter.get_finished_spans()
        if "db.statement" in s.attributes and s.start_time > root.start_time
    ]
    assert scopes.count("opentelemetry.instrumentation.sqlalchemy") == 5
    assert scopes.count("sqlite3") == 5
