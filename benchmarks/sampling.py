"""What store sampling (OTEL_PERF_STORE_SAMPLE_RATE) saves, and what it costs the reports.

    python -m benchmarks.sampling [--quick] [--requests 100000] [--rounds 3] [--rows 1000000]

Part 1, savings and accuracy. The request mix of ``benchmarks.storage`` (30 REST endpoints,
5 % N+1 loops, 10 % GraphQL with complexity 5–200, ~1 % errors) is generated once through
the real processor (roots folded, held in a list); with OTEL_PERF_SLOW_REQUEST_MS lowered to
``slow_ms`` so that a few percent of the mix is slow. The same requests then go through a
fresh StoreWriter into a DuckLake folder per rate (1, 0.5, 0.1), submitted at once and timed
until committed: *writer CPU* is the process's CPU time over that span (the writer thread;
the submitting thread only appends to a deque). Then the store is maintained as
``otel-perf maintain`` does and measured: rows in all tables and live bytes (Parquet files
of the current snapshot + catalog). Accuracy: the reports' statements (``REQUEST_FIGURES``,
``ENDPOINT_FIGURES``, through the same ``statement_for`` the reports use, so the weighted
twin under sampling) against rate 1, the truth: total count, errors, N+1 requests, overall
p50/p95/p99 and, per endpoint with at least 200 requests, the p95's relative error.

Part 2, the cost of weighted percentiles: a ``requests`` table of ``rows`` rows (in-memory
DuckDB, the store's schema, 30 endpoints, lognormal durations), all weights 1 or 10 % of
rows at weight 10 (the rest deleted as sampling would have); medians of ``rounds``
interleaved runs of: the plain statement (``quantile_cont``), its weighted twin, and the
probe that decides between them (``weight <> 1 ... LIMIT 1``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

import numpy as np
import pyarrow as pa
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from benchmarks.storage import Traffic, _sizes
from otel_perf.settings import Settings
from otel_perf.storage.address import parse_address
from otel_perf.storage.writer import StoreWriter
from query_api import queries as Q
from query_api.weighted import statement_for

_MS = 1_000_000
RATES = (1.0, 0.5, 0.1)
MIN_ENDPOINT_REQUESTS = 200


class ListSink:
    """Holds the processor's finished roots, to replay the same requests at every rate."""

    def __init__(self) -> None:
        self.items: list = []

    def submit(self, item) -> None:
        self.items.append(item)

    def shutdown(self) -> None:
        pass

    def flush(self, timeout: float = 0.0) -> bool:
        return True


def _generate(requests: int, seed: int, settings: Settings) -> tuple[list, int]:
    from processors.perf_processor import PerfSpanProcessor

    sink = ListSink()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop-api"}))
    provider.add_span_processor(PerfSpanProcessor(sink, settings))
    start_ns = time.time_ns() - int(requests * 50 * _MS * 1.1)  # ends about now
    traffic = Traffic(provider.get_tracer("bench"), seed, start_ns)
    for _ in range(requests):
        traffic.request()
    provider.shutdown()
    return sink.items, traffic.spans


def _figures(con) -> dict:
    from query_api.reports.common import EARLIEST, LATEST

    window = {"start": EARLIEST, "end": LATEST, "method": ""}
    cursor = con.execute(statement_for(con, Q.REQUEST_FIGURES, window), window)
    names = [d[0] for d in cursor.description]
    overall = dict(zip(names, cursor.fetchone(), strict=True))
    params = {**window, "top_n": 1000}
    cursor = con.execute(statement_for(con, Q.ENDPOINT_FIGURES, params), params)
    names = [d[0] for d in cursor.description]
    endpoints = {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}
    always = con.execute("SELECT count(*) FROM requests WHERE weight = 1").fetchone()[0]
    return {
        "always_kept": always,
        "count": overall["count"],
        "errors": overall["error_rate"] * overall["count"],
        "n_plus_one_requests": overall["n_plus_one_requests"],
        "p50_ms": overall["p50_ms"],
        "p95_ms": overall["p95_ms"],
        "p99_ms": overall["p99_ms"],
        "endpoint_p95": {k: (v["count"], v["p95_ms"]) for k, v in endpoints.items()},
    }


def _store(items: list, rate: float, settings: Settings, folder: str) -> dict:
    from otel_perf.storage.session import StoreSession

    path = os.path.join(folder, f"rate-{rate}")
    address = parse_address(path)
    settings = Settings(
        store=path,
        store_sample_rate=rate,
        slow_request_ms=settings.slow_request_ms,
        queue_size=len(items) + 1000,
        log_slow_requests=False,
    )
    resource = Resource.create({"service.name": "shop-api"})
    writer = StoreWriter(address, settings, resource.attributes)
    cpu, wall = time.process_time(), time.perf_counter()
    for item in items:
        writer.submit(item)
    committed = writer.flush(timeout=900)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    writer.shutdown()
    session = StoreSession(address)
    try:
        session.maintain()
        figures = _figures(session.con)
    finally:
        session.close()
    sizes = _sizes(address)
    tables = sizes["tables"]
    return {
        "rate": rate,
        "committed": committed,
        "stored_requests": tables.get("requests", {}).get("rows", 0),
        "sampled_out": writer.requests_sampled_out,
        "rows": sum(t["rows"] for t in tables.values()),
        "live_bytes": sizes["live_bytes"],
        "parquet_bytes": sizes["live_parquet_bytes"],
        "writer_cpu_s": cpu,
        "writer_wall_s": wall,
        "figures": figures,
    }


def _accuracy(truth: dict, got: dict) -> dict:
    def rel(a, b):
        return None if a in (None, 0) or b is None else (b - a) / a

    errors = []
    for endpoint, (n, p95) in truth["endpoint_p95"].items():
        if n >= MIN_ENDPOINT_REQUESTS and endpoint in got["endpoint_p95"]:
            errors.append(abs(rel(p95, got["endpoint_p95"][endpoint][1])))
    return {
        **{k: rel(truth[k], got[k]) for k in ("count", "errors", "n_plus_one_requests")},
        **{k: rel(truth[k], got[k]) for k in ("p50_ms", "p95_ms", "p99_ms")},
        "endpoints": len(errors),
        "endpoint_p95_median_abs": statistics.median(errors) if errors else None,
        "endpoint_p95_max_abs": max(errors) if errors else None,
    }


# -- part 2: the cost of the weighted percentiles --------------------------------------------
def _table(con, rows: int, sampled: bool, seed: int) -> int:
    from otel_perf.storage.schema import TABLES

    rng = np.random.default_rng(seed)
    columns = ", ".join(f"{name} {kind}" for name, kind in TABLES["requests"])
    con.execute("DROP TABLE IF EXISTS requests")
    con.execute(f"CREATE TABLE requests ({columns})")
    n = rows
    weight = np.ones(n)
    keep = np.ones(n, dtype=bool)
    if sampled:  # 10 % stored at weight 10, as sampling at 0.1 leaves them
        keep = rng.random(n) < 0.1
        weight[:] = 10.0
    endpoint = rng.integers(0, 30, n)
    now_us = int(time.time() * 1e6)
    data = pa.table(
        {
            "timestamp": pa.array(now_us - rng.integers(0, 86_400_000_000, n), pa.timestamp("us")),
            "endpoint": pa.array([f"GET /api/e{i}/" for i in endpoint]),
            "method": pa.array(np.full(n, "GET")),
            "duration_ms": rng.lognormal(3, 1, n),
            "weight": weight,
            "error": rng.random(n) < 0.01,
            "status_code": np.full(n, 200, dtype=np.int16),
            "db_count": rng.integers(1, 10, n).astype(np.int32),
            "db_time_ms": rng.uniform(1, 20, n),
            "is_slow": np.zeros(n, dtype=bool),
            "n_plus_one_count": np.zeros(n, dtype=np.int16),
            "cache_hits": np.zeros(n, dtype=np.int32),
            "cache_misses": np.zeros(n, dtype=np.int32),
        }
    ).filter(pa.array(keep))
    names = ", ".join(data.column_names)
    con.register("data", data)
    con.execute(f"INSERT INTO requests ({names}) SELECT {names} FROM data")
    con.unregister("data")
    return data.num_rows


def _timed(con, sql: str, params: dict) -> float:
    t = time.perf_counter()
    con.execute(sql, params).fetchall()
    return time.perf_counter() - t


def measure_cost(rows: int = 1_000_000, rounds: int = 3, seed: int = 7) -> dict:
    import duckdb

    from query_api.reports.common import EARLIEST, LATEST
    from query_api.weighted import _SAMPLED

    con = duckdb.connect()
    window = {"start": EARLIEST, "end": LATEST, "method": ""}
    statements = {
        "REQUEST_FIGURES": (Q.REQUEST_FIGURES, Q.REQUEST_FIGURES_WEIGHTED, window),
        "ENDPOINT_FIGURES": (
            Q.ENDPOINT_FIGURES,
            Q.ENDPOINT_FIGURES_WEIGHTED,
            {**window, "top_n": 10},
        ),
    }
    probe = _SAMPLED.format(table="requests")
    result = {"rows": rows, "rounds": rounds, "stores": {}}
    for label, sampled in (("all weights 1", False), ("10 % at weight 10", True)):
        stored = _table(con, rows, sampled, seed)
        times: dict[str, list[float]] = {"probe": []}
        for _ in range(rounds):  # interleaved: plain, twin, probe in each round
            for name, (plain, twin, params) in statements.items():
                times.setdefault(f"{name} plain", []).append(_timed(con, plain, params))
                times.setdefault(f"{name} weighted", []).append(_timed(con, twin, params))
            times["probe"].append(_timed(con, probe, {"start": EARLIEST, "end": LATEST}))
        result["stores"][label] = {
            "stored_rows": stored,
            "median_ms": {k: statistics.median(v) * 1000 for k, v in times.items()},
        }
    con.close()
    return result


def measure(
    requests: int = 100_000,
    seed: int = 7,
    slow_ms: float = 60.0,
    rows: int = 1_000_000,
    rounds: int = 3,
) -> dict:
    load = [os.getloadavg()[0]]
    settings = Settings(slow_request_ms=slow_ms, very_slow_request_ms=max(slow_ms, 5000.0))
    items, spans = _generate(requests, seed, settings)
    folder = tempfile.mkdtemp(prefix="otel-perf-sampling-")
    try:
        runs = [_store(items, rate, settings, folder) for rate in RATES]
        load.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    truth = runs[0]["figures"]
    for run in runs:
        run["accuracy"] = _accuracy(truth, run["figures"])
    for run in runs:
        del run["figures"]["endpoint_p95"]  # large; the accuracy keeps what matters
    cost = measure_cost(rows, rounds, seed)
    load.append(os.getloadavg()[0])
    return {
        "requests": requests,
        "spans_in": spans,
        "slow_ms": slow_ms,
        "runs": runs,
        "cost": cost,
        "loadavg_1m": load,
    }


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:+.{digits}f} %"


def render(result: dict) -> list[str]:
    load = result["loadavg_1m"]
    base = result["runs"][0]
    lines = [
        "## Sampling",
        "",
        f"`python -m benchmarks.sampling`: {result['requests']:,} requests of the storage mix "
        f"({result['spans_in']:,} spans; slow threshold {result['slow_ms']:.0f} ms) stored at "
        "each OTEL_PERF_STORE_SAMPLE_RATE into a DuckLake folder, then maintained. Errors, "
        "slow requests, N+1, slow DB statements, high memory and GraphQL operations over the "
        "complexity maximum are always stored (weight 1); the rest at the rate (weight "
        "1/rate). Writer CPU: process CPU time from the first submit until all is committed. "
        f"Load average (1 min): {min(load):.1f}–{max(load):.1f}.",
        "",
        "| rate | requests stored (of which weight 1) | rows (all tables) | live MiB (Parquet) "
        "| bytes vs rate 1 | writer CPU s | CPU vs rate 1 |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in result["runs"]:
        lines.append(
            f"| {run['rate']:g} | {run['stored_requests']:,} "
            f"({run['figures']['always_kept']:,}) | {run['rows']:,} | "
            f"{run['live_bytes'] / 2**20:.2f} ({run['parquet_bytes'] / 2**20:.2f}) | "
            f"{run['live_bytes'] / base['live_bytes']:.2f} | "
            f"{run['writer_cpu_s']:.2f} | {run['writer_cpu_s'] / base['writer_cpu_s']:.2f} |"
        )
    lines += [
        "",
        "What the reports say, against rate 1 (the truth): relative error of the weighted "
        "count, errors and N+1 requests, of the overall percentiles, and of each endpoint's "
        f"p95 (endpoints with ≥ {MIN_ENDPOINT_REQUESTS} requests: median and worst).",
        "",
        "| rate | count | errors | N+1 requests | p50 | p95 | p99 | endpoint p95 median "
        "| endpoint p95 worst |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in result["runs"]:
        a = run["accuracy"]
        lines.append(
            f"| {run['rate']:g} | {_pct(a['count'], 2)} | {_pct(a['errors'], 2)} | "
            f"{_pct(a['n_plus_one_requests'], 2)} | {_pct(a['p50_ms'])} | {_pct(a['p95_ms'])} | "
            f"{_pct(a['p99_ms'])} | {_pct(a['endpoint_p95_median_abs'])} | "
            f"{_pct(a['endpoint_p95_max_abs'])} ({a['endpoints']} endpoints) |"
        )
    cost = result["cost"]
    lines += [
        "",
        f"Cost of weighted percentiles: {cost['rows']:,} requests in an in-memory DuckDB "
        "table, medians of "
        f"{cost['rounds']} interleaved runs (ms). The reports run the weighted form only when "
        "the probe finds a weight ≠ 1 in the period; otherwise the plain one.",
        "",
        "| store | rows | statement | plain (quantile_cont) | weighted twin | ratio | probe |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for label, store in cost["stores"].items():
        m = store["median_ms"]
        for name in ("REQUEST_FIGURES", "ENDPOINT_FIGURES"):
            plain, twin = m[f"{name} plain"], m[f"{name} weighted"]
            lines.append(
                f"| {label} | {store['stored_rows']:,} | {name} | {plain:.1f} | {twin:.1f} | "
                f"{twin / plain:.1f}x | {m['probe']:.2f} |"
            )
    return lines


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 requests, 200,000 rows")
    parser.add_argument("--requests", type=int)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    result = measure(
        requests=args.requests or (20_000 if args.quick else 100_000),
        seed=args.seed,
        rows=args.rows or (200_000 if args.quick else 1_000_000),
        rounds=args.rounds,
    )
    print("\n".join(render(result)))
    return result


if __name__ == "__main__":
    main()
