"""OTLP receiver ingest, end to end: pre-encoded payloads → ``otel-perf serve`` → the store.

    python -m benchmarks.otlp_ingest [--traces 20000] [--children 7] [--batch 2000]
                                     [--clients 4] [--plain]

Payloads are built once with the SDK's own OTLP encoder (the exporter costs 9-12 us per span
to produce and would be the bottleneck) from real spans: a SERVER root with ``children`` DB
spans, folded by PerfSpanProcessor (an app running the distro) or, with ``--plain``, without
any perf.* facts (derived on the server). ``clients`` threads POST them over keep-alive
connections as fast as the server takes them; a 503 (back-pressure) is retried after its
Retry-After. Spans/s = spans sent / (time until the server's writer has committed every
root, from its /health counters). Peak RSS is the server's VmHWM. The server is a real
subprocess with a DuckLake store in a temp folder.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_perf import demo
from otel_perf.settings import Settings
from processors.perf_processor import PerfSpanProcessor


class _Drop:
    def submit(self, item) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def flush(self, timeout: float = 0) -> bool:
        return True


def build_payloads(traces: int, children: int, batch: int, plain: bool) -> list[bytes]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    if not plain:
        provider.add_span_processor(PerfSpanProcessor(_Drop(), Settings()))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    attrs = {
        "http.request.method": "GET",
        "http.route": "/books/<int:pk>/",
        "url.path": "/books/1/",
        "http.response.status_code": 200,
    }
    for _ in range(traces):
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes=attrs):
            for i in range(children):
                with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as span:
                    span.set_attribute("db.system", "postgresql")
                    span.set_attribute(
                        "db.statement", f'SELECT "book"."id" FROM "book" WHERE "id" = {i % 3}'
                    )
    spans = exporter.get_finished_spans()
    provider.shutdown()
    return [
        encode_spans(spans[i : i + batch]).SerializeToString() for i in range(0, len(spans), batch)
    ]


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _written(port: int) -> int:
    """Roots the server's writer has committed (its /health counters: cheaper than opening
    the store, which would take CPU from the server being measured)."""
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    con.request("GET", "/health")
    return json.loads(con.getresponse().read())["writer_requests_written"]


def run(traces: int, children: int, batch: int, clients: int, plain: bool) -> dict:
    payloads = build_payloads(traces, children, batch, plain)
    spans = traces * (children + 1)
    tmp = tempfile.mkdtemp(prefix="otlp-bench-")
    store = os.path.join(tmp, "store")
    port, otlp_port = demo.free_port(), demo.free_port()
    env = {
        **os.environ,
        "OTEL_PERF_STORE": store,
        "OTEL_PERF_OTLP_TRACE_WAIT_S": "0.5",
        "OTEL_PERF_QUEUE_SIZE": "100000",
        "OTEL_PERF_LOG_SLOW_REQUESTS": "false",
    }
    log = open(os.path.join(tmp, "serve.log"), "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "otel_perf.cli", "serve", "--port", str(port),
         "--otlp-port", str(otlp_port), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        demo_wait(otlp_port, server)
        work: queue.Queue = queue.Queue()
        for body in payloads:
            work.put(body)
        refused = [0]

        def client() -> None:
            con = http.client.HTTPConnection("127.0.0.1", otlp_port, timeout=60)
            headers = {"Content-Type": "application/x-protobuf"}
            while True:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                while True:
                    con.request("POST", "/v1/traces", body, headers)
                    response = con.getresponse()
                    response.read()
                    if response.status == 200:
                        break
                    refused[0] += 1
                    time.sleep(float(response.getheader("Retry-After", "1")) / 4)

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent = time.perf_counter() - started
        while _written(otlp_port) < traces:
            time.sleep(0.05)
            if time.perf_counter() - started > 600:
                raise SystemExit("otlp_ingest: the store did not receive every trace")
        stored = time.perf_counter() - started
        return {
            "spans": spans,
            "payloads": len(payloads),
            "payload_kib": round(sum(map(len, payloads)) / len(payloads) / 1024, 1),
            "mode": "plain (derived on the server)" if plain else "distro (perf.* folded)",
            "accept_spans_per_s": round(spans / sent),
            "end_to_end_spans_per_s": round(spans / stored),
            "refused_503": refused[0],
            "peak_rss_mb": round(_peak_rss_mb(server.pid), 1),
        }
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def demo_wait(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("otlp_ingest: otel-perf serve exited")
        try:
            con = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            con.request("GET", "/health")
            if con.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("otlp_ingest: otel-perf serve did not start")


TARGET_SPANS_S_PER_CORE = 50_000


def measure(
    traces: int = 20000, children: int = 7, batch: int = 2000, clients: int = 4, plain=False
) -> dict:
    load = [os.getloadavg()[0]]
    result = run(traces, children, batch, clients, plain)
    load.append(os.getloadavg()[0])
    return {**result, "traces": traces, "children": children, "batch": batch,
            "clients": clients, "cores": os.cpu_count(), "loadavg_1m": load}  # fmt: skip


def render(result: dict) -> list[str]:
    load = result["loadavg_1m"]
    return [
        "## Ingest: OTLP receiver",
        "",
        f"`python -m benchmarks.otlp_ingest`: {result['traces']:,} traces (a SERVER root with "
        f"{result['children']} DB children: {result['spans']:,} spans, {result['mode']}) "
        f"pre-encoded as {result['payloads']} OTLP/HTTP protobuf payloads of "
        f"{result['batch']:,} spans ({result['payload_kib']} KiB each), POSTed by "
        f"{result['clients']} client threads to a real `otel-perf serve` (one process) with a "
        "DuckLake store in a temp folder. *Accepted*: spans / time until the last 200; "
        "*stored*: spans / time until the server's writer reports every root committed. "
        f"Target ≥ {TARGET_SPANS_S_PER_CORE:,} spans/s per core. {result['cores']} cores; "
        f"load average (1 min): {min(load):.1f}–{max(load):.1f}.",
        "",
        "| accepted spans/s | stored spans/s | 503 refusals | server peak RSS MiB |",
        "|---:|---:|---:|---:|",
        f"| {result['accept_spans_per_s']:,} | {result['end_to_end_spans_per_s']:,} | "
        f"{result['refused_503']} | {result['peak_rss_mb']} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=20000)
    parser.add_argument("--children", type=int, default=7)
    parser.add_argument("--batch", type=int, default=2000, help="spans per request")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--plain", action="store_true", help="no perf.* facts: derived")
    args = parser.parse_args()
    result = measure(args.traces, args.children, args.batch, args.clients, args.plain)
    print("\n".join(render(result)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
