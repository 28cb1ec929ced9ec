"""OTLP export beside the store: the real SDK exporter sends to a small local receiver."""

from __future__ import annotations

import gzip
import http.server
import threading
import time

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.e2e.conftest import query, wait_for_rows

pytestmark = pytest.mark.e2e


class Receiver(http.server.ThreadingHTTPServer):
    """OTLP/HTTP protobuf on /v1/traces; keeps every span it is sent."""

    def __init__(self):
        self.spans = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def roots(self):
        """Server spans, less the readiness probes (excluded from the store, still exported)."""
        with self.lock:
            return [
                s
                for s in self.spans
                if s.kind == s.SPAN_KIND_SERVER and attributes(s).get("http.route") != "health/"
            ]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        with self.server.lock:
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    self.server.spans.extend(scope_spans.spans)
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def attributes(span) -> dict:
    out = {}
    for kv in span.attributes:
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = (
            getattr(value, kind)
            if kind != "array_value"
            else [getattr(v, v.WhichOneof("value")) for v in value.array_value.values]
        )
    return out


def test_otlp_export_carries_the_derived_attributes_and_unsampled_requests_stay_local(
    make_app, receiver
):
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    unsampled_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with make_app(server="gunicorn", workers=2, extra_env=env) as app:
        for _ in range(3):
            assert app.get("/books/n-plus-one/") == 200
        assert app.get("/books/") == 200
        # An incoming traceparent that says "not sampled": counted, never exported.
        assert (
            app.get("/books/", {"traceparent": f"00-{unsampled_trace}-00f067aa0ba902b7-00"}) == 200
        )
        assert wait_for_rows(app.store, 5) == 5
        deadline = time.monotonic() + 15
        while len(receiver.roots()) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    roots = receiver.roots()
    assert len(roots) == 4
    assert unsampled_trace not in {r.trace_id.hex() for r in roots}
    by_route = {}
    for root in roots:
        by_route.setdefault(attributes(root).get("http.route"), []).append(attributes(root))
    n1 = by_route["books/n-plus-one/"]
    assert len(n1) == 3
    for attrs in n1:
        assert attrs["perf.n_plus_one"] is True
        assert attrs["perf.db.count"] >= 6
        assert attrs["perf.endpoint"] == "GET /books/n-plus-one/"
        assert attrs["perf.n_plus_one.statements"][0].startswith("SELECT")
    clean = by_route["books/"][0]
    assert "perf.n_plus_one" not in clean and clean["perf.db.count"] == 1
    # The DB child spans were exported too (the store's facts came from them).
    assert any(s.kind == s.SPAN_KIND_CLIENT for s in receiver.spans)
    stored = query(
        app.store, "SELECT count(*) FROM requests WHERE trace_id = from_hex(?)", [unsampled_trace]
    )
    assert stored[0][0] == 1
