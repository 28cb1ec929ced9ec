"""``otel-perf demo-otlp``: the receiver path end to end, on this machine.

The example Django app runs under gunicorn with this distro and **no local store**
(``OTEL_PERF_STORE=none``), exporting its spans over OTLP to an ``otel-perf serve`` started
for the demo; the receiver stores them (docs/otlp.md) and the usual summary is printed from
that store. The same path as apps on other hosts, or behind a Collector.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request


def register(sub) -> None:
    parser = sub.add_parser(
        "demo-otlp",
        help="run the example app with no local store, exporting OTLP to an otel-perf serve "
        "receiver, and summarise what the receiver stored",
    )
    parser.add_argument("--requests", type=int, default=200, help="requests to send")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--store", default="./otel_perf_demo_otlp", help="the receiver's store (replaced)"
    )
    parser.set_defaults(func=cmd_demo_otlp)


def _health(base: str) -> dict:
    with urllib.request.urlopen(base + "/health", timeout=5) as response:
        return json.loads(response.read())


def _start_serve(store: str, log) -> tuple[subprocess.Popen, str]:
    from otel_perf import demo

    port, otlp_port = demo.free_port(), demo.free_port()
    command = [sys.executable, "-m", "otel_perf.cli", "serve", "--store", store]
    env = {**os.environ, "OTEL_PERF_OTLP_TRACE_WAIT_S": "0.5", "OTEL_PERF_LOG_SLOW_REQUESTS": "0"}
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--otlp-port", str(otlp_port), "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{otlp_port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            _health(base)
            return proc, base
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("otel-perf: the receiver (otel-perf serve) did not start")


def cmd_demo_otlp(args: argparse.Namespace) -> int:
    from otel_perf import demo

    store = os.path.abspath(args.store)
    if os.path.exists(os.path.join(store, "catalog.sqlite")):
        shutil.rmtree(store)
    elif os.path.exists(store) and os.listdir(store):
        raise SystemExit(f"otel-perf: {store} exists and is not an otel-perf store")
    app_dir = demo.find_example_app()
    with tempfile.TemporaryDirectory(prefix="otel-perf-demo-otlp-") as tmp:
        serve_log = open(os.path.join(tmp, "serve.log"), "w+")
        serve, receiver = _start_serve(store, serve_log)
        print(f"otel-perf demo-otlp: receiver at {receiver}/v1/traces, store {store}")
        port = demo.free_port()
        env = demo.app_environment("none", os.path.join(tmp, "demo.sqlite3"))
        env.update(
            {
                "OTEL_SERVICE_NAME": "otel-perf-demo-otlp",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver + "/v1/traces",
                "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
                "OTEL_BSP_SCHEDULE_DELAY": "500",
            }
        )
        demo.prepare_database(app_dir, env)
        app_log = open(os.path.join(tmp, "app.log"), "w")
        app = subprocess.Popen(
            demo.server_command("gunicorn", port, args.workers),
            cwd=app_dir,
            env=env,
            stdout=app_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            demo.wait_ready(base, app)
            print(f"otel-perf demo-otlp: sending {args.requests} requests to the app at {base}")
            statuses = demo.drive_load(base, args.requests, args.concurrency)
            print("otel-perf demo-otlp: responses " + ", ".join(
                f"{k}: {v}" for k, v in sorted(statuses.items())
            ))  # fmt: skip
        finally:
            demo.stop(app)  # the app's exporter flushes on the way out
            app_log.close()
        # Wait until the receiver has stored what it received (the count stops moving).
        last, steady_since = -1, time.monotonic()
        while time.monotonic() - steady_since < 2.0:
            written = _health(receiver)["writer_requests_written"]
            if written != last:
                last, steady_since = written, time.monotonic()
            time.sleep(0.25)
        stats = _health(receiver)
        demo.stop(serve)
        serve_log.close()
    print(
        f"otel-perf demo-otlp: the receiver took {stats['spans_received']} spans; stored "
        f"{stats['roots_stored']} requests ({stats['roots_derived']} derived on the server, "
        f"the rest folded by the app), {stats['spans_orphaned']} spans without a root"
    )
    demo.print_summary(store)
    return 0
