"""Bytes on disk per stored request and per stored span, after the store's maintenance.

    python -m benchmarks.storage [--quick] [--requests 200000] [--seed 7]

A realistic mix goes through the real pipeline (TracerProvider → PerfSpanProcessor →
StoreWriter → a DuckLake folder in a temp dir), with synthetic timestamps (requests arrive at
about 20/s, DB spans take 0.3–20 ms): 30 REST endpoints (Zipf traffic) running 2–9 distinct
statements each, 5 % of requests with an N+1 loop (15–40 repeats of one statement), 10 %
GraphQL requests (a SERVER root, an operation span carrying the instrumentor's attributes —
name, type, document, hash, complexity — and DB spans inside resolver field paths, some with
an N+1), about 1 % errors and 3 % 4xx; 80 % of requests carry a user pseudonym. Then the
writer shuts down and the store is maintained as ``otel-perf maintain`` does
(``StoreSession.maintain``: retention, then ``CHECKPOINT``: inlined rows flushed to Parquet,
small files merged; then the SQLite catalog's free pages, which the flushed rows leave,
given back by ``VACUUM`` when they are a large share of it: storage/catalog_space.py).

*Spans in* = every span the app produced (roots, GraphQL operation spans, DB spans): what a
trace store would keep one row each for. *Rows* = what otel-perf keeps instead (one row per
request, per distinct statement per request, per N+1 group, per GraphQL operation, plus its
own heartbeats, samples and alerts). Size = the data folder + the SQLite catalog. Files that
maintenance superseded stay on disk for an hour (readers may still use them): the *live*
size counts only files of the current snapshot (from the catalog) plus the whole catalog
file (free pages included: they are on disk), the *folder* size everything. Bytes per stored
span = live size / spans in; per request = live size / requests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import tempfile
import time

import numpy as np
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_perf.settings import Settings
from otel_perf.storage.address import parse_address
from otel_perf.storage.writer import StoreWriter
from processors import attributes as A
from processors.graphql.field_path import current_path

TARGET_BYTES_PER_SPAN = 40
ENDPOINTS = 30
GRAPHQL_SHARE = 0.10
N_PLUS_ONE_SHARE = 0.05
OPERATIONS = 12
_MS = 1_000_000  # ns


class Path:
    """graphql-core's ``Path`` shape (``key``, ``prev``): what the instrumentor puts in the
    context variable while a resolver runs."""

    __slots__ = ("prev", "key")

    def __init__(self, prev, key) -> None:
        self.prev = prev
        self.key = key


def _path(dotted: str) -> Path:
    path = None
    for key in dotted.split("."):
        path = Path(path, key)
    return path


class Traffic:
    """The request mix, drawn from a seeded generator, emitted as real spans."""

    def __init__(self, tracer, seed: int, start_ns: int) -> None:
        self.tracer = tracer
        self.rng = np.random.default_rng(seed)
        self.clock = start_ns
        rng = self.rng
        names = ["books", "authors", "reviews", "orders", "carts", "users", "search", "tags",
                 "shelves", "reports"]  # fmt: skip
        self.routes = []
        for i in range(ENDPOINTS - 1):
            name = names[i % len(names)]
            method, route = [("GET", f"/api/{name}/"), ("GET", f"/api/{name}/<int:pk>/"),
                             ("POST", f"/api/{name}/")][i // len(names)]  # fmt: skip
            tables = [f"app_{names[(i + k) % len(names)]}" for k in range(int(rng.integers(2, 10)))]
            statements = [
                f'SELECT "{t}"."id", "{t}"."name", "{t}"."created" FROM "{t}" '
                f'WHERE "{t}"."owner_id" = %s ORDER BY "{t}"."created" DESC LIMIT 21'
                for t in tables
            ]
            self.routes.append((method, route, statements))
        weights = 1.0 / np.arange(1, ENDPOINTS) ** 1.1
        self.route_p = weights / weights.sum()
        self.users = [f"{x:016x}" for x in rng.integers(0, 2**62, 3000)]
        self.operations = []
        for i in range(OPERATIONS):
            kind = "mutation" if i % 5 == 4 else "query"
            name = f"Operation{i}"
            self.operations.append(
                {
                    A.GRAPHQL_OPERATION_NAME: name,
                    A.GRAPHQL_OPERATION_TYPE: kind,
                    A.GRAPHQL_DOCUMENT: f"{kind} {name}($first: Int) {{ books(first: $first) "
                    f"{{ id title author {{ id name }} reviews(first: {i + 3}) {{ stars }} }} }}",
                    A.GRAPHQL_QUERY_HASH: f"{int(rng.integers(0, 2**62)):064x}",
                    A.GRAPHQL_OPERATION_ID: f"{int(rng.integers(0, 2**62)):064x}",
                    A.GRAPHQL_COMPLEXITY: int(rng.integers(5, 200)),
                    A.GRAPHQL_DEPTH: 3 + i % 4,
                    A.GRAPHQL_ALIAS_COUNT: i % 3,
                    A.GRAPHQL_VARIABLES: '{"first": 20}',
                }
            )
        self.spans = 0

    def _db(self, statement: str, at: int, path=None) -> int:
        duration = int(self.rng.lognormal(np.log(1.5), 0.8) * _MS) + _MS // 5
        token = current_path.set(path)
        try:
            span = self.tracer.start_span("SELECT", kind=SpanKind.CLIENT, start_time=at)
            span.set_attribute("db.system", "postgresql")
            span.set_attribute("db.statement", statement)
            span.end(end_time=at + duration)
        finally:
            current_path.reset(token)
        self.spans += 1
        return at + duration + 50_000

    def request(self) -> None:
        rng = self.rng
        self.clock += int(rng.exponential(50 * _MS))  # about 20 requests/s
        t = self.clock
        graphql = rng.random() < GRAPHQL_SHARE
        if graphql:
            method, route, statements = "POST", "/graphql/", []
        else:
            method, route, statements = self.routes[rng.choice(ENDPOINTS - 1, p=self.route_p)]
        r = rng.random()
        status = 500 if r < 0.01 else (404 if r < 0.04 else 200)
        attrs = {
            "http.request.method": method,
            "http.route": route,
            "url.path": route.replace("<int:pk>", str(int(rng.integers(1, 5000)))),
            "http.response.status_code": status,
        }
        if rng.random() < 0.8:
            attrs[A.ENDUSER_PSEUDO_ID] = self.users[int(rng.zipf(1.3)) % len(self.users)]
        root = self.tracer.start_span(
            f"{method} {route}", kind=SpanKind.SERVER, attributes=attrs, start_time=t
        )
        self.spans += 1
        t += int(rng.uniform(0.5, 3) * _MS)
        with otel_trace.use_span(root, end_on_exit=False):
            if graphql:
                t = self._operation(t)
            else:
                for statement in statements:
                    for _ in range(1 + int(rng.random() < 0.2)):
                        t = self._db(statement, t)
                if rng.random() < N_PLUS_ONE_SHARE / (1 - GRAPHQL_SHARE):
                    for _ in range(int(rng.integers(15, 40))):
                        t = self._db(statements[-1], t)
        root.end(end_time=t + int(rng.uniform(1, 8) * _MS))

    def _operation(self, t: int) -> int:
        rng = self.rng
        op = self.operations[min(int(rng.zipf(1.5)) - 1, OPERATIONS - 1)]
        attrs = {**op, A.GRAPHQL_PARSING_MS: rng.uniform(0.1, 0.6),
                 A.GRAPHQL_VALIDATION_MS: rng.uniform(0.2, 1.0)}  # fmt: skip
        span = self.tracer.start_span(f"{op[A.GRAPHQL_OPERATION_TYPE]} "
                                      f"{op[A.GRAPHQL_OPERATION_NAME]}", attributes=attrs,
                                      start_time=t)  # fmt: skip
        self.spans += 1
        start = t
        with otel_trace.use_span(span, end_on_exit=False):
            t = self._db('SELECT "app_books"."id", "app_books"."title" FROM "app_books" LIMIT 20',
                         t, _path("books"))  # fmt: skip
            repeats = int(rng.integers(6, 21)) if rng.random() < 0.3 else 1
            for _ in range(repeats):
                t = self._db('SELECT "app_authors"."id", "app_authors"."name" FROM '
                             '"app_authors" WHERE "app_authors"."id" = %s', t,
                             _path("books.author"))  # fmt: skip
            t = self._db('SELECT "app_reviews"."stars" FROM "app_reviews" WHERE '
                         '"app_reviews"."book_id" IN (%s, %s, %s)', t,
                         _path("books.reviews"))  # fmt: skip
        span.set_attribute(A.GRAPHQL_EXECUTION_MS, (t - start) / _MS)
        span.end(end_time=t)
        return t + _MS


def _folder_bytes(path: str) -> int:
    return sum(
        os.path.getsize(os.path.join(folder, name))
        for folder, _, names in os.walk(path)
        for name in names
    )


LIVE_FILES = """
SELECT t.table_name, count(*) AS files, sum(f.record_count) AS rows,
       sum(f.file_size_bytes) AS bytes
FROM __ducklake_metadata_perf.ducklake_data_file f
JOIN __ducklake_metadata_perf.ducklake_table t
  ON t.table_id = f.table_id AND t.end_snapshot IS NULL
WHERE f.end_snapshot IS NULL
GROUP BY t.table_name ORDER BY bytes DESC
"""
COLUMN_BYTES = """
SELECT t.table_name, c.column_name, sum(s.column_size_bytes) AS bytes
FROM __ducklake_metadata_perf.ducklake_file_column_stats s
JOIN __ducklake_metadata_perf.ducklake_data_file f
  ON f.data_file_id = s.data_file_id AND f.end_snapshot IS NULL
JOIN __ducklake_metadata_perf.ducklake_table t
  ON t.table_id = s.table_id AND t.end_snapshot IS NULL
JOIN __ducklake_metadata_perf.ducklake_column c
  ON c.column_id = s.column_id AND c.table_id = s.table_id AND c.end_snapshot IS NULL
GROUP BY ALL ORDER BY bytes DESC LIMIT 12
"""
INLINED = """
SELECT count(*) FROM __ducklake_metadata_perf.ducklake_inlined_data_tables
"""


def _free_pages(catalog: str) -> int:
    """Bytes of the SQLite catalog's free pages: rows deleted (inlined data flushed to
    Parquet) leave them; SQLite reuses them but only ``VACUUM`` gives them back."""
    con = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    try:
        return (
            con.execute("PRAGMA freelist_count").fetchone()[0]
            * con.execute("PRAGMA page_size").fetchone()[0]
        )
    finally:
        con.close()


def _sizes(address) -> dict:
    from otel_perf.storage.session import StoreSession

    session = StoreSession(address)
    try:
        con = session.con
        tables = con.execute(LIVE_FILES).fetchall()
        columns = con.execute(COLUMN_BYTES).fetchall()
        counts = {}
        for name, *_ in tables:
            counts[name] = con.execute(f"SELECT count(*) FROM perf.{name}").fetchone()[0]
    finally:
        session.close()
    catalog = sum(
        os.path.getsize(p)
        for p in (address.catalog_path, address.catalog_path + "-wal")
        if os.path.exists(p)
    )
    live = sum(bytes_ for *_, bytes_ in tables)
    return {
        "catalog_bytes": catalog,
        "catalog_free_bytes": _free_pages(address.catalog_path),
        "data_folder_bytes": _folder_bytes(address.data_path),
        "live_parquet_bytes": live,
        "live_bytes": live + catalog,
        "tables": {
            name: {"files": files, "rows": counts[name], "parquet_rows": rows, "bytes": b}
            for name, files, rows, b in tables
        },
        "top_columns": [(t, c, b) for t, c, b in columns],
    }


def measure(requests: int = 200_000, seed: int = 7) -> dict:
    load = [os.getloadavg()[0]]
    folder = tempfile.mkdtemp(prefix="otel-perf-storage-")
    try:
        path = os.path.join(folder, "store")
        address = parse_address(path)
        settings = Settings(store=path, queue_size=max(20000, requests + 1000))
        resource = Resource.create({"service.name": "shop-api", "service.version": "1.4.2"})
        writer = StoreWriter(address, settings, resource.attributes)
        provider = TracerProvider(resource=resource)
        from processors.perf_processor import PerfSpanProcessor

        provider.add_span_processor(PerfSpanProcessor(writer, settings))
        start_ns = time.time_ns() - int(requests * 50 * _MS * 1.1)  # ends about now
        traffic = Traffic(provider.get_tracer("bench"), seed, start_ns)
        t = time.perf_counter()
        for _ in range(requests):
            traffic.request()
        committed = writer.flush(timeout=600)
        ingest_s = time.perf_counter() - t
        load.append(os.getloadavg()[0])
        provider.shutdown()
        before = _sizes(address)
        from otel_perf.storage.session import StoreSession

        t = time.perf_counter()
        session = StoreSession(address)
        try:
            session.maintain()
        finally:
            session.close()
        maintain_s = time.perf_counter() - t
        after = _sizes(address)
        load.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = sum(t["rows"] for t in after["tables"].values())
    stored = after["tables"].get("requests", {}).get("rows", 0)
    return {
        "requests": requests,
        "stored_requests": stored,
        "dropped": writer.requests_dropped,
        "committed": committed,
        "spans_in": traffic.spans,
        "rows": rows,
        "ingest_s": ingest_s,
        "maintain_s": maintain_s,
        "before": before,
        "after": after,
        "loadavg_1m": load,
        "bytes_per_request": after["live_bytes"] / max(stored, 1),
        "bytes_per_span": after["live_bytes"] / traffic.spans,
        "bytes_per_row": after["live_bytes"] / max(rows, 1),
        "bytes_per_span_no_free_pages": (after["live_bytes"] - after["catalog_free_bytes"])
        / traffic.spans,
        "folder_bytes_per_span": (after["data_folder_bytes"] + after["catalog_bytes"])
        / traffic.spans,
    }


def render(result: dict) -> list[str]:
    load = result["loadavg_1m"]
    before, after = result["before"], result["after"]
    lines = [
        "## Storage: bytes per stored request and span",
        "",
        f"`python -m benchmarks.storage`: {result['requests']:,} requests of a realistic mix "
        "(30 REST endpoints with 2–9 distinct statements each, 5 % N+1 loops, 10 % GraphQL "
        "operations with resolver field paths, ~1 % errors, 80 % with a user) through the "
        "real pipeline into a DuckLake folder, then `StoreSession.maintain` (what "
        "`otel-perf maintain` runs: retention, `CHECKPOINT`, then `VACUUM` of the SQLite "
        "catalog when free pages are over a quarter of it). *Spans in*: every span the "
        f"app produced ({result['spans_in']:,}, {result['spans_in'] / result['requests']:.1f} "
        f"per request); *rows*: what the store keeps instead ({result['rows']:,}, "
        f"{result['rows'] / result['requests']:.2f} per request, all tables). *Live*: the "
        "current snapshot's Parquet files + the SQLite catalog file (its free pages included); "
        "*folder*: everything on disk, "
        "including files maintenance superseded (deleted after an hour). "
        f"Target ≤ {TARGET_BYTES_PER_SPAN} bytes per stored span. Load average (1 min): "
        f"{min(load):.1f}–{max(load):.1f}.",
        "",
        "| | Parquet files | live MiB | folder MiB | catalog MiB (free pages) "
        "| bytes / request (no free pages) | bytes / span in | bytes / span in, no free pages "
        "| bytes / row |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    stored, spans, rows = result["stored_requests"], result["spans_in"], result["rows"]
    for label, s in (("before maintenance", before), ("after maintenance", after)):
        files = sum(t["files"] for t in s["tables"].values())
        lines.append(
            f"| {label} | {files} | {s['live_bytes'] / 2**20:.2f} | "
            f"{(s['data_folder_bytes'] + s['catalog_bytes']) / 2**20:.2f} | "
            f"{s['catalog_bytes'] / 2**20:.2f} ({s['catalog_free_bytes'] / 2**20:.2f}) | "
            f"{s['live_bytes'] / max(stored, 1):.0f} "
            f"({(s['live_bytes'] - s['catalog_free_bytes']) / max(stored, 1):.0f}) | "
            f"{s['live_bytes'] / spans:.1f} | "
            f"{(s['live_bytes'] - s['catalog_free_bytes']) / spans:.1f} | "
            f"{s['live_bytes'] / max(rows, 1):.0f} |"
        )
    lines += [
        "",
        f"Ingest of this mix (one thread generating, the writer committing): "
        f"{result['spans_in'] / result['ingest_s']:,.0f} spans/s, "
        f"{result['requests'] / result['ingest_s']:,.0f} requests/s; dropped: "
        f"{result['dropped']}.",
        "",
        f"After maintenance ({result['maintain_s']:.1f} s), per table, and the columns that "
        "weigh most (compressed Parquet bytes, from the catalog's column statistics):",
        "",
        "| table | rows | files | KiB | bytes / row |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, t in after["tables"].items():
        lines.append(
            f"| {name} | {t['rows']:,} | {t['files']} | {t['bytes'] / 1024:.0f} | "
            f"{t['bytes'] / max(t['rows'], 1):.1f} |"
        )
    lines += ["", "| column | KiB | bytes / request |", "|---|---:|---:|"]
    for table, column, b in after["top_columns"]:
        lines.append(f"| {table}.{column} | {b / 1024:.0f} | {b / max(stored, 1):.1f} |")
    return lines


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30,000 requests")
    parser.add_argument("--requests", type=int)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    result = measure(args.requests or (30_000 if args.quick else 200_000), args.seed)
    print("\n".join(render(result)))
    return result


if __name__ == "__main__":
    main()
