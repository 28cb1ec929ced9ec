"""The processor against a real SDK TracerProvider with an in-memory exporter."""

import asyncio

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode, set_span_in_context

from otel_perf.settings import Settings
from otel_perf.tracking import track
from processors.perf_processor import PerfSpanProcessor
from processors.sampling import RecordEverything
from tests.unit.sinks import ListSink


@pytest.fixture
def pipeline():
    def build(settings=None, sampler=None):
        sink = ListSink()
        provider = TracerProvider(sampler=sampler) if sampler else TracerProvider()
        processor = PerfSpanProcessor(sink, settings or Settings())
        exporter = InMemorySpanExporter()
        provider.add_span_processor(processor)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider.get_tracer("test"), processor, sink, exporter

    return build


def request(tracer, statements, route="books/", path="/books/?page=2", status=200, parent=None):
    with tracer.start_as_current_span(
        "GET",
        kind=SpanKind.SERVER,
        context=parent,
        attributes={"http.request.method": "GET", "http.route": route, "url.path": path},
    ) as root:
        for sql in statements:
            with tracer.start_as_current_span("db", kind=SpanKind.CLIENT) as db:
                db.set_attribute("db.statement", sql)
                db.set_attribute("db.system", "sqlite")
        root.set_attribute("http.response.status_code", status)
    return root


def test_should_fold_db_facts_into_the_exported_root(pipeline):
    tracer, _, sink, exporter = pipeline()
    request(tracer, ['SELECT "a" FROM "t" WHERE "id" = %s'] * 6 + ["SELECT 1"])
    root = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER][0]
    assert root.attributes["perf.db.count"] == 7
    assert root.attributes["perf.n_plus_one"] is True
    assert root.attributes["perf.n_plus_one.count"] == 1
    assert root.attributes["perf.n_plus_one.executions"] == (6,)
    assert root.attributes["perf.endpoint"] == "GET /books/"
    assert "perf.db.too_many" not in root.attributes  # flags are set only when true
    assert len(sink.items) == 1


def test_should_not_flag_n_plus_one_below_the_threshold(pipeline):
    tracer, _, sink, exporter = pipeline()
    request(tracer, ["SELECT x FROM t WHERE id = %s"] * 4)
    root = sink.items[0][1]
    assert "perf.n_plus_one" not in root.attributes
    assert "perf.n_plus_one.statements" not in root.attributes


def test_should_count_twin_spans_once(pipeline):
    tracer, _, sink, _ = pipeline()
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes={"http.route": "x/"}):
        for _ in range(3):
            with tracer.start_as_current_span("outer", kind=SpanKind.CLIENT) as outer:
                outer.set_attribute("db.statement", "SELECT 1")
                with tracer.start_as_current_span("inner", kind=SpanKind.CLIENT) as inner:
                    inner.set_attribute("db.query.text", "SELECT 1")
    assert sink.items[0][1].attributes["perf.db.count"] == 3


def test_should_look_for_twins_only_when_db_spans_overlap(pipeline):
    # summarize_db skips its twin test while no DB span started before an earlier one ended
    # (nesting implies such an overlap); here an outer DB span with two children, ended in
    # an order that leaves the first child away from the outer span's end.
    tracer, processor, sink, _ = pipeline()
    ms = 1_000_000

    def db(name, sql, start, end, parent=None):
        ctx = None if parent is None else set_span_in_context(parent)
        span = tracer.start_span(name, kind=SpanKind.CLIENT, context=ctx, start_time=start)
        span.set_attribute("db.statement", sql)
        return span, end

    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, start_time=0):
        trace = next(iter(processor._traces.values()))
        first, t1 = db("a", "SELECT 1", 1 * ms, 2 * ms)
        first.end(t1)
        second, t2 = db("b", "SELECT 2", 3 * ms, 4 * ms)
        second.end(t2)
        assert trace.db_overlap is False  # sequential: no twin possible
        outer, t_outer = db("outer", "SELECT 3", 5 * ms, 9 * ms)
        inner1, e1 = db("inner1", "SELECT 3", 6 * ms, 7 * ms, parent=outer)
        inner2, e2 = db("inner2", "SELECT 4", 7 * ms, 8 * ms, parent=outer)
        inner1.end(e1)
        inner2.end(e2)
        outer.end(t_outer)
        assert trace.db_overlap is True
    # The two children of the outer span are twins: SELECT 1, SELECT 2 and the outer count.
    assert sink.items[0][1].attributes["perf.db.count"] == 3


def test_should_not_count_djangos_own_quote_statements(pipeline):
    tracer, _, sink, _ = pipeline()
    request(tracer, ["SELECT a FROM t WHERE id = %s", "SELECT QUOTE(?), QUOTE(?)"])
    assert sink.items[0][1].attributes["perf.db.count"] == 1


def test_should_mark_slow_and_error_requests(pipeline):
    tracer, _, sink, _ = pipeline(Settings(slow_request_ms=0.000001, very_slow_request_ms=10**9))
    request(tracer, [], status=503)
    attrs = sink.items[0][1].attributes
    assert attrs["perf.slow"] is True and "perf.very_slow" not in attrs
    assert attrs["perf.error"] is True


def test_should_not_count_a_handled_exception_with_a_4xx_status_as_an_error(pipeline):
    tracer, _, sink, _ = pipeline()
    with tracer.start_as_current_span(
        "GET", kind=SpanKind.SERVER, attributes={"http.route": "books/<int:pk>/"}
    ) as root:
        root.record_exception(LookupError("Http404"))
        root.set_status(StatusCode.ERROR)
        root.set_attribute("http.status_code", 404)
    assert "perf.error" not in sink.items[0][1].attributes


def test_should_count_an_escaped_exception_without_status_as_an_error(pipeline):
    tracer, _, sink, _ = pipeline()
    with pytest.raises(RuntimeError):
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER):
            raise RuntimeError("boom")
    assert sink.items[0][1].attributes["perf.error"] is True


def test_should_use_unmatched_for_requests_without_a_route(pipeline):
    tracer, _, sink, _ = pipeline()
    request(tracer, [], route=None, path="/nope/123", status=404)
    assert sink.items[0][1].attributes["perf.endpoint"] == "GET (unmatched)"


def test_should_skip_excluded_paths(pipeline):
    tracer, processor, sink, exporter = pipeline()
    request(tracer, ["SELECT 1"], route="health", path="/health")
    assert sink.items == []
    assert processor.open_traces() == 0
    assert len(exporter.get_finished_spans()) == 2  # still exported, just not a request


def test_should_ignore_db_statements_outside_requests(pipeline):
    tracer, processor, sink, _ = pipeline()
    with tracer.start_as_current_span("db", kind=SpanKind.CLIENT) as db:
        db.set_attribute("db.statement", "CREATE TABLE t (a int)")
    assert sink.items == [] and processor.open_traces() == 0


def test_should_bound_open_traces_and_count_evictions(pipeline):
    tracer, processor, _, _ = pipeline(Settings(max_open_traces=3))
    spans = [tracer.start_span("GET", kind=SpanKind.SERVER) for _ in range(5)]
    assert processor.open_traces() == 3
    assert processor.traces_evicted == 2
    for span in spans:
        span.end()
    assert processor.open_traces() == 0


def test_should_record_unsampled_requests_without_exporting_them(pipeline):
    tracer, _, sink, exporter = pipeline(sampler=RecordEverything(ALWAYS_OFF))
    request(tracer, ["SELECT 1"])
    assert len(sink.items) == 1
    assert sink.items[0][1].attributes["perf.db.count"] == 1
    assert exporter.get_finished_spans() == ()


def test_should_never_raise_into_the_app_when_the_sink_fails(pipeline):
    tracer, processor, sink, _ = pipeline()

    def broken(item):
        raise OSError("disk full")

    sink.submit = broken
    request(tracer, ["SELECT 1"])  # must not raise
    assert processor.internal_errors == 1


def test_should_record_tracked_functions_as_operations(pipeline, monkeypatch):
    tracer, _, sink, _ = pipeline()
    monkeypatch.setattr("otel_perf.tracking._tracer", tracer)

    @track
    def rebuild():
        with tracer.start_as_current_span("db", kind=SpanKind.CLIENT) as db:
            db.set_attribute("db.statement", "SELECT 1")

    @track("nightly", kind="task")
    async def nightly():
        return 42

    rebuild()
    assert asyncio.run(nightly()) == 42
    with track("block"):
        pass
    kinds = [(k, s.name, s.attributes["perf.operation.kind"]) for k, s, _ in sink.items]
    assert kinds[0][0] == "operation" and kinds[0][1].endswith("rebuild")
    assert kinds[1:] == [("operation", "nightly", "task"), ("operation", "block", "function")]
    assert sink.items[0][1].attributes["perf.db.count"] == 1


def test_should_find_the_path_in_the_full_url_when_the_server_gives_only_that(pipeline):
    tracer, _, sink, _ = pipeline()
    with tracer.start_as_current_span(
        "GET", kind=SpanKind.SERVER, attributes={"http.url": "http://h:1/health?probe=1"}
    ):
        pass
    with tracer.start_as_current_span(
        "GET", kind=SpanKind.SERVER, attributes={"http.url": "http://h:1/books/?q=secret"}
    ):
        pass
    from processors.facts import request_path

    assert len(sink.items) == 1
    assert request_path(sink.items[0][1].attributes) == "/books/"


def test_should_give_the_same_facts_for_spans_that_are_not_the_sdks_own(pipeline):
    """The hot path reads the SDK's span fields directly; any other span class goes through the
    public API. Both must see the same request."""
    from opentelemetry import trace as trace_api
    from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class OtherSpan(Span):  # defined here: not one of the SDK's classes
        pass

    class OtherReadable(ReadableSpan):
        pass

    class Forward(SpanProcessor):
        """Hands on_end a copy of another class, with its attributes as a plain dict."""

        def __init__(self, target):
            self.target = target

        def on_start(self, span, parent_context=None):
            self.target.on_start(span, parent_context)

        def on_end(self, span):
            copy = OtherReadable(
                name=span.name,
                context=span.context,
                parent=span.parent,
                attributes=dict(span.attributes),
                kind=span.kind,
                start_time=span.start_time,
                end_time=span.end_time,
                instrumentation_scope=span.instrumentation_scope,
                status=span.status,
            )
            self.target.on_end(copy)

    statements = ['SELECT "a" FROM "t" WHERE "id" = %s'] * 6 + ["SELECT 1"]
    tracer, _, sdk_sink, _ = pipeline()
    expected = request(tracer, statements).attributes

    sink = ListSink()
    processor = PerfSpanProcessor(sink, Settings())
    forward = Forward(processor)
    ids = RandomIdGenerator()
    trace_id = ids.generate_trace_id()

    def start(name, kind, parent=None, attributes=None):
        context = trace_api.SpanContext(
            trace_id, ids.generate_span_id(), False, trace_api.TraceFlags(1)
        )
        span = OtherSpan(
            name, context, parent=parent, kind=kind, attributes=attributes, span_processor=forward
        )
        span.start()
        return span

    root = start(
        "GET",
        SpanKind.SERVER,
        attributes={"http.request.method": "GET", "http.route": "books/", "url.path": "/books/"},
    )
    for sql in statements:
        child = start("db", SpanKind.CLIENT, parent=root.get_span_context())
        child.set_attribute("db.statement", sql)
        child.set_attribute("db.system", "sqlite")
        child.end()
    root.set_attribute("http.response.status_code", 200)
    root.end()

    assert processor.internal_errors == 0 and len(sink.items) == 1
    got = root.attributes
    for key in ("perf.db.count", "perf.n_plus_one.executions", "perf.endpoint", "perf.error"):
        assert got.get(key) == expected.get(key), key
    assert got["perf.db.count"] == 7

    def groups(items):  # everything but the timings, which differ between the two runs
        return [
            (g.fingerprint, g.statement, g.db_system, g.calls) for g in items[0][2].summary.groups
        ]

    assert groups(sink.items) == groups(sdk_sink.items)


def test_a_finished_root_span_is_freed_without_the_cycle_collector():
    # The processor wraps the root's end() in a partial that references the span; once the
    # root has ended the wrapper must be gone, or every request's spans would wait for the
    # cyclic garbage collector.
    import gc
    import weakref

    class Drop:
        def submit(self, item):
            pass

        def flush(self, timeout=None):
            return True

        def shutdown(self):
            pass

    provider = TracerProvider()
    provider.add_span_processor(PerfSpanProcessor(Drop(), Settings()))
    tracer = provider.get_tracer("test")
    gc.disable()
    try:
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER) as root:
            with tracer.start_as_current_span("db", kind=SpanKind.CLIENT) as db:
                db.set_attribute("db.statement", "SELECT 1")
        assert "end" not in vars(root)
        ref = weakref.ref(root)
        del root, db
        assert ref() is None
    finally:
        gc.enable()
