"""In-process sink ingest: spans/s through the real pipeline until every request is committed.

    python -m benchmarks.ingest [--quick] [--requests 50000] [--children 10] [--rounds 5]

One process, the app's own pipeline: a TracerProvider with PerfSpanProcessor feeding the real
StoreWriter (its background thread, ``Batch`` rows, ``StoreSession.insert``) into a store in a
temp folder. Each request is a SERVER root with ``children`` DB spans (the shape of
``benchmarks.hot_path``: one list query then the same detail query repeated, so every request
also yields an N+1 row). A round generates ``requests`` traces as fast as one thread can and
ends when ``writer.flush`` says every request is committed; spans/s = spans generated / that
time. Variants, interleaved: ``null sink`` (the processor alone: the ceiling the app thread
sets), ``ducklake`` (default store) and ``duckdb`` (a plain ``.duckdb`` file); and for each
store, *sink alone*: the same requests generated beforehand (roots folded by the processor,
held in a list), submitted at once, timed until committed — the writer's capacity without
the generating thread competing for the GIL; and the same in transactions of 1,000 requests
(what a writer flushing every second commits at 1,000 requests/s; at most
OTEL_PERF_INLINE_ROW_LIMIT rows per table would go into the SQLite catalog as SQL text
instead of a Parquet file). *Per commit*: the CPU one transaction of 1-1,000 requests costs
the writer's process (``time.process_time``: DuckDB's threads included) with its rows
inlined in the catalog or written as Parquet, interleaved: what the defaults of
OTEL_PERF_INLINE_ROW_LIMIT and OTEL_PERF_FLUSH_INTERVAL_S are chosen from. The writer's
own rate is timed inside its thread: rows (all tables) / time spent in ``_write`` (building
the Arrow batch + the transaction), and / time in ``insert`` alone. The app thread and the
writer thread share one GIL, so a real app at this rate would also share it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from benchmarks.hot_path import NullSink
from otel_perf.settings import Settings
from otel_perf.storage.address import parse_address
from otel_perf.storage.writer import StoreWriter
from processors.perf_processor import PerfSpanProcessor

TARGET_SPANS_S = 150_000
VARIANTS = ("null sink", "ducklake", "duckdb")
STORES = ("ducklake", "duckdb")
CHUNK = 1000  # requests per transaction: a writer's 1 s flush at 1,000 requests/s
CASES = (
    *VARIANTS,
    *(f"{store}, sink alone" for store in STORES),
    *(f"{store}, sink alone, {CHUNK:,} per commit" for store in STORES),
)
ATTRS = {
    "http.request.method": "GET",
    "http.route": "/api/books/",
    "url.path": "/api/books/",
    "http.response.status_code": 200,
}
STATEMENTS = [
    'SELECT "library_author"."id", "library_author"."name" FROM "library_author"',
    'SELECT "library_book"."id", "library_book"."title" FROM "library_book" '
    'WHERE "library_book"."author_id" = %s',
]


class Timed:
    """Wraps the writer's ``_write`` and its session's ``insert``: time and rows, per call."""

    def __init__(self, writer: StoreWriter) -> None:
        self.writer = writer
        self.write_s = 0.0
        self.insert_s = 0.0
        self.rows = 0
        self.transactions = 0
        write = writer._write

        def timed_write(items):
            session = writer._session
            if session is not None and "insert" not in vars(session):
                self._wrap_insert(session)
            t = time.perf_counter()
            try:
                return write(items)
            finally:
                self.write_s += time.perf_counter() - t

        writer._write = timed_write

    def _wrap_insert(self, session) -> None:
        insert = session.insert

        def timed_insert(tables):
            t = time.perf_counter()
            insert(tables)
            self.insert_s += time.perf_counter() - t
            self.rows += sum(len(table) for table in tables)
            self.transactions += 1

        session.insert = timed_insert

    def reset(self) -> None:
        self.write_s = self.insert_s = 0.0
        self.rows = self.transactions = 0


class Pipeline:
    def __init__(self, variant: str, folder: str, requests: int) -> None:
        self.variant = variant
        self.writer = None
        self.timed = None
        resource = Resource.create({"service.name": "bench-ingest"})
        if variant == "null sink":
            settings = Settings(store="none")
            sink = NullSink()
        else:
            path = os.path.join(folder, "store" + (".duckdb" if variant == "duckdb" else ""))
            # The queue holds a whole round: this measures the sink's rate, not drops.
            settings = Settings(store=path, queue_size=max(20000, requests + 1000))
            sink = self.writer = StoreWriter(parse_address(path), settings, resource.attributes)
            self.timed = Timed(sink)
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(PerfSpanProcessor(sink, settings))
        self.tracer = self.provider.get_tracer("bench")

    def generate(self, requests: int, children: int) -> None:
        tracer = self.tracer
        for _ in range(requests):
            with tracer.start_as_current_span("GET /api/books/", kind=SpanKind.SERVER,
                                              attributes=ATTRS):  # fmt: skip
                for i in range(children):
                    with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as span:
                        span.set_attribute("db.statement", STATEMENTS[i > 0])
                        span.set_attribute("db.system", "postgresql")

    def round(
        self, requests: int, children: int, items: list | None = None, chunk: int = 0
    ) -> dict:
        """Generate and store ``requests`` traces; with ``items`` (roots already folded by
        the processor), submit those to the writer instead: the sink's rate alone; with
        ``chunk``, ``chunk`` at a time, each committed (flushed) before the next."""
        if self.timed is not None:
            self.timed.reset()
        written = self.writer.requests_written if self.writer else 0
        t0 = time.perf_counter()
        if items is None:
            self.generate(requests, children)
        else:
            submit = self.writer.submit
            step = chunk or len(items)
            for start in range(0, len(items), step):
                for item in items[start : start + step]:
                    submit(item)
                if chunk:
                    self.writer.flush(timeout=600)
        generated = time.perf_counter() - t0
        committed = self.writer.flush(timeout=600) if self.writer else True
        total = time.perf_counter() - t0
        result = {"generate_s": generated, "total_s": total, "committed": committed}
        if self.writer is not None:
            result |= {
                "written": self.writer.requests_written - written,
                "dropped": self.writer.requests_dropped,
                "rows": self.timed.rows,
                "transactions": self.timed.transactions,
                "write_s": self.timed.write_s,
                "insert_s": self.timed.insert_s,
            }
        return result

    def close(self) -> None:
        self.provider.shutdown()  # the writer commits what is left and closes its session


class ListSink(NullSink):
    def __init__(self) -> None:
        self.items: list = []

    def submit(self, item) -> None:
        self.items.append(item)


def folded_roots(requests: int, children: int) -> list:
    """What the processor hands the writer for ``requests`` traces: (kind, root, trace)."""
    sink = ListSink()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-ingest"}))
    provider.add_span_processor(PerfSpanProcessor(sink, Settings(store="none")))
    pipeline = Pipeline.__new__(Pipeline)
    pipeline.tracer = provider.get_tracer("bench")
    pipeline.generate(requests, children)
    return sink.items


COMMIT_SIZES = (1, 10, 100, 1000)
INLINED = 1_000_000  # an inline limit no commit here reaches: every row in the catalog


def commit_costs(sizes=COMMIT_SIZES, children: int = 10, repeats: int = 7) -> dict:
    """Median process CPU (ms) of one ``StoreSession.insert`` of ``n`` requests, per size,
    inlined vs Parquet, on a session set up as the writer's (``WRITER_THREADS``)."""
    from otel_perf.storage.rows import Batch, ResourceInfo
    from otel_perf.storage.session import StoreSession
    from otel_perf.storage.writer import WRITER_THREADS

    items = folded_roots(max(sizes), children)
    resource = ResourceInfo({"service.name": "bench-ingest"})
    folder = tempfile.mkdtemp(prefix="otel-perf-commits-")
    modes = {"inlined": INLINED, "parquet": 0}
    sessions = {}
    try:
        for mode, limit in modes.items():
            address = parse_address(os.path.join(folder, mode))
            sessions[mode] = StoreSession(address, limit, threads=WRITER_THREADS)
        cpu: dict = {(n, mode): [] for n in sizes for mode in modes}
        rows: dict = {}
        for _ in range(repeats):
            for n in sizes:
                for mode in modes:
                    batch = Batch()
                    for item in items[:n]:
                        batch.add(item, resource, "bench", "bench/1")
                    tables = batch.tables()
                    rows[n] = sum(len(t) for t in tables)
                    t = time.process_time()
                    sessions[mode].insert(tables)
                    cpu[(n, mode)].append(time.process_time() - t)
    finally:
        for session in sessions.values():
            session.close()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "repeats": repeats,
        "sizes": {
            n: {
                "rows": rows[n],
                **{f"{mode}_cpu_ms": statistics.median(cpu[(n, mode)]) * 1000 for mode in modes},
            }
            for n in sizes
        },
    }


def measure(
    requests: int = 50000, children: int = 10, rounds: int = 5, commit_repeats: int = 7
) -> dict:
    load = [os.getloadavg()[0]]
    folder = tempfile.mkdtemp(prefix="otel-perf-ingest-")
    pipelines = {}
    try:
        for variant in VARIANTS:
            pipelines[variant] = p = Pipeline(variant, os.path.join(folder, variant), requests)
            os.makedirs(os.path.join(folder, variant))
            p.round(200, children)  # warm-up: opens and migrates the store, first alert run
        runs: dict[str, list[dict]] = {v: [] for v in CASES}
        for _ in range(rounds):
            for variant in VARIANTS:
                runs[variant].append(pipelines[variant].round(requests, children))
            items = folded_roots(requests, children)
            for variant in STORES:
                runs[f"{variant}, sink alone"].append(
                    pipelines[variant].round(requests, children, items)
                )
                runs[f"{variant}, sink alone, {CHUNK:,} per commit"].append(
                    pipelines[variant].round(requests, children, items, CHUNK)
                )
            del items
            load.append(os.getloadavg()[0])
    finally:
        for p in pipelines.values():
            p.close()
        shutil.rmtree(folder, ignore_errors=True)
    commits = commit_costs(children=children, repeats=commit_repeats)
    load.append(os.getloadavg()[0])
    spans = requests * (children + 1)
    result: dict = {
        "requests": requests,
        "children": children,
        "spans_per_round": spans,
        "rounds": rounds,
        "loadavg_1m": load,
        "inline_row_limit": Settings().inline_row_limit,
        "commits": commits,
        "variants": {},
    }
    for variant, rs in runs.items():
        total = statistics.median(r["total_s"] for r in rs)
        row = {
            "requests_s": requests / total,
            "spans_s": spans / total,
            "generate_spans_s": spans / statistics.median(r["generate_s"] for r in rs),
            "all_committed": all(r["committed"] for r in rs),
        }
        if variant != "null sink":
            row |= {
                "written": sum(r["written"] for r in rs),
                "dropped": rs[-1]["dropped"],
                "rows_per_request": statistics.median(r["rows"] / requests for r in rs),
                "transactions": statistics.median(r["transactions"] for r in rs),
                "writer_rows_s": statistics.median(r["rows"] / r["write_s"] for r in rs),
                "insert_rows_s": statistics.median(r["rows"] / r["insert_s"] for r in rs),
                "writer_busy": statistics.median(r["write_s"] / r["total_s"] for r in rs),
            }
        result["variants"][variant] = row
    return result


def render(result: dict) -> list[str]:
    load = result["loadavg_1m"]
    lines = [
        "## Ingest: in-process sink",
        "",
        f"`python -m benchmarks.ingest`: {result['rounds']} interleaved rounds of "
        f"{result['requests']:,} requests (a SERVER root with {result['children']} DB children: "
        f"{result['spans_per_round']:,} spans) generated by one thread through PerfSpanProcessor "
        "into the real StoreWriter, until `writer.flush` reports every request committed; "
        "medians. *sink alone*: the same requests folded beforehand and submitted at once "
        "(the writer's capacity, no generating thread competing for the GIL); *1,000 per "
        f"commit*: the same, flushed every {CHUNK:,} requests (batches of at most "
        f"{result['inline_row_limit']:,} rows per table, OTEL_PERF_INLINE_ROW_LIMIT, would go "
        "into the SQLite catalog as rows, not Parquet). "
        "*writer rows/s*: rows of every table / time inside the writer's `_write` "
        "(Arrow batch + transaction); *insert rows/s*: the transaction alone; *busy*: share "
        f"of the round the writer thread was writing. Target ≥ {TARGET_SPANS_S:,} spans/s. "
        f"Load average (1 min) during the run: {min(load):.1f}–{max(load):.1f}.",
        "",
        "| sink | requests/s | spans/s | app-thread spans/s | rows per request "
        "| transactions | writer rows/s | insert rows/s | busy | dropped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, r in result["variants"].items():
        tail = (
            f"{r['rows_per_request']:.1f} | {r['transactions']:.0f} | "
            f"{r['writer_rows_s']:,.0f} | {r['insert_rows_s']:,.0f} | "
            f"{r['writer_busy']:.0%} | {r['dropped']} |"
            if "writer_rows_s" in r
            else "– | – | – | – | – | – |"
        )
        lines.append(
            f"| {variant} | {r['requests_s']:,.0f} | {r['spans_s']:,.0f} | "
            + (f"{r['generate_spans_s']:,.0f} | " if "alone" not in variant else "– | ")
            + tail
        )
    commits = result["commits"]
    lines += [
        "",
        "One commit (`StoreSession.insert`, DuckDB threads as the writer's), process CPU, "
        f"median of {commits['repeats']}, rows inlined in the SQLite catalog or written as "
        "Parquet (one file per table), interleaved:",
        "",
        "| requests per commit | rows (all tables) | inlined CPU ms | Parquet CPU ms |",
        "|---:|---:|---:|---:|",
    ]
    for n, c in commits["sizes"].items():
        lines.append(
            f"| {n:,} | {c['rows']:,} | {c['inlined_cpu_ms']:.1f} | {c['parquet_cpu_ms']:.1f} |"
        )
    return lines


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 rounds of 10,000 requests, 5 commits per size"
    )
    parser.add_argument("--requests", type=int)
    parser.add_argument("--children", type=int, default=10)
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args()
    requests = args.requests or (10_000 if args.quick else 50_000)
    rounds = args.rounds or (3 if args.quick else 5)
    result = measure(requests, args.children, rounds, 5 if args.quick else 7)
    print("\n".join(render(result)))
    return result


if __name__ == "__main__":
    main()
