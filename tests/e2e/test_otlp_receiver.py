"""``otel-perf serve`` receiving OTLP/HTTP from real clients, stored in a real store.

- The example Django app under ``opentelemetry-instrument`` with ``OTEL_PERF_STORE=none`` and
  the SDK's OTLP exporter (protobuf, gzip): every request sent is stored once, with the DB
  counts Django itself counts (ground truth), from the ``perf.*`` facts the app folded.
- A plain SDK (no distro) sending OTLP/JSON: the facts are derived by the server and match
  the spans that were made.
- Malformed, truncated, oversized and decompression-bomb payloads get 4xx; the server stays
  healthy and nothing accepted before is lost.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from otel_perf import demo
from tests.e2e.conftest import query, start_serve, wait_for_rows


def post(url: str, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class JsonExporter(SpanExporter):
    """OTLP/JSON over HTTP (the Python SDK ships only protobuf): the SDK's encoder, then the
    specification's JSON mapping (hex ids, integer enums), gzip-compressed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: list[int] = []

    def export(self, spans) -> SpanExportResult:
        document = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
        for rs in document.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = base64.b64decode(span[key]).hex()
        body = gzip.compress(json.dumps(document).encode())
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        status, _, _ = post(self.url, body, headers)
        self.statuses.append(status)
        return SpanExportResult.SUCCESS if status == 200 else SpanExportResult.FAILURE


def start_server(tmp, store: str, **env_extra) -> dict:
    otlp_port = demo.free_port()
    env = {
        **os.environ,
        "OTEL_PERF_STORE": store,
        "OTEL_PERF_OTLP_TRACE_WAIT_S": "0.3",
        "OTEL_PERF_FLUSH_INTERVAL_S": "0.2",
        "OTEL_PERF_OTLP_MAX_BODY_MB": "1",
        **env_extra,
    }
    log_path = tmp / f"serve-{otlp_port}.log"
    proc, _ = start_serve(
        log_path, env, "--otlp-port", str(otlp_port), ready="/health", ready_port=otlp_port
    )
    base = f"http://127.0.0.1:{otlp_port}"
    return {"base": base, "store": store, "proc": proc, "log": log_path}


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("otlp")
    server = start_server(tmp, str(tmp / "store"))
    yield server
    server["proc"].terminate()
    server["proc"].wait(20)


def health(base: str) -> dict:
    with urllib.request.urlopen(base + "/health", timeout=5) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_distro_app_exporting_otlp_is_stored_once_with_its_db_counts(
    receiver, make_app, ground_truth
):
    paths = [
        "/books/",
        "/books/",
        "/books/n-plus-one/",
        "/books/n-plus-one/",
        "/books/1/",
        "/books/999999/",
    ]
    env = {
        "OTEL_SERVICE_NAME": "otlp-distro-app",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver["base"] + "/v1/traces",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    with make_app(store="none", workers=2, extra_env=env) as app:
        for path in paths:
            assert app.get(path) in (200, 404)
    log = app.log()
    assert "Traceback" not in log, log
    sql = "SELECT count(*) FROM requests WHERE service_name = 'otlp-distro-app'"
    assert wait_for_rows(receiver["store"], len(paths), sql) == len(paths)
    time.sleep(0.5)  # anything counted twice would have arrived by now
    rows = query(
        receiver["store"],
        "SELECT path, db_count, n_plus_one_count, memory_usage_mb, host_name "
        "FROM requests WHERE service_name = 'otlp-distro-app'",
    )
    assert Counter(r[0] for r in rows) == Counter(paths)  # exactly the requests sent
    truth = ground_truth(sorted(set(paths)), debug=False)
    for path, db_count, n_plus_one, memory, host in rows:
        assert db_count == truth[path]["queries"], path
        assert (n_plus_one > 0) == (path == "/books/n-plus-one/")
        assert memory is not None and memory > 0  # the app's own reading, stored as sent
        assert host
    statements = query(
        receiver["store"],
        "SELECT sum(calls) FROM db_statements WHERE service_name = 'otlp-distro-app'",
    )[0][0]
    assert statements == sum(truth[p]["queries"] for p in paths)
    stats = health(receiver["base"])
    assert stats["roots_derived"] == 0  # every root came folded: nothing recomputed


def test_plain_sdk_sending_json_gets_facts_derived_on_the_server(receiver):
    exporter = JsonExporter(receiver["base"] + "/v1/traces")
    provider = TracerProvider(
        resource=Resource.create({"service.name": "plain-json", "host.name": "far-host"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("plain")
    expected = {}
    for n in (1, 3, 7):
        route = f"/items/{n}/"
        attrs = {
            "http.request.method": "GET",
            "http.route": route,
            "url.path": route,
            "http.response.status_code": 200,
        }
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes=attrs):
            for i in range(n):
                with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as span:
                    span.set_attribute("db.system.name", "postgresql")
                    span.set_attribute("db.query.text", f"SELECT * FROM item WHERE id = {i}")
        expected[f"GET {route}"] = (n, 1 if n >= 5 else 0)
    provider.shutdown()
    assert exporter.statuses and set(exporter.statuses) == {200}
    sql = "SELECT count(*) FROM requests WHERE service_name = 'plain-json'"
    assert wait_for_rows(receiver["store"], 3, sql) == 3
    rows = query(
        receiver["store"],
        "SELECT endpoint, db_count, n_plus_one_count, host_name FROM requests "
        "WHERE service_name = 'plain-json'",
    )
    assert {r[0]: (r[1], r[2]) for r in rows} == expected
    assert {r[3] for r in rows} == {"far-host"}
    n_plus_one = query(
        receiver["store"],
        "SELECT statement, executions FROM n_plus_one WHERE service_name = 'plain-json'",
    )
    assert n_plus_one == [("SELECT * FROM item WHERE id = ?", 7)]


def test_bad_payloads_get_4xx_and_the_server_stays_healthy(receiver):
    url = receiver["base"] + "/v1/traces"
    # Run alone, nothing has been written yet: no store.
    stored = lambda: (  # noqa: E731
        query(receiver["store"], "SELECT count(*) FROM requests")[0][0]
        if os.path.exists(receiver["store"])
        else 0
    )
    before = stored()
    pb = {"Content-Type": "application/x-protobuf"}
    valid = encode_spans([]).SerializeToString()
    cases = [
        (b"\xff\xff\xff\xff", pb, 400),
        (b"\x0a\x80\x80\x80\x80\x10garbage", pb, 400),  # truncated length-delimited field
        (b'{"resourceSpans": [', {"Content-Type": "application/json"}, 400),
        (b"x" * (2 * 1024 * 1024), pb, 413),  # over OTEL_PERF_OTLP_MAX_BODY_MB=1
        (gzip.compress(b"\0" * (64 * 1024 * 1024)), {**pb, "Content-Encoding": "gzip"}, 413),
        (gzip.compress(valid)[:-6], {**pb, "Content-Encoding": "gzip"}, 400),
        (valid, {"Content-Type": "text/plain"}, 415),
    ]
    for body, headers, status in cases:
        got, response_headers, _ = post(url, body, headers)
        assert got == status, (headers, got)
    assert post(url, valid, pb)[0] == 200
    stats = health(receiver["base"])
    assert stats["requests_invalid"] >= len(cases) and stats["internal_errors"] == 0
    assert receiver["proc"].poll() is None
    assert stored() >= before


def test_remote_host_metrics_become_system_samples(receiver):
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.metrics import Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    exporter = OTLPMetricExporter(endpoint=receiver["base"] + "/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": "hostmetrics", "host.name": "metrics-host"}),
        metric_readers=[reader],
    )
    meter = provider.get_meter("hostmetrics")
    cpu = [
        Observation(0.75, {"cpu": "cpu0", "state": "idle"}),
        Observation(0.25, {"cpu": "cpu0", "state": "user"}),
        Observation(0.25, {"cpu": "cpu1", "state": "idle"}),
    ]
    meter.create_observable_gauge("system.cpu.utilization", [lambda options: cpu])
    meter.create_observable_gauge(
        "system.memory.utilization",
        [
            lambda options: [
                Observation(0.5, {"state": "used"}),
                Observation(0.5, {"state": "free"}),
            ]
        ],
    )
    meter.create_observable_gauge(
        "system.filesystem.utilization",
        [
            lambda options: [
                Observation(0.9, {"mountpoint": "/boot"}),
                Observation(0.4, {"mountpoint": "/"}),
            ]
        ],
    )
    meter.create_observable_gauge("some.other.metric", [lambda options: [Observation(1)]])
    provider.shutdown()  # one collection, one export
    sql = "SELECT count(*) FROM system_samples WHERE host_name = 'metrics-host'"
    assert wait_for_rows(receiver["store"], 1, sql) == 1
    rows = query(
        receiver["store"],
        "SELECT source, cpu_percent, memory_percent, disk_percent FROM system_samples "
        "WHERE host_name = 'metrics-host'",
    )
    assert rows == [("otlp", pytest.approx(50.0), pytest.approx(50.0), pytest.approx(40.0))]


def test_kill_9_during_ingest_keeps_what_was_committed(tmp_path):
    from tests.unit.test_otlp_decode import make_spans

    spans, _ = make_spans(folded=True, requests=20)
    body = encode_spans(spans).SerializeToString()
    server = start_server(tmp_path, str(tmp_path / "store"))
    url = server["base"] + "/v1/traces"
    try:
        assert post(url, body, {"Content-Type": "application/x-protobuf"})[0] == 200
        deadline = time.monotonic() + 20
        while health(server["base"])["writer_requests_written"] < 20:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # More arrives, then the process dies mid-ingest without any chance to flush.
        for _ in range(5):
            post(url, body, {"Content-Type": "application/x-protobuf"})
    finally:
        server["proc"].kill()
        server["proc"].wait(10)
    committed = query(server["store"], "SELECT count(*) FROM requests")[0][0]
    assert committed >= 20  # everything acknowledged before the last flush
    again = start_server(tmp_path, server["store"])  # the store reopens cleanly
    try:
        assert (
            post(again["base"] + "/v1/traces", body, {"Content-Type": "application/x-protobuf"})[0]
            == 200
        )
        deadline = time.monotonic() + 20
        while health(again["base"])["writer_requests_written"] < 20:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        again["proc"].terminate()
        again["proc"].wait(20)
    assert query(server["store"], "SELECT count(*) FROM requests")[0][0] == committed + 20
