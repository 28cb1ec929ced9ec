"""How report latency and store size grow with the number of stored requests.

    python -m benchmarks.scaling [--quick] [--sizes 100000,300000,1000000,3000000,10000000]
                                 [--rounds 20] [--dir /tmp] [--chart docs/images/scaling.png]

For each size, a fresh DuckLake store gets the synthetic data of ``benchmarks.reports`` (its
``Generator``: 7 days, 30 endpoints, ~3 DB statement rows per request, GraphQL operations for
10 % of requests, heartbeats, system samples and alerts) through ``StoreSession.insert``, in
time order (which also fills ``hourly_totals``, stats' hourly sums), then
``StoreSession.maintain`` (retention, ``CHECKPOINT``): the reports run as shipped. Then
stats, alerts, slow_queries (``SPEC_ACTIONS``), endpoints and summary (``REST_REPORTS``) are
called as the API calls them (a cursor from ``StoreReader``),
over all data and over the last 24 hours, in interleaved rounds after one warm-up round;
median and p95 (nearest rank: with fewer than 20 rounds, that is the slowest round). Size:
the current snapshot's Parquet files + the SQLite catalog (*live*) and the whole folder. The
chart (matplotlib) plots p95 per report and the size against the number of requests.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa

from benchmarks import reports as R
from benchmarks.storage import LIVE_FILES
from otel_perf.settings import Settings
from otel_perf.storage import parse_address
from otel_perf.storage.rows import ARROW_SCHEMAS
from otel_perf.storage.session import StoreSession
from query_api.reports import REST_REPORTS, SPEC_ACTIONS
from query_api.store import StoreReader

REPORTS = {
    "stats": SPEC_ACTIONS["stats"],
    "alerts": SPEC_ACTIONS["alerts"],
    "slow_queries": SPEC_ACTIONS["slow_queries"],
    "endpoints": REST_REPORTS["endpoints"],
    "summary": REST_REPORTS["summary"],
}
QUICK_SIZES = [100_000, 300_000, 1_000_000]
FULL_SIZES = [100_000, 300_000, 1_000_000, 3_000_000, 10_000_000]
CHART = Path(__file__).resolve().parents[1] / "docs" / "images" / "scaling.png"


def _side_tables(generator: R.Generator, now: datetime) -> list:
    """``Generator.side_tables``, with columns the schema gained since (system_samples.source)
    left NULL: its ``ArrowBatch`` requires every column of the table."""
    strict = R.ArrowBatch

    class Tolerant(strict):
        def __init__(self, table: str, columns: dict) -> None:
            n = len(next(iter(columns.values())))
            missing = {
                f.name: pa.nulls(n, f.type) for f in ARROW_SCHEMAS[table] if f.name not in columns
            }
            super().__init__(table, columns | missing)

    R.ArrowBatch = Tolerant
    try:
        return generator.side_tables(now)
    finally:
        R.ArrowBatch = strict


def build(path: str, size: int, now: datetime, seed: int = 7) -> dict:
    """``size`` requests (and their side rows) over the 7 days before ``now``, batch by batch
    in time order; then maintenance. Seconds and bytes."""
    generator = R.Generator(seed, now - timedelta(days=R.DAYS))
    address = parse_address(path)
    session = StoreSession(address)
    batches = max(1, math.ceil(size / R.BATCH))
    span = R.DAYS * 86400 * R._US
    rows: dict[str, int] = {}
    build_s = insert_s = 0.0
    try:
        for b in range(batches):
            t = time.perf_counter()
            t0 = generator.start_us + span * b // batches
            t1 = generator.start_us + span * (b + 1) // batches
            tables = generator.batch(min(R.BATCH, size - b * R.BATCH), t0, t1)
            if b == batches - 1:
                tables += _side_tables(generator, now)
            build_s += time.perf_counter() - t
            for table in tables:
                rows[table.table] = rows.get(table.table, 0) + len(table)
            t = time.perf_counter()
            session.insert(tables)
            insert_s += time.perf_counter() - t
        t = time.perf_counter()
        session.maintain()
        maintain_s = time.perf_counter() - t
        files = session.con.execute(LIVE_FILES).fetchall()
    finally:
        session.close()
    catalog = sum(
        os.path.getsize(p)
        for p in (address.catalog_path, address.catalog_path + "-wal")
        if os.path.exists(p)
    )
    return {
        "rows": rows,
        "build_s": build_s,
        "insert_s": insert_s,
        "maintain_s": maintain_s,
        "live_bytes": sum(f[3] for f in files) + catalog,
        "catalog_bytes": catalog,
        "folder_bytes": R._disk_bytes(path),
        "files": sum(f[1] for f in files),
    }


def measure(path: str, now: datetime, rounds: int) -> dict:
    settings = Settings()
    windows = R.windows(now)
    cases = [(name, label) for name in REPORTS for label in windows]
    times: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
    reader = StoreReader(path)
    try:
        with reader.cursor():  # opens the kept connection: not part of a report
            pass
        for round_ in range(rounds + 1):  # round 0 warms caches and is not counted
            for name, label in cases:
                t = time.perf_counter()
                with reader.cursor() as cursor:
                    REPORTS[name](cursor, windows[label], settings, now)
                if round_:
                    times[(name, label)].append((time.perf_counter() - t) * 1000)
    finally:
        reader.close()
    result = {}
    for (name, label), values in times.items():
        values.sort()
        result[f"{name} {label}"] = {
            "median_ms": statistics.median(values),
            "p95_ms": values[max(0, math.ceil(0.95 * len(values)) - 1)],
        }
    return result


def run(sizes: list[int], rounds: int, folder: str) -> dict:
    now = datetime.utcnow().replace(second=0, microsecond=0)  # noqa: DTZ003 (naive UTC)
    result: dict = {"rounds": rounds, "sizes": sizes, "stores": {}, "loadavg_1m": []}
    work = tempfile.mkdtemp(prefix="otel-perf-scaling-", dir=folder)
    try:
        for size in sizes:
            path = os.path.join(work, str(size))
            result["loadavg_1m"].append(os.getloadavg()[0])
            store = build(path, size, now)
            store["latency"] = measure(path, now, rounds)
            result["loadavg_1m"].append(os.getloadavg()[0])
            shutil.rmtree(path, ignore_errors=True)
            result["stores"][size] = store
            print(
                f"{size:>10,} requests: {store['live_bytes'] / 2**20:.1f} MiB, "
                + ", ".join(f"{k} p95 {v['p95_ms']:.0f} ms" for k, v in store["latency"].items()),
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def render(result: dict, chart: str | None = None) -> list[str]:
    sizes, stores, load = result["sizes"], result["stores"], result["loadavg_1m"]
    head = " | ".join(R._size(s) for s in sizes)
    lines = [
        "## Scaling curve",
        "",
        "`python -m benchmarks.scaling`: fresh DuckLake stores of "
        f"{', '.join(map(R._size, sizes))} requests (the synthetic data of "
        "`benchmarks.reports`, 7 days, written in time order, "
        f"then maintained); {result['rounds']} interleaved rounds after a warm-up, p95 "
        "(nearest rank) in ms, over all data / the last 24 h. *Live*: current Parquet files "
        "+ SQLite catalog; *folder*: everything on disk. Load average (1 min): "
        f"{min(load):.1f}–{max(load):.1f}.",
        "",
        f"| | {head} |",
        "|---|" + "---:|" * len(sizes),
        "| live MiB | "
        + " | ".join(f"{stores[s]['live_bytes'] / 2**20:.1f}" for s in sizes)
        + " |",
        "| folder MiB | "
        + " | ".join(f"{stores[s]['folder_bytes'] / 2**20:.1f}" for s in sizes)
        + " |",
        "| bytes / request (live) | "
        + " | ".join(f"{stores[s]['live_bytes'] / s:.0f}" for s in sizes)
        + " |",
        "| Parquet files | " + " | ".join(str(stores[s]["files"]) for s in sizes) + " |",
        "| insert s | " + " | ".join(f"{stores[s]['insert_s']:.1f}" for s in sizes) + " |",
        "| maintain s | " + " | ".join(f"{stores[s]['maintain_s']:.1f}" for s in sizes) + " |",
    ]
    for key in stores[sizes[0]]["latency"]:
        name, label = key.rsplit(" ", 1)
        cells = " | ".join(
            f"{stores[s]['latency'][key]['median_ms']:.0f} / "
            f"{stores[s]['latency'][key]['p95_ms']:.0f}"
            for s in sizes
        )
        lines.append(f"| {name} ({label}) median / p95 ms | {cells} |")
    if chart:
        lines += ["", f"![Report p95 and store size by stored requests]({chart})"]
    return lines


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k, 300k, 1M; 10 rounds")
    parser.add_argument("--sizes", help="comma-separated numbers of requests")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where stores are built")
    parser.add_argument("--chart", default=str(CHART), help="PNG path ('' for none)")
    args = parser.parse_args()
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else (QUICK_SIZES if args.quick else FULL_SIZES)
    )
    result = run(sizes, args.rounds or (10 if args.quick else 20), args.dir)
    if args.chart:
        from benchmarks import charts

        charts.scaling(result, args.chart)
    print("\n".join(render(result, args.chart or None)))
    return result


if __name__ == "__main__":
    main()
