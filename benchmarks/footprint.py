"""Memory: what the engine costs an app process, and whether app RSS stays flat under load.

    python -m benchmarks.footprint [--seconds 120] [--clients 4]

*Import cost*: a fresh interpreter per case imports a set of modules and reads its own RSS
(``/proc/self/statm``); median of three. The cases add up: Python alone; Django and the
OpenTelemetry SDK with the instrumentations the example app uses (what plain OpenTelemetry
loads); + otel-perf's processor; + the store writer (duckdb and pyarrow, imported only in
processes that store something: ``otel_perf.pipeline.attach_store``).

*Sustained load*: the example app under gunicorn (2 workers), ``clients`` threads sending the
overhead benchmark's requests back to back for ``seconds``, one variant after the other:
``bare``; ``otel-perf`` (defaults: each worker writes the local store); ``otel-perf-remote``
(the lighter path for app processes: ``OTEL_PERF_STORE=none`` in the app, spans exported over
OTLP/HTTP to ``otel-perf serve``, whose receiver writes the store in its own process). The
workers' RSS is summed every ``interval`` seconds. Reported: RSS after the warm-up (10 % of the
run) and at the end, the slope of a least-squares line over the second half (MB/min: flat is
about 0), requests served, and what the store got (requests written, dropped) — from the
workers' heartbeats for ``otel-perf``, from the server's /health for the remote path.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchmarks import overhead, peers
from otel_perf import demo

IMPORT_CASES = (
    ("Python alone", ""),
    (
        "+ Django, OpenTelemetry SDK, instrumentations",
        "import django, django.db.models, opentelemetry.sdk.trace, "
        "opentelemetry.instrumentation.django, opentelemetry.instrumentation.sqlite3, "
        "opentelemetry.instrumentation.dbapi",
    ),
    ("+ otel-perf processor", "import processors.perf_processor, otel_perf.pipeline"),
    ("+ store writer (duckdb, pyarrow)", "import otel_perf.storage.writer"),
)
_READ_RSS = (
    "import os; print(int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE'))"
)


def import_cost(repeats: int = 3) -> list[dict]:
    """RSS after each cumulative set of imports (MB), in fresh interpreters."""
    rows, imports = [], []
    for label, statement in IMPORT_CASES:
        if statement:
            imports.append(statement)
        code = "; ".join([*imports, _READ_RSS])
        readings = [
            int(
                subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, check=True, text=True
                ).stdout
            )  # fmt: skip
            for _ in range(repeats)
        ]
        rows.append({"case": label, "rss_mb": statistics.median(readings) / 2**20})
    for i, row in enumerate(rows):
        row["added_mb"] = row["rss_mb"] - rows[i - 1]["rss_mb"] if i else 0.0
    return rows


def _slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) over the second half of the run."""
    half = samples[len(samples) // 2 :]
    if len(half) < 2:
        return 0.0
    slope, _ = statistics.linear_regression([t for t, _ in half], [m for _, m in half])
    return slope * 60


def _drive(port: int, seconds: float, clients: int) -> int:
    """``clients`` threads requesting the endpoint mix back to back; returns requests served."""
    deadline = time.monotonic() + seconds
    served = [0] * clients

    def client(i: int) -> None:
        requests = list(overhead.REQUESTS.values())
        n = i
        while time.monotonic() < deadline:
            path, body = requests[n % len(requests)]
            overhead.timed_get(port, path, body)
            served[i] += 1
            n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(served)


def _heartbeat_counts(store: str) -> dict:
    """The workers' last heartbeat counters (read after they stopped and flushed)."""
    from query_api.store import StoreReader

    with StoreReader(store).cursor() as cursor:
        row = cursor.execute(
            "SELECT sum(requests_written), sum(requests_dropped) FROM ("
            " SELECT arg_max(requests_written, last_seen) AS requests_written,"
            "        arg_max(requests_dropped, last_seen) AS requests_dropped"
            " FROM service_instances GROUP BY instance_id)"
        ).fetchone()
    return {"written": int(row[0] or 0), "dropped": int(row[1] or 0)}


def soak(variant: str, seconds: float, clients: int, interval: float, tmp: str) -> dict:
    """One variant's soak; for ``otel-perf-remote`` with its ``otel-perf serve`` beside it."""
    if variant != "otel-perf-remote":
        return _soak_app(variant, seconds, clients, interval, tmp, {})
    server, otlp_port = peers.start_receiver(
        os.path.join(tmp, "store-remote"), os.path.join(tmp, "serve.log")
    )
    try:
        result = _soak_app(variant, seconds, clients, interval, tmp, peers.remote_env(otlp_port))
        deadline = time.monotonic() + 30
        while True:  # the receiver waits briefly for late children before it stores a trace
            health = peers.receiver_stats(otlp_port)
            if health["writer_requests_written"] >= result["requests"]:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        result["store"] = {
            "written": health["writer_requests_written"],
            "dropped": health["writer_requests_dropped"],
        }
        result["server_peak_rss_mb"] = _peak_rss_mb(server.pid)
        return result
    finally:
        server.terminate()
        server.wait(30)


def _soak_app(
    variant: str, seconds: float, clients: int, interval: float, tmp: str, extra: dict
) -> dict:
    app_dir = demo.find_example_app()
    db = os.path.join(tmp, "bench.sqlite3")
    kind = "bare" if variant == "bare" else "otel-perf"
    proc, port = overhead.start_variant(kind, tmp, app_dir, "", 2, extra, db, variant)
    try:
        pids = overhead.worker_pids(proc, 2)
        samples: list[tuple[float, float]] = []
        stop = threading.Event()
        started = time.monotonic()

        def sample() -> None:
            while not stop.wait(interval):
                samples.append((time.monotonic() - started, overhead.memory_mb(pids)[0]))

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            served = _drive(port, seconds, clients)
        finally:
            stop.set()
            sampler.join()
    finally:
        demo.stop(proc)  # graceful: the workers flush and write their last heartbeat
    result = {
        "variant": variant,
        "requests": served,
        "requests_per_s": served / seconds,
        "rss_warm_mb": next(m for t, m in samples if t >= seconds * 0.1),
        "rss_end_mb": samples[-1][1],
        "slope_mb_per_min": _slope_mb_per_min(samples),
        "samples": samples,
    }
    if variant == "otel-perf":  # start_variant's store for this label
        result["store"] = _heartbeat_counts(os.path.join(tmp, f"store-{variant}"))
    return result


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(seconds: float = 120, clients: int = 4, interval: float = 2.0) -> dict:
    result = {"seconds": seconds, "clients": clients, "imports": import_cost(), "soak": []}
    with tempfile.TemporaryDirectory(prefix="otel-perf-footprint-") as tmp:
        app_dir = demo.find_example_app()
        env = demo.app_environment("none", os.path.join(tmp, "bench.sqlite3"))
        demo.prepare_database(app_dir, {k: v for k, v in env.items() if not k.startswith("OTEL")})
        for variant in ("bare", "otel-perf", "otel-perf-remote"):
            result["soak"].append(soak(variant, seconds, clients, interval, tmp))
    return result


def render(result: dict) -> list[str]:
    lines = [
        "## Memory: the engine's fixed cost and RSS under sustained load",
        "",
        "`python -m benchmarks.footprint`: RSS of a fresh interpreter after each cumulative set "
        "of imports (median of 3).",
        "",
        "| imports | RSS MB | added MB |",
        "|---|---:|---:|",
    ]
    for row in result["imports"]:
        lines.append(f"| {row['case']} | {row['rss_mb']:.1f} | {row['added_mb']:+.1f} |")
    lines += [
        "",
        f"Sustained load: the example app (gunicorn, 2 workers), {result['clients']} clients "
        f"back to back for {result['seconds']:.0f} s per variant; the workers' summed RSS. "
        "`otel-perf-remote` = the app with `OTEL_PERF_STORE=none` exporting OTLP to "
        "`otel-perf serve` (the server's peak RSS beside it).",
        "",
        "| variant | requests | req/s | RSS after warm-up MB | RSS at end MB | slope MB/min "
        "(2nd half) | stored | dropped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["soak"]:
        store = r.get("store") or {}
        server = f" (+ server {r['server_peak_rss_mb']:.0f})" if "server_peak_rss_mb" in r else ""
        lines.append(
            f"| {r['variant']} | {r['requests']} | {r['requests_per_s']:.0f} | "
            f"{r['rss_warm_mb']:.0f} | {r['rss_end_mb']:.0f}{server} | "
            f"{r['slope_mb_per_min']:+.2f} | {store.get('written', '—')} | "
            f"{store.get('dropped', '—')} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--json", help="also write the raw result to this file")
    args = parser.parse_args()
    result = measure(args.seconds, args.clients, args.interval)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    print("\n".join(render(result)))


if __name__ == "__main__":
    main()
