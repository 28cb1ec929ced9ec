"""Request overhead of otel-perf and of its peers on the example Django app under gunicorn.

    python -m benchmarks.overhead [--rounds 8] [--requests 60] [--variants bare,plain,...]

One copy of the example app per variant runs side by side (gunicorn, 2 workers each, each on
its own copy of the seeded sqlite database):

  bare            no instrumentation at all
  plain           plain OpenTelemetry: the upstream opentelemetry-distro and configurator, the
                  same upstream instrumentation packages, traces exporter ``none`` (otel-perf
                  off, and its own instrumentors -- graphql, django_cache, ... -- disabled)
  otel-perf       otel-perf's defaults (local DuckLake store, no exporter)
  otel-perf-otlp  otel-perf's defaults plus OTLP/HTTP trace export (OTEL_TRACES_EXPORTER=otlp)
                  to a local sink answering 200
  sentry          sentry-sdk, Django integration, ``traces_sample_rate=1.0``, its transport to
                  the same local sink (EXAMPLE_SENTRY_DSN; no OpenTelemetry)
  silk            django-silk with its defaults: app + middleware, recording into the app's
                  sqlite database, its migrations run there (EXAMPLE_SILK=1; no OpenTelemetry)

The variants are interleaved round by round (each round sends ``requests`` sequential
requests per endpoint to each variant, in a shuffled order), so drift on the machine hits all
of them alike. Reported per endpoint and variant: p50/p99 latency, requests/s of one
sequential client (requests / summed latency), and CPU per request: the CPU time of the
variant's gunicorn workers (all threads, /proc/<pid>/task/*/schedstat) over each batch,
divided by the batch's requests. Per variant: the same CPU over the whole measured run
including work done in the background between batches (exporters, writers, samplers; from
/proc/<pid>/stat, read a few seconds after the last request), and the workers' RSS and PSS
summed after the run. The overhead ratio ``(otel-perf - bare) / (plain - bare)`` on medians
(1.0 = the same overhead as plain OpenTelemetry) is kept from the first version.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks import peers
from otel_perf import demo

# The example app's typical GraphQL document (gql/documents.py GET_BOOK: one query, 3 fields).
GETBOOK = json.dumps(
    {
        "query": "query GetBook($id: ID!) { book(id: $id) { id title published } }",
        "variables": {"id": "1"},
    }
).encode()

# label -> (path, JSON body for a POST or None for a GET)
REQUESTS = {
    "/books/": ("/books/", None),
    "/books/n-plus-one/": ("/books/n-plus-one/", None),
    "/books/optimized/": ("/books/optimized/", None),
    "/books/1/": ("/books/1/", None),
    "/graphql/ GetBook": ("/graphql/", GETBOOK),
}
ENDPOINTS = tuple(REQUESTS)
VARIANTS = ("bare", "plain", "otel-perf", "otel-perf-otlp", "sentry", "silk")
# Chosen with --variants only: otel-perf with every commit written as Parquet files
# (OTEL_PERF_INLINE_ROW_LIMIT=0) instead of rows inlined in the catalog; the app without a
# store, exporting OTLP to otel-perf serve (the lighter path for app processes).
OPTIONAL_VARIANTS = ("otel-perf-files", "otel-perf-remote")
DESCRIPTIONS = {
    "bare": "no instrumentation",
    "plain": "plain OpenTelemetry SDK, same instrumentations, exporter none",
    "otel-perf": "otel-perf defaults (local store, no exporter)",
    "otel-perf-otlp": "otel-perf defaults + OTLP/HTTP export to a local sink",
    "otel-perf-files": "otel-perf with OTEL_PERF_INLINE_ROW_LIMIT=0 (Parquet per commit)",
    "otel-perf-remote": "otel-perf, no store in the app: OTLP/HTTP to otel-perf serve, which "
    "stores (its CPU is not in the app's)",
    "sentry": "sentry-sdk, Django integration, traces_sample_rate=1.0, transport to a local sink",
    "silk": "django-silk defaults (middleware + app, records into the app's sqlite)",
}
# Seconds to wait after the last request before the whole-run CPU and RSS are read: the OTLP
# batch processor exports every 5 s by default.
SETTLE_SECONDS = 6.0


def install_upstream_distro(target: str) -> None:
    from importlib.metadata import version

    wanted = f"opentelemetry-distro=={version('opentelemetry-instrumentation')}"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, wanted],
        check=True,
    )


def otel_perf_instrumentors() -> list[str]:
    """The ``opentelemetry_instrumentor`` entry points otel-perf itself provides (graphql,
    django_cache, ...). ``opentelemetry-instrument`` loads every installed instrumentor whichever
    distro runs, so the plain-OpenTelemetry variant disables these: upstream has none of them."""
    from importlib.metadata import entry_points

    return sorted(
        ep.name
        for ep in entry_points(group="opentelemetry_instrumentor")
        if ep.dist is not None and ep.dist.name.replace("_", "-").lower() == "otel-perf"
    )


def start_variant(
    variant: str,
    tmp: str,
    app_dir: Path,
    upstream: str,
    workers: int,
    extra_env=None,
    db_path: str | None = None,
    label: str | None = None,
):
    """Start the app as ``variant`` (bare / plain / otel-perf); ``extra_env`` goes on top."""
    label = label or variant
    port = demo.free_port()
    env = demo.app_environment(
        os.path.join(tmp, f"store-{label}"), db_path or os.path.join(tmp, "bench.sqlite3")
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
                # Upstream instrumentations only (extra_env may enable some of ours again).
                "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ",".join(otel_perf_instrumentors()),
            }
        )
    env.update(extra_env or {})
    log = open(os.path.join(tmp, f"{label}.log"), "w")
    proc = subprocess.Popen(
        command, cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    demo.wait_ready(f"http://127.0.0.1:{port}", proc)
    return proc, port


def variant_spec(
    variant: str, sink_port: int | None, receiver_port: int | None = None
) -> tuple[str, dict[str, str]]:
    """(how the app is started: bare / plain / otel-perf, the extra environment)."""
    if variant == "otel-perf-remote":
        return "otel-perf", peers.remote_env(receiver_port)
    if variant == "otel-perf-otlp":
        return "otel-perf", peers.otlp_env(sink_port)
    if variant == "otel-perf-files":
        return "otel-perf", {"OTEL_PERF_INLINE_ROW_LIMIT": "0"}
    if variant == "sentry":
        return "bare", peers.sentry_env(sink_port)
    if variant == "silk":
        return "bare", peers.silk_env()
    return variant, {}


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


def worker_pids(proc: subprocess.Popen, workers: int, timeout: float = 30.0) -> list[int]:
    """The gunicorn workers of a variant (opentelemetry-instrument execs gunicorn in place)."""
    deadline = time.monotonic() + timeout
    while True:
        children = psutil.Process(proc.pid).children(recursive=True)
        if len(children) >= workers or time.monotonic() > deadline:
            return sorted(c.pid for c in children)
        time.sleep(0.2)


def cpu_ns(pids: list[int]) -> int:
    """CPU time of the processes' live threads in ns (schedstat: ns resolution)."""
    total = 0
    for pid in pids:
        for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            try:
                with open(path) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass  # a thread that ended in between
    return total


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of the processes, ended threads included (/proc/<pid>/stat: tick resolution)."""
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def background_cpu_seconds(pids: list[int]) -> float:
    """CPU of the processes' background threads (live threads only). A sync gunicorn worker
    serves requests on its main thread (thread id = pid); the others are otel-perf's writer and
    sampler, an exporter's, sentry's."""
    return sum(
        thread.user_time + thread.system_time
        for pid in pids
        for thread in psutil.Process(pid).threads()
        if thread.id != pid
    )


def memory_mb(pids: list[int]) -> tuple[float, float | None]:
    rss = pss = 0
    for pid in pids:
        p = psutil.Process(pid)
        rss += p.memory_info().rss
        try:
            pss += p.memory_full_info().pss
        except (AttributeError, psutil.AccessDenied):
            pss = None
            break
    return rss / 2**20, (pss / 2**20 if pss is not None else None)


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def measure(
    rounds: int = 8,
    requests: int = 60,
    workers: int = 2,
    seed: int = 1,
    variants: list[str] | tuple[str, ...] | None = None,
) -> dict:
    """Interleaved runs of the chosen variants (all by default; a peer whose package is not
    installed is skipped and named in the result's ``skipped``)."""
    known = VARIANTS + OPTIONAL_VARIANTS
    wanted = [v for v in known if v in (variants or VARIANTS)]
    unknown = set(variants or ()) - set(known)
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
    skipped = {}
    for v in wanted:
        package = peers.missing_package(v)
        if package:
            skipped[v] = f"{package} is not installed (pip install -e '.[bench]')"
    active = [v for v in wanted if v not in skipped]
    app_dir = demo.find_example_app()
    rng = random.Random(seed)
    samples = {(v, e): [] for v in active for e in ENDPOINTS}
    cpu = {(v, e): 0 for v in active for e in ENDPOINTS}
    load_start = os.getloadavg()
    sink = receiver = None
    with tempfile.TemporaryDirectory(prefix="otel-perf-bench-") as tmp:
        upstream = os.path.join(tmp, "upstream")
        if "plain" in active:
            install_upstream_distro(upstream)
        base_db = os.path.join(tmp, "bench.sqlite3")
        env = demo.app_environment("none", base_db)
        demo.prepare_database(app_dir, {k: v for k, v in env.items() if not k.startswith("OTEL")})
        servers, pids = {}, {}
        try:
            if {"sentry", "otel-perf-otlp"} & set(active):
                sink = peers.start_sink()
            if "otel-perf-remote" in active:
                receiver = peers.start_receiver(
                    os.path.join(tmp, "store-receiver"), os.path.join(tmp, "receiver.log")
                )
            for v in active:
                kind, extra = variant_spec(
                    v, sink[1] if sink else None, receiver[1] if receiver else None
                )
                db = peers.variant_database(base_db, v, tmp, app_dir, env)
                servers[v] = start_variant(kind, tmp, app_dir, upstream, workers, extra, db, v)
                pids[v] = worker_pids(servers[v][0], workers)
            for _, port in servers.values():  # warm up every worker
                for path, body in REQUESTS.values():
                    for _ in range(20):
                        timed_get(port, path, body)
            whole_start = {v: cpu_seconds(pids[v]) for v in active}
            background_start = {v: background_cpu_seconds(pids[v]) for v in active}
            for _ in range(rounds):
                order = list(active)
                rng.shuffle(order)
                for v in order:
                    port = servers[v][1]
                    for e, (path, body) in REQUESTS.items():
                        before = cpu_ns(pids[v])
                        samples[(v, e)].extend(timed_get(port, path, body) for _ in range(requests))
                        cpu[(v, e)] += cpu_ns(pids[v]) - before
            time.sleep(SETTLE_SECONDS)
            whole = {v: cpu_seconds(pids[v]) - whole_start[v] for v in active}
            background = {v: background_cpu_seconds(pids[v]) - background_start[v] for v in active}
            memory = {v: memory_mb(pids[v]) for v in active}
            exported = peers.sink_stats(sink[1]) if sink else {}
            if receiver:
                stats = peers.receiver_stats(receiver[1])
                exported["remote"] = {
                    "requests": stats["writer_requests_written"],
                    "spans": stats["spans_received"],
                }
            load_end = os.getloadavg()
        finally:
            for proc, _ in servers.values():
                demo.stop(proc)
            for helper in (sink, receiver):
                if helper:
                    helper[0].kill()
                    helper[0].wait()
    result = {
        "rounds": rounds,
        "requests": requests,
        "workers": workers,
        "variants": active,
        "skipped": skipped,
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "endpoints": {},
        "processes": {},
    }
    for e in ENDPOINTS:
        stats = {}
        for v in active:
            s = samples[(v, e)]
            stats[v] = {
                "p50_ms": statistics.median(s),
                "p99_ms": percentile(s, 99),
                "requests_per_s": len(s) / (sum(s) / 1000.0),
                "cpu_ms_per_request": cpu[(v, e)] / 1e6 / len(s),
            }
        entry = {"median_ms": {v: stats[v]["p50_ms"] for v in active}, "variants": stats}
        if "bare" in active:
            for v in active:
                stats[v]["overhead_ms"] = stats[v]["p50_ms"] - stats["bare"]["p50_ms"]
        if {"bare", "plain", "otel-perf"} <= set(active):
            m = entry["median_ms"]
            plain_overhead = m["plain"] - m["bare"]
            perf_overhead = m["otel-perf"] - m["bare"]
            entry.update(
                plain_overhead_ms=plain_overhead,
                otel_perf_overhead_ms=perf_overhead,
                ratio=perf_overhead / plain_overhead if plain_overhead > 0 else None,
            )
        result["endpoints"][e] = entry
    per_variant_requests = rounds * requests * len(ENDPOINTS)
    for v in active:
        rss, pss = memory[v]
        sink_key = {"sentry": "sentry", "otel-perf-otlp": "otlp", "otel-perf-remote": "remote"}.get(
            v
        )
        result["processes"][v] = {
            "rss_mb": rss,
            "pss_mb": pss,
            "cpu_ms_per_request": sum(cpu[(v, e)] for e in ENDPOINTS) / 1e6 / per_variant_requests,
            "cpu_ms_per_request_incl_background": whole[v] * 1000.0 / per_variant_requests,
            "background_threads_cpu_ms_per_request": background[v] * 1000.0 / per_variant_requests,
            "exported": exported.get(sink_key) if sink_key else None,
        }
    return result


def _f(value: float | None, fmt: str = ".2f") -> str:
    return "n/a" if value is None else format(value, fmt)


def render(over: dict) -> list[str]:
    """Markdown for docs/benchmarks.md (and the command's own output)."""
    active = over.get("variants", ["bare", "plain", "otel-perf"])
    lines = [
        f"## Request overhead (example Django app, gunicorn, {over['workers']} workers)",
        "",
        f"`python -m benchmarks.overhead`: {over['rounds']} interleaved rounds of "
        f"{over['requests']} sequential requests per endpoint and variant (one client on "
        "loopback).",
    ]
    if "loadavg_start" in over:
        start = ", ".join(f"{x:.2f}" for x in over["loadavg_start"])
        end = ", ".join(f"{x:.2f}" for x in over["loadavg_end"])
        lines.append(
            f"Load average (1, 5, 15 min) at the start: {start}; at the end: {end} "
            f"on {os.cpu_count()} cores."
        )
    for v, why in over.get("skipped", {}).items():
        lines.append(f"Skipped `{v}`: {why}.")
    first = next(iter(over["endpoints"].values()))
    if "ratio" in first:
        lines += [
            "",
            "Medians in ms. Ratio = (otel-perf − bare) / (plain OpenTelemetry − bare); "
            "target ≤ 1.10.",
            "",
            "| endpoint | bare | plain OTel | otel-perf | plain overhead | otel-perf overhead "
            "| ratio |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for endpoint, r in over["endpoints"].items():
            m = r["median_ms"]
            lines.append(
                f"| `{endpoint}` | {m['bare']:.2f} | {m['plain']:.2f} | {m['otel-perf']:.2f} | "
                f"{r['plain_overhead_ms']:.2f} | {r['otel_perf_overhead_ms']:.2f} | "
                f"{_f(r['ratio'])} |"
            )
    if "variants" not in first:
        return lines
    lines += ["", "### Against the peers", ""]
    lines += [f"- `{v}`: {DESCRIPTIONS[v]}" for v in active]
    lines += [
        "",
        "Latency in ms; overhead = p50 − bare's p50; req/s of one sequential client; CPU = the "
        "variant's gunicorn workers' CPU time during the batches ÷ requests.",
        "",
        "| endpoint | variant | p50 | p99 | overhead | req/s | CPU ms/req |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for endpoint, r in over["endpoints"].items():
        for v in active:
            s = r["variants"][v]
            lines.append(
                f"| `{endpoint}` | {v} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
                f"{_f(s.get('overhead_ms'))} | {s['requests_per_s']:.0f} | "
                f"{s['cpu_ms_per_request']:.2f} |"
            )
    lines += [
        "",
        "Per variant, over all endpoints: CPU per request during the batches, and over the "
        f"whole run including background work between batches (read {SETTLE_SECONDS:.0f} s after "
        "the last request), and of that whole the share of the workers' background threads "
        "(everything but the request thread: writer, sampler, exporter); the workers' RSS and "
        "PSS summed after the run; what reached the local sink.",
        "",
        "| variant | CPU ms/req | CPU ms/req incl. background | of which background threads "
        "| RSS MB | PSS MB | exported |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for v in active:
        p = over["processes"][v]
        sent = p["exported"]
        if sent and "spans" in sent:
            sent = f"{sent['requests']} requests stored by the receiver ({sent['spans']} spans)"
        else:
            sent = f"{sent['requests']} POSTs, {sent['bytes'] / 1024:.0f} KiB" if sent else "—"
        lines.append(
            f"| {v} | {p['cpu_ms_per_request']:.2f} | "
            f"{p['cpu_ms_per_request_incl_background']:.2f} | "
            f"{_f(p.get('background_threads_cpu_ms_per_request'))} | {p['rss_mb']:.0f} | "
            f"{_f(p['pss_mb'], '.0f')} | {sent} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated subset of {','.join(VARIANTS)} (default: all)",
    )
    parser.add_argument("--json", help="also write the raw result to this file")
    args = parser.parse_args()
    chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
    result = measure(args.rounds, args.requests, args.workers, variants=chosen)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print("\n".join(render(result)))


if __name__ == "__main__":
    main()
