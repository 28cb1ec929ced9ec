"""The OTLP receiver's pure parts: decoding both encodings, limits, and server-side facts.

Payloads are produced by the SDK's own OTLP encoder from spans a real TracerProvider made;
the facts derived on the server are compared with what PerfSpanProcessor folds in-process
for the very same spans.
"""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_perf.receiver import decode as D
from otel_perf.receiver.assemble import TraceAssembler
from otel_perf.receiver.spans import RemoteSpan
from otel_perf.settings import Settings
from processors import attributes as A
from processors.perf_processor import PerfSpanProcessor

RESOURCE = {"service.name": "books", "host.name": "web-1", "service.instance.id": "i-1"}


class Collect:
    """A sink that keeps what it is offered (the writer's interface)."""

    def __init__(self, room: bool = True) -> None:
        self.items = []
        self.has_room = room

    def offer(self, item) -> bool:
        if not self.has_room:
            return False
        self.items.append(item)
        return True

    def submit(self, item) -> None:
        self.items.append(item)

    def shutdown(self) -> None:
        pass

    def flush(self, timeout: float = 0) -> bool:
        return True


def make_spans(folded: bool, requests: int = 2, n_plus_one: int = 6):
    """Real SDK spans: a request root with DB children (an N+1 among them)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    processor = PerfSpanProcessor(Collect(), Settings(n_plus_one_threshold=5)) if folded else None
    if processor is not None:
        provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for _ in range(requests):
        attrs = {
            "http.request.method": "GET",
            "http.route": "/books/",
            "url.path": "/books/",
            "http.response.status_code": 200,
        }
        with tracer.start_as_current_span("GET /books/", kind=SpanKind.SERVER, attributes=attrs):
            with tracer.start_as_current_span("q", kind=SpanKind.CLIENT) as span:
                span.set_attribute("db.system", "sqlite")
                span.set_attribute("db.statement", "SELECT * FROM book")
            for i in range(n_plus_one):
                with tracer.start_as_current_span("q", kind=SpanKind.CLIENT) as span:
                    span.set_attribute("db.system", "sqlite")
                    span.set_attribute("db.statement", f"SELECT * FROM author WHERE id = {i}")
    provider.shutdown()
    return exporter.get_finished_spans(), processor


def to_json(body: bytes) -> bytes:
    """OTLP/JSON as the specification writes it (ids in hex, enums as integers)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    message = ExportTraceServiceRequest.FromString(body)
    document = MessageToDict(message, use_integers_for_enums=True)
    import base64

    for rs in document["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document).encode()


def decoded_view(spans: list[RemoteSpan]):
    return sorted(
        (
            s.context.trace_id,
            s.context.span_id,
            s.parent_id,
            s.name,
            s.kind,
            s.start_time,
            s.end_time,
            tuple(sorted(s.attributes.items())),
            s.status_code,
            s.flags,
            s.origin.key,
        )
        for s in spans
    )


def test_should_decode_sdk_protobuf_into_flat_spans():
    spans, _ = make_spans(folded=False, requests=1)
    body = encode_spans(spans).SerializeToString()
    decoded = D.decode_protobuf(body)
    assert decoded.rejected == 0
    assert len(decoded.spans) == len(spans) == 8
    by_id = {s.context.span_id: s for s in decoded.spans}
    for sdk in spans:
        got = by_id[sdk.context.span_id]
        assert got.context.trace_id == sdk.context.trace_id
        assert got.parent_id == (sdk.parent.span_id if sdk.parent else 0)
        assert got.start_time == sdk.start_time and got.end_time == sdk.end_time
        assert got.attributes == dict(sdk.attributes)
        assert got.origin.resource.service_name == "books"
        assert got.origin.resource.host_name == "web-1"
    root = next(s for s in decoded.spans if s.parent_id == 0)
    assert root.kind == 2 and root.parent_is_remote is False


def test_should_decode_json_exactly_like_protobuf():
    spans, _ = make_spans(folded=True, requests=1)
    body = encode_spans(spans).SerializeToString()
    from_pb = D.decode_protobuf(body)
    from_json = D.decode_json(to_json(body))
    assert decoded_view(from_json.spans) == decoded_view(from_pb.spans)


def test_should_count_spans_with_bad_ids_as_rejected():
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "spans": [
                            {"traceId": "00" * 16, "spanId": "01" * 8, "name": "zero trace"},
                            {"traceId": "ab" * 16, "spanId": "xyz", "name": "bad span id"},
                            {"traceId": "ab" * 16, "spanId": "01" * 8, "name": "ok", "kind": 2},
                        ]
                    }
                ],
            }
        ]
    }
    decoded = D.decode_json(json.dumps(document).encode())
    assert decoded.rejected == 2 and [s.name for s in decoded.spans] == ["ok"]


@pytest.mark.parametrize(
    "body",
    [b"\xff\xff\xff", b"\x0a\x80\x80\x80\x80\x10", b"not protobuf at all \x00\x01"],
)
def test_should_refuse_malformed_protobuf(body):
    with pytest.raises(D.PayloadError):
        D.decode_protobuf(body)


def test_should_refuse_truncated_protobuf():
    spans, _ = make_spans(folded=False, requests=1)
    body = encode_spans(spans).SerializeToString()
    with pytest.raises(D.PayloadError):
        D.decode_protobuf(body[: len(body) // 2])


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"resourceSpans": 3}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "'
        + b"ab" * 16
        + b'", "spanId": "'
        + b"01" * 8
        + b'", "startTimeUnixNano": "soon"}]}]}]}',
    ],
)
def test_should_refuse_malformed_json(body):
    with pytest.raises(D.PayloadError):
        D.decode_json(body)


def test_should_bound_decompression():
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    with pytest.raises(D.PayloadTooLarge):
        D.decompress(bomb, "gzip", 1024 * 1024)
    payload = b"x" * 1000
    assert D.decompress(gzip.compress(payload), "gzip", 1000) == payload
    assert D.decompress(zlib.compress(payload), "deflate", 1000) == payload
    with pytest.raises(D.PayloadError):
        D.decompress(gzip.compress(payload)[:-12], "gzip", 10_000)  # truncated
    with pytest.raises(D.PayloadError):
        D.decompress(b"definitely not gzip", "gzip", 10_000)
    with pytest.raises(D.PayloadError):
        D.decompress(payload, "br", 10_000)


def assemble(spans, settings=None, sink=None):
    sink = sink or Collect()
    clock = [0.0]
    assembler = TraceAssembler(sink, settings or Settings(n_plus_one_threshold=5), lambda: clock[0])
    assembler.add(spans)
    return assembler, sink, clock


def test_should_derive_the_facts_the_processor_folds_in_process():
    """The same spans: folded in-process by PerfSpanProcessor, and derived on the server
    from the plain spans (perf.* removed) — the facts agree."""
    folded_spans, _ = make_spans(folded=True)
    in_process = {
        s.context.span_id: dict(s.attributes) for s in folded_spans if s.kind is SpanKind.SERVER
    }
    decoded = D.decode_protobuf(encode_spans(folded_spans).SerializeToString()).spans
    for span in decoded:
        span.attributes = {k: v for k, v in span.attributes.items() if not k.startswith("perf.")}
    assembler, sink, clock = assemble(decoded)
    assert assembler.poll() == 0  # waiting for late children
    clock[0] = 10.0
    assert assembler.poll() == 2
    assert assembler.roots_derived == 2
    compared = (
        A.ENDPOINT,
        A.DB_COUNT,
        A.N_PLUS_ONE,
        A.N_PLUS_ONE_COUNT,
        A.N_PLUS_ONE_FINGERPRINTS,
        A.N_PLUS_ONE_STATEMENTS,
        A.N_PLUS_ONE_EXECUTIONS,
        A.DB_TOO_MANY,
    )
    for kind, root, trace in sink.items:
        assert kind == "request"
        expected = in_process[root.context.span_id]
        assert {k: root.attributes.get(k) for k in compared} == {
            k: expected.get(k) for k in compared
        }
        assert root.attributes[A.DB_TIME_MS] == pytest.approx(expected[A.DB_TIME_MS], rel=0.05)
        assert trace.summary.count == 7 and len(trace.summary.n_plus_one) == 1
        assert trace.memory is None  # only the sending process can know its memory
        resource, instance = trace.origin
        assert resource.service_name == "books" and instance == "i-1"


def test_should_store_folded_roots_as_they_are():
    """A root folded by the sender keeps its facts even when its children are missing,
    and the sender's N+1 verdict is kept over the server's threshold."""
    folded_spans, _ = make_spans(folded=True, requests=1)
    decoded = D.decode_protobuf(encode_spans(folded_spans).SerializeToString()).spans
    root = next(s for s in decoded if s.kind == 2)
    original = dict(root.attributes)
    assembler, sink, _ = assemble([root], settings=Settings(n_plus_one_threshold=2))
    assembler.poll(flush_all=True)
    _, stored_root, trace = sink.items[0]
    assert stored_root.attributes == original
    assert original[A.DB_COUNT] == 7 and trace.summary.count == 0
    assert trace.memory[0] == original[A.MEMORY_USAGE_MB]
    assert assembler.roots_derived == 0
    # With its children: db_statements groups come from them; N+1 is the sender's verdict.
    assembler, sink, _ = assemble(decoded, settings=Settings(n_plus_one_threshold=1))
    assembler.poll(flush_all=True)
    _, stored_root, trace = sink.items[0]
    assert stored_root.attributes == original
    assert len(trace.summary.groups) == 2
    assert [g.calls for g in trace.summary.n_plus_one] == [6]  # not the 1-call group too


def test_should_drop_and_count_rootless_spans_after_the_timeout():
    spans, _ = make_spans(folded=False, requests=1)
    decoded = D.decode_protobuf(encode_spans(spans).SerializeToString()).spans
    children = [s for s in decoded if s.parent_id]
    assembler, sink, clock = assemble(children, settings=Settings(otlp_trace_timeout_s=5.0))
    clock[0] = 4.0
    assert assembler.poll() == 0 and assembler.pending_spans == 7
    clock[0] = 6.0
    assembler.poll()
    assert assembler.pending_spans == 0 and assembler.spans_orphaned == 7 and not sink.items


def test_should_count_roots_the_writer_refuses():
    spans, _ = make_spans(folded=False, requests=2)
    decoded = D.decode_protobuf(encode_spans(spans).SerializeToString()).spans
    assembler, sink, clock = assemble(decoded, sink=Collect(room=False))
    assembler.poll(flush_all=True)
    assert assembler.roots_dropped == 2 and assembler.roots_stored == 0


def test_should_treat_a_server_span_under_another_service_as_a_local_root():
    spans, _ = make_spans(folded=False, requests=1)
    front = D.decode_protobuf(encode_spans(spans).SerializeToString()).spans
    # A second service whose SERVER span is the child of the first's DB span (as a client).
    other = Resource.create({"service.name": "api"})
    provider = TracerProvider(resource=other)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    from opentelemetry.trace import (
        NonRecordingSpan,
        SpanContext,
        TraceFlags,
        set_span_in_context,
    )

    parent = front[1]
    ctx = set_span_in_context(
        NonRecordingSpan(
            SpanContext(parent.context.trace_id, parent.context.span_id, True, TraceFlags(1))
        )
    )
    with provider.get_tracer("t").start_as_current_span(
        "GET /x", context=ctx, kind=SpanKind.SERVER
    ):
        pass
    back = D.decode_protobuf(encode_spans(exporter.get_finished_spans()).SerializeToString())
    assembler, sink, clock = assemble(front + back.spans)
    assembler.poll(flush_all=True)
    names = sorted(root.origin.resource.service_name for _, root, _ in sink.items)
    assert names == ["api", "books"]
    assert assembler.spans_orphaned == 0


def test_should_answer_503_with_retry_after_when_full_and_store_what_it_took(tmp_path):
    from otel_perf.receiver.service import Receiver
    from otel_perf.storage.address import parse_address
    from otel_perf.storage.writer import StoreWriter

    settings = Settings(store=str(tmp_path / "store"), otlp_max_pending_spans=10)
    writer = StoreWriter(parse_address(settings.store), settings, {"service.name": "r"})
    receiver = Receiver(settings, writer)
    spans, _ = make_spans(folded=True, requests=1)  # 8 spans
    body = encode_spans(spans).SerializeToString()
    ok = receiver.export_traces(body, "application/x-protobuf", "")
    assert ok.status == 200
    full = receiver.export_traces(body, "application/x-protobuf", "")
    assert full.status == 503 and full.headers["Retry-After"] == "2"
    assert receiver.requests_refused == 1
    receiver.close()
    from tests.e2e.conftest import query

    assert query(settings.store, "SELECT count(*), sum(db_count) FROM requests") == [(1, 7)]


def test_should_report_partial_success_in_both_encodings(tmp_path):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    from otel_perf.receiver.service import Receiver
    from otel_perf.storage.address import parse_address
    from otel_perf.storage.writer import StoreWriter

    settings = Settings(store=str(tmp_path / "store"))
    receiver = Receiver(settings, StoreWriter(parse_address(settings.store), settings, {}))
    document = {
        "resourceSpans": [
            {"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "01" * 8, "name": "bad"}]}]}
        ]
    }
    response = receiver.export_traces(json.dumps(document).encode(), "application/json", "")
    assert response.status == 200
    assert json.loads(response.body)["partialSuccess"]["rejectedSpans"] == "1"
    spans, _ = make_spans(folded=False, requests=1)
    message = encode_spans(spans)
    message.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x01"
    response = receiver.export_traces(message.SerializeToString(), "application/x-protobuf", "")
    parsed = ExportTraceServiceResponse.FromString(response.body)
    assert parsed.partial_success.rejected_spans == 1


def test_should_keep_only_what_the_facts_need_from_non_root_spans():
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER, attributes={"a": 1}):
        attrs = {"db.statement": "SELECT 1", "db.system": "sqlite", "net.peer.name": "x"}
        with tracer.start_as_current_span("q", kind=SpanKind.CLIENT, attributes=attrs):
            pass
        op = {A.GRAPHQL_PARSING_MS: 0.5, "graphql.operation.name": "Books"}
        with tracer.start_as_current_span("query Books", attributes=op):
            pass
    body = encode_spans(exporter.get_finished_spans()).SerializeToString()
    for decoded in (D.decode_protobuf(body), D.decode_json(to_json(body))):
        by_name = {s.name: s.attributes for s in decoded.spans}
        assert by_name["root"] == {"a": 1}
        assert by_name["q"] == {"db.statement": "SELECT 1", "db.system": "sqlite"}
        assert by_name["query Books"] == op  # a span carrying perf.* keeps everything
