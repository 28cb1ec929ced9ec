"""The peers' side of ``benchmarks.overhead``: a local sink for what the apps export, and the
settings that switch sentry-sdk / django-silk on in the example app.

The sink is a tiny HTTP/1.1 server in its own process (so its work competes neither with the
load generator's timing loop nor with the measured workers' CPU accounting): it answers 200 to
every POST — Sentry envelopes (``/api/<project>/envelope/``) and OTLP/HTTP traces
(``/v1/traces``, an empty ``ExportTraceServiceResponse``) — and counts requests and bytes per
path; ``GET /stats`` returns the counts as JSON. Nothing leaves the machine.

    python -m benchmarks.peers --port 4318
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from otel_perf import demo

REPO = Path(__file__).resolve().parents[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporters' connection pools expect
    counts: dict = defaultdict(lambda: [0, 0])
    lock = threading.Lock()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self._body()
        key = "otlp" if self.path.startswith("/v1/") else "sentry"
        with self.lock:
            self.counts[key][0] += 1
            self.counts[key][1] += len(body)
        if key == "otlp":
            self._answer(b"", "application/x-protobuf")
        else:
            self._answer(b"{}", "application/json")

    def do_GET(self) -> None:  # noqa: N802
        with self.lock:
            stats = {k: {"requests": v[0], "bytes": v[1]} for k, v in self.counts.items()}
        self._answer(json.dumps(stats).encode(), "application/json")

    def log_message(self, *args) -> None:  # quiet
        pass


def serve(port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    server.serve_forever()


def start_sink() -> tuple[subprocess.Popen, int]:
    port = demo.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.peers", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            sink_stats(port)
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("benchmarks: the local sink did not start")


def sink_stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as resp:
        return json.loads(resp.read())


# ---- the peers in the example app (read by examples/django_app/mysite/settings.py) ----


def sentry_env(sink_port: int) -> dict[str, str]:
    """sentry-sdk, Django integration, tracing at 100 %; its transport to the local sink."""
    return {
        "EXAMPLE_SENTRY_DSN": f"http://public@127.0.0.1:{sink_port}/1",
        "EXAMPLE_SENTRY_TRACES_SAMPLE_RATE": "1.0",
    }


def silk_env() -> dict[str, str]:
    """django-silk with its defaults (app + middleware; it records into the app's sqlite)."""
    return {"EXAMPLE_SILK": "1"}


def otlp_env(sink_port: int) -> dict[str, str]:
    """otel-perf's defaults plus OTLP/HTTP trace export to the local sink."""
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{sink_port}/v1/traces",
    }


def start_receiver(store: str, log_path: str) -> tuple[subprocess.Popen, int]:
    """``otel-perf serve`` with its OTLP receiver writing ``store``: the other end of the
    lighter path for app processes (the app keeps no store; it exports OTLP here)."""
    port, otlp_port = demo.free_port(), demo.free_port()
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_perf.cli", "serve", "--store", store, "--port", str(port),
         "--otlp-port", str(otlp_port), "--log-level", "warning"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    demo.wait_ready(f"http://127.0.0.1:{otlp_port}", proc, path="/health")
    return proc, otlp_port


def receiver_stats(otlp_port: int) -> dict:
    """The receiver's counters (spans received, roots stored, the writer's written/dropped)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{otlp_port}/health", timeout=10) as resp:
        return json.loads(resp.read())


def remote_env(otlp_port: int) -> dict[str, str]:
    """The app keeps no store (no duckdb/pyarrow in its processes) and exports OTLP/HTTP to
    ``otel-perf serve``, which derives and stores the same facts."""
    return {
        "OTEL_PERF_STORE": "none",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{otlp_port}/v1/traces",
    }


def missing_package(variant: str) -> str | None:
    """The package a peer variant needs when it is not installed, else None."""
    from importlib.util import find_spec

    needs = {"sentry": "sentry_sdk", "silk": "silk"}
    module = needs.get(variant)
    if module and find_spec(module) is None:
        return {"sentry_sdk": "sentry-sdk", "silk": "django-silk"}[module]
    return None


def variant_database(base_db: str, variant: str, tmp: str, app_dir: Path, env: dict) -> str:
    """A copy of the seeded database for one variant; silk's own migrations run in it."""
    path = os.path.join(tmp, f"db-{variant}.sqlite3")
    shutil.copyfile(base_db, path)
    if variant == "silk":
        migrate_env = {k: v for k, v in env.items() if not k.startswith("OTEL")}
        migrate_env.update(silk_env())
        migrate_env["EXAMPLE_DB_PATH"] = path
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=app_dir,
            env=migrate_env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="a local sink for Sentry envelopes and OTLP")
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)
