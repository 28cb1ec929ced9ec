"""Store sampling on ``otel-perf serve``: roots received over OTLP get the same tail decision
(always keep N+1 and errors, the rest by trace id at the rate, weighted) and the count of
what was sampled out is on ``/health``."""

from __future__ import annotations

import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

from tests.e2e.conftest import query
from tests.e2e.test_otlp_receiver import JsonExporter, health, start_server

RATE = 0.2


def test_received_roots_are_sampled_by_trace_id_and_what_matters_is_kept(tmp_path):
    server = start_server(tmp_path, str(tmp_path / "store"), OTEL_PERF_STORE_SAMPLE_RATE=str(RATE))
    try:
        exporter = JsonExporter(server["base"] + "/v1/traces")
        provider = TracerProvider(resource=Resource.create({"service.name": "sampled"}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer = provider.get_tracer("plain")
        sent = {}
        for i in range(240):
            kind = "n_plus_one" if i % 12 == 0 else "error" if i % 12 == 1 else "ordinary"
            attrs = {
                "http.request.method": "GET",
                "http.route": "/items/",
                "url.path": "/items/",
                "http.response.status_code": 500 if kind == "error" else 200,
            }
            with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes=attrs) as s:
                if kind == "n_plus_one":
                    for j in range(6):
                        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as db:
                            db.set_attribute("db.query.text", f"SELECT * FROM t WHERE id = {j}")
                sent[s.get_span_context().trace_id] = kind
        provider.shutdown()
        assert exporter.statuses and set(exporter.statuses) == {200}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            h = health(server["base"])
            if h["writer_requests_written"] + h["writer_requests_sampled_out"] >= len(sent):
                break
            time.sleep(0.3)
        rows = query(server["store"], "SELECT trace_id, weight FROM requests")
    finally:
        server["proc"].terminate()
        server["proc"].wait(20)
    stored = {int.from_bytes(bytes(t), "big"): w for t, w in rows}
    special = {t for t, k in sent.items() if k != "ordinary"}
    assert special <= stored.keys() and {stored[t] for t in special} == {1.0}
    expected = {
        t for t, k in sent.items() if k == "ordinary" and t & ((1 << 64) - 1) < round(RATE * 2**64)
    }
    assert len(expected) > 10  # of 200 ordinary ones at 0.2
    assert {t for t in stored if t not in special} == expected
    assert {stored[t] for t in expected} <= {1 / RATE}
    assert h["writer_requests_sampled_out"] == len(sent) - len(stored)
