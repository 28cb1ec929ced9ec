"""Where a root's facts are folded: on the request thread when something besides the store reads
the root (an exporter), on the store writer's thread when the store is its only reader. Both
give the same rows; real stores in a temp dir, the SDK's own provider and exporter."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, set_span_in_context, use_span

from otel_perf import pipeline
from otel_perf.settings import Settings
from otel_perf.storage import open_store, parse_address
from processors import attributes as A
from tests.unit.sinks import ListSink
from tests.unit.spans import server_root
from tests.unit.stored import stored_provider

MS = 1_000_000


class FoldingSink(ListSink):
    folds_roots = True  # as the store writer: roots may reach it unfolded


T0 = 1_780_000_000_000_000_000  # the spans' own clock: durations are exact, not timed


def request(tracer, i: int, path: str, statements: list[tuple[str, int]], status: int = 200):
    """One request at T0 + i s with the given (statement, duration ms) run one after another;
    it lasts 1 ms longer than its statements. Returns the root span."""
    start = T0 + i * 1_000 * MS
    root = server_root(tracer, start, path, path, status)
    context = set_span_in_context(root)
    at = start
    for statement, ms in statements:
        db = tracer.start_span("SELECT", kind=SpanKind.CLIENT, context=context, start_time=at)
        db.set_attribute("db.statement", statement)
        db.set_attribute("db.system", "postgresql")
        at += ms * MS
        db.end(end_time=at)
    root.end(end_time=at + MS)
    return root


def graphql_request(tracer, processor, i: int):
    """A request at T0 + i s: one statement, then a GraphQL operation that runs an N+1 of six
    statements (2 ms each) and reads the cache once (a hit, 1 ms)."""
    start = T0 + i * 1_000 * MS
    root = server_root(tracer, start, "graphql/", "/graphql/")
    context = set_span_in_context(root)
    db = tracer.start_span("SELECT", kind=SpanKind.CLIENT, context=context, start_time=start)
    db.set_attribute("db.statement", "SELECT * FROM session")
    db.end(end_time=start + MS)
    op_start = start + MS
    operation = tracer.start_span(
        "query GetBooks",
        context=context,
        start_time=op_start,
        attributes={
            A.GRAPHQL_PARSING_MS: 0.25,
            A.GRAPHQL_OPERATION_NAME: "GetBooks",
            A.GRAPHQL_OPERATION_TYPE: "query",
        },
    )
    inside = set_span_in_context(operation)
    at = op_start
    for n in range(6):
        db = tracer.start_span("SELECT", kind=SpanKind.CLIENT, context=inside, start_time=at)
        db.set_attribute("db.statement", f"SELECT * FROM author WHERE id = {n}")
        at += 2 * MS
        db.end(end_time=at)
    with use_span(operation, end_on_exit=False):
        processor.record_cache(1, 0, MS)
    operation.end(end_time=at + MS)
    root.end(end_time=at + 2 * MS)
    return root


def workload(tracer) -> list:
    """Ordinary, N+1, slow statement, slow request, server error, excluded path."""
    return [
        request(tracer, 0, "/books/", [("SELECT * FROM book", 2)]),
        request(tracer, 1, "/books/n/", [(f"SELECT * FROM a WHERE id = {i}", 1) for i in range(7)]),
        request(tracer, 2, "/slow-sql/", [("SELECT pg_sleep(0.6)", 600)]),
        request(tracer, 3, "/slow/", [("SELECT 1", 1_200)]),
        request(tracer, 4, "/fails/", [("SELECT 2", 1)], status=500),
        request(tracer, 5, "/health", [("SELECT 3", 1)]),
    ]  # fmt: skip


def run(store: str, exporter: InMemorySpanExporter | None):
    """The workload through a real store writer; with ``exporter``, a second processor (as
    OTLP export adds) reads every span too."""
    settings = Settings(store=store, flush_interval_s=0.05, slow_db_ms=500.0)
    provider = stored_provider(settings, "fold", exporter)
    tracer = provider.get_tracer("t")
    roots = [*workload(tracer), graphql_request(tracer, pipeline.current_processor(), 6)]
    stats = pipeline.stats()
    provider.shutdown()
    return roots, stats


REQUEST_COLUMNS = (
    "endpoint, status_code, error, duration_ms, db_count, db_time_ms, db_slow_count, "
    "db_slowest_ms, db_slowest_fingerprint, n_plus_one_count, is_slow, is_very_slow"
)


def rows(store: str) -> dict:
    con = open_store(parse_address(store), read_only=True)
    try:
        return {
            "requests": con.execute(
                f"SELECT {REQUEST_COLUMNS} FROM requests ORDER BY timestamp"
            ).fetchall(),
            "db_statements": con.execute(
                "SELECT endpoint, fingerprint, statement, calls, total_ms, max_ms, slow_count "
                "FROM db_statements ORDER BY timestamp, fingerprint"
            ).fetchall(),
            "n_plus_one": con.execute(
                "SELECT endpoint, statement, executions, total_ms FROM n_plus_one ORDER BY endpoint"
            ).fetchall(),
            "memory": con.execute(
                "SELECT count(*) FILTER (memory_usage_mb > 0) FROM requests"
            ).fetchone()[0],
            "graphql_operations": con.execute(
                "SELECT operation_name, duration_ms, database_queries, database_ms, cache_hits, "
                "cache_misses, cache_ms, n_plus_one_count, memory_usage_mb > 0 "
                "FROM graphql_operations"
            ).fetchall(),
        }
    finally:
        con.close()


@pytest.fixture(autouse=True)
def _fresh_pipeline():
    yield
    pipeline._processor = None


def test_the_writer_folds_a_root_only_the_store_reads_and_stores_the_same_rows(tmp_path):
    alone_roots, alone_stats = run(str(tmp_path / "alone"), None)
    exporter = InMemorySpanExporter()
    run(str(tmp_path / "exported"), exporter)
    # Only the store read the roots: the request thread left them without facts.
    assert all(A.DB_COUNT not in root.attributes for root in alone_roots)
    operations = [s for s in exporter.get_finished_spans() if s.name == "query GetBooks"]
    assert operations[0].attributes[A.DB_COUNT] == 6  # exported: the operation's facts as tags
    # An exporter reads them: the facts are tags of the exported root.
    by_path = {
        s.attributes["url.path"]: s.attributes
        for s in exporter.get_finished_spans()
        if s.kind == SpanKind.SERVER
    }
    assert len(by_path) == 7
    assert by_path["/books/"][A.DB_COUNT] == 1
    assert by_path["/books/n/"][A.N_PLUS_ONE_COUNT] == 1
    assert by_path["/slow/"][A.SLOW] is True

    alone, exported_rows = rows(str(tmp_path / "alone")), rows(str(tmp_path / "exported"))
    assert alone == exported_rows
    # The figures themselves, against the workload (the excluded /health is not stored).
    assert [(r[0], r[4], r[9], r[10]) for r in alone["requests"]] == [
        ("GET /books/", 1, 0, False),
        ("GET /books/n/", 7, 1, False),
        ("GET /slow-sql/", 1, 0, False),
        ("GET /slow/", 1, 0, True),
        ("GET /fails/", 1, 0, False),
        ("GET /graphql/", 7, 1, False),
    ]
    requests = {r[0]: r for r in alone["requests"]}
    assert requests["GET /fails/"][2] is True  # error
    assert requests["GET /slow-sql/"][6] == 1  # db_slow_count
    assert requests["GET /slow-sql/"][7] == pytest.approx(600.0)
    assert requests["GET /books/n/"][3] == pytest.approx(8.0)  # duration_ms
    assert alone["n_plus_one"] == [
        ("GET /books/n/", "SELECT * FROM a WHERE id = ?", 7, pytest.approx(7.0)),
        ("GET /graphql/", "SELECT * FROM author WHERE id = ?", 6, pytest.approx(12.0)),
    ]
    assert alone["memory"] == 6  # memory read at each request's end, stored with it
    # The operation's own share: its six statements (not the session lookup before it), its
    # N+1, its cache hit, wherever it was folded.
    assert alone["graphql_operations"] == [
        ("GetBooks", pytest.approx(13.0), 6, pytest.approx(12.0), 1, 0, 1.0, 1, True)
    ]
    # The excluded request is neither stored nor counted as dropped.
    assert alone_stats["requests_dropped"] == 0


def test_a_root_started_with_another_processor_present_is_folded_on_its_thread(tmp_path):
    """What decides is whether anything else reads the root: the same processor, sink and
    store, with a second processor, folds before the end."""
    exporter = InMemorySpanExporter()
    roots, _ = run(str(tmp_path / "s"), exporter)
    stored = [r for r in roots if r.attributes["url.path"] != "/health"]
    assert all(A.DB_COUNT in r.attributes for r in stored)
    assert all(A.DB_COUNT not in r.attributes for r in roots if r not in stored)


def test_a_long_root_left_to_the_store_is_folded_before_it_waits_in_the_queue():
    """The queue holds a request until the writer's next commit, or longer while the store is
    down: a root with more statements than FOLD_ON_THREAD_ABOVE goes in folded, so a backlog of
    N+1 requests does not hold one tuple per execution."""
    from processors.perf_processor import FOLD_ON_THREAD_ABOVE, PerfSpanProcessor

    sink = FoldingSink()
    provider = TracerProvider()
    provider.add_span_processor(PerfSpanProcessor(sink, Settings()))
    tracer = provider.get_tracer("t")
    short = [("SELECT 1", 1)] * FOLD_ON_THREAD_ABOVE
    long = [(f"SELECT * FROM a WHERE id = {i}", 1) for i in range(FOLD_ON_THREAD_ABOVE + 1)]
    request(tracer, 0, "/short/", short)
    request(tracer, 1, "/health", short)  # excluded: never queued (nor counted as dropped)
    request(tracer, 2, "/long/", long)
    (_, short_span, short_trace), (_, long_span, long_trace) = sink.items
    assert short_trace.fold_later and short_trace.facts is None
    assert len(short_trace.db) == FOLD_ON_THREAD_ABOVE  # left for the writer
    assert long_trace.facts[A.DB_COUNT] == FOLD_ON_THREAD_ABOVE + 1
    assert long_trace.facts[A.N_PLUS_ONE_COUNT] == 1
    assert long_trace.db == []
    # Either way the span itself is left as it ended: nothing else reads it.
    assert A.DB_COUNT not in short_span.attributes and A.DB_COUNT not in long_span.attributes
    provider.shutdown()


def test_an_operation_left_to_the_store_is_noted_where_it_ended_and_folded_with_its_root():
    from processors.perf_processor import PerfSpanProcessor
    from processors.root_fold import fold_deferred

    sink = FoldingSink()
    processor = PerfSpanProcessor(sink, Settings())
    provider = TracerProvider()
    provider.add_span_processor(processor)
    graphql_request(provider.get_tracer("t"), processor, 0)
    ((kind, root, trace),) = sink.items
    (operation,) = trace.operations
    # The request thread only noted where it ended: 7 statements so far, 1 cache hit.
    assert operation.facts is None and operation.end[:2] == (7, (1, 0, MS))
    assert A.DB_COUNT not in operation.span.attributes
    fold_deferred((kind, root, trace), Settings())
    assert operation.facts[A.DB_COUNT] == 6 and operation.facts[A.N_PLUS_ONE_COUNT] == 1
    assert operation.facts[A.CACHE_HITS] == 1
    assert trace.facts[A.DB_COUNT] == 7  # the root's own fold, after the operation's
    provider.shutdown()


def test_a_long_root_whose_fold_fails_is_still_queued_and_the_failure_counted(monkeypatch):
    from processors import perf_processor

    def broken(item, settings):
        raise RuntimeError("fold failed")

    monkeypatch.setattr(perf_processor, "fold_deferred", broken)
    sink = FoldingSink()
    processor = perf_processor.PerfSpanProcessor(sink, Settings())
    provider = TracerProvider()
    provider.add_span_processor(processor)
    long = [("SELECT 1", 1)] * (perf_processor.FOLD_ON_THREAD_ABOVE + 1)
    request(provider.get_tracer("t"), 0, "/long/", long)
    ((_, _, trace),) = sink.items  # the request still reaches the store
    assert not trace.fold_later  # not folded again from half-released statements
    assert processor.internal_errors == 1
    provider.shutdown()
