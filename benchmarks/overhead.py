"""Request overhead of otel-perf on the example Django app under gunicorn, in one run.

    python -m benchmarks.overhead [--rounds 8] [--requests 60]

Three copies of the example app run side by side (gunicorn, 2 workers each):

  bare       no instrumentation at all
  plain      plain OpenTelemetry: the upstream opentelemetry-distro and configurator, the same
             instrumentation packages, traces exporter ``none`` (otel-perf switched off)
  otel-perf  otel-perf's defaults (local DuckLake store, no exporter)

The variants are interleaved round by round (each round sends ``requests`` sequential
requests per endpoint to each variant in a shuffled order), so drift on the machine hits all
of them alike. Reported: median latency per endpoint and variant, and the overhead ratio
``(otel-perf - bare) / (plain - bare)`` (1.0 = the same overhead as plain OpenTelemetry).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from otel_perf import demo

ENDPOINTS = ("/books/", "/books/n-plus-one/", "/books/optimized/", "/books/1/")
VARIANTS = ("bare", "plain", "otel-perf")


def install_upstream_distro(target: str) -> None:
    from importlib.metadata import version

    wanted = f"opentelemetry-distro=={version('opentelemetry-instrumentation')}"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, wanted],
        check=True,
    )


def start_variant(
    variant: str, tmp: str, app_dir: Path, upstream: str, workers: int, extra_env=None
):
    port = demo.free_port()
    env = demo.app_environment(
        os.path.join(tmp, f"store-{variant}"), os.path.join(tmp, "bench.sqlite3")
    )
    gunicorn = [
        demo.bin_path("gunicorn"),
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "mysite.wsgi",
    ]
    if variant == "bare":
        command = gunicorn
        env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    else:
        command = [demo.bin_path("opentelemetry-instrument"), *gunicorn]
    if variant == "plain":
        env.update(
            {
                "PYTHONPATH": upstream,
                "OTEL_PYTHON_DISTRO": "distro",
                "OTEL_PYTHON_CONFIGURATOR": "configurator",
                "OTEL_PERF_ENABLED": "false",
                "OTEL_TRACES_EXPORTER": "none",
                "OTEL_METRICS_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none",
                # Plain OpenTelemetry needs the settings module exported before start-up.
                "DJANGO_SETTINGS_MODULE": "mysite.settings",
            }
        )
    env.update(extra_env or {})
    log = open(os.path.join(tmp, f"{variant}.log"), "w")
    proc = subprocess.Popen(
        command, cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    demo.wait_ready(f"http://127.0.0.1:{port}", proc)
    return proc, port


def timed_get(port: int, path: str, body: bytes | None = None) -> float:
    """One request's latency in ms (a POST of JSON when ``body`` is given)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    if body is None:
        conn.request("GET", path)
    else:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}")
    return elapsed * 1000.0


def measure(rounds: int = 8, requests: int = 60, workers: int = 2, seed: int = 1) -> dict:
    app_dir = demo.find_example_app()
    rng = random.Random(seed)
    samples = {(v, e): [] for v in VARIANTS for e in ENDPOINTS}
    with tempfile.TemporaryDirectory(prefix="otel-perf-bench-") as tmp:
        upstream = os.path.join(tmp, "upstream")
        install_upstream_distro(upstream)
        env = demo.app_environment("none", os.path.join(tmp, "bench.sqlite3"))
        demo.prepare_database(app_dir, {k: v for k, v in env.items() if not k.startswith("OTEL")})
        servers = {v: start_variant(v, tmp, app_dir, upstream, workers) for v in VARIANTS}
        try:
            for _, port in servers.values():  # warm up every worker
                for e in ENDPOINTS:
                    for _ in range(20):
                        timed_get(port, e)
            for _ in range(rounds):
                order = list(VARIANTS)
                rng.shuffle(order)
                for v in order:
                    port = servers[v][1]
                    for e in ENDPOINTS:
                        samples[(v, e)].extend(timed_get(port, e) for _ in range(requests))
        finally:
            for proc, _ in servers.values():
                demo.stop(proc)
    result = {"rounds": rounds, "requests": requests, "workers": workers, "endpoints": {}}
    for e in ENDPOINTS:
        medians = {v: statistics.median(samples[(v, e)]) for v in VARIANTS}
        plain_overhead = medians["plain"] - medians["bare"]
        perf_overhead = medians["otel-perf"] - medians["bare"]
        result["endpoints"][e] = {
            "median_ms": medians,
            "plain_overhead_ms": plain_overhead,
            "otel_perf_overhead_ms": perf_overhead,
            "ratio": perf_overhead / plain_overhead if plain_overhead > 0 else None,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    result = measure(args.rounds, args.requests, args.workers)
    print(f"{'endpoint':22s} {'bare':>8s} {'plain':>8s} {'otel-perf':>10s} {'ratio':>6s}")
    for e, r in result["endpoints"].items():
        m = r["median_ms"]
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "n/a"
        print(f"{e:22s} {m['bare']:8.2f} {m['plain']:8.2f} {m['otel-perf']:10.2f} {ratio:>6s}")


if __name__ == "__main__":
    main()
