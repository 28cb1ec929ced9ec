"""Latency of every report over a synthetic store of 1M and 10M requests, in one run.

    python -m benchmarks.reports [--sizes 1000000,10000000] [--store-kinds ducklake,duckdb]
                                 [--rounds 20] [--dir /tmp]

The store is written through the project's own write path (``StoreSession.insert``: one
transaction per batch, ``INSERT ... BY NAME SELECT * FROM`` a registered Arrow table), with
columns built in bulk by numpy; each batch covers the next slice of seven days, as a writer
appends in time order. Every kind gets the same data (same seed), then the maintenance the
elected process runs (``CHECKPOINT``). Reports are called as the API calls them: a cursor from
``StoreReader`` (DuckLake: one kept read-only connection, a cursor per call; a ``.duckdb``
file: opened read-only per call), over all data and over the last 24 hours. Rounds
interleave the reports; median and p95 (nearest rank) in ms. Baselines in the same run:
10M against 1M (scaling) and DuckLake against the plain file. Stores are deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from otel_perf.settings import Settings
from otel_perf.storage import parse_address
from otel_perf.storage.rows import ARROW_SCHEMAS, suggestion
from otel_perf.storage.session import StoreSession
from query_api.params import Params
from query_api.reports import REST_REPORTS, SPEC_ACTIONS
from query_api.reports.common import EARLIEST
from query_api.store import StoreReader

DAYS = 7
BATCH = 500_000
HOSTS = ("web-1", "web-2")
WORKERS_PER_HOST = 4  # restarted daily: 2 x 4 x 7 instance ids
GRAPHQL_SHARE = 0.10
SPEC = ("stats", "alerts", "slow_queries")
REST = ("summary", "endpoints", "slow_requests", "database", "users", "metrics", "health",
        "report")  # fmt: skip
TARGET_MS = 100.0

_US = 1_000_000


def _endpoints() -> list[tuple[str, str, float]]:
    """(method, route, median ms): 29 Django routes plus the GraphQL endpoint."""
    names = ["books", "authors", "reviews", "orders", "carts", "users", "search", "tags",
             "shelves", "reports"]  # fmt: skip
    routes: list[tuple[str, str, float]] = []
    for i, name in enumerate(names):
        routes.append(("GET", f"/api/{name}/", 30 + 15 * i))
        routes.append(("GET", f"/api/{name}/<int:pk>/", 12 + 4 * i))
        if len(routes) < 29:
            routes.append(("POST", f"/api/{name}/", 60 + 20 * i))
    return routes[:29] + [("POST", "/graphql/", 80)]


ENDPOINTS = _endpoints()
GRAPHQL = len(ENDPOINTS) - 1
# Zipf-like traffic over the REST routes; the GraphQL endpoint takes a fixed share.
_zipf = 1.0 / np.arange(1, GRAPHQL + 1) ** 1.1
ENDPOINT_P = np.append(_zipf / _zipf.sum() * (1 - GRAPHQL_SHARE), GRAPHQL_SHARE)
STATEMENTS = [
    f'SELECT "app_t{i}"."id", "app_t{i}"."name", "app_t{i}"."created" FROM "app_t{i}" '
    f'WHERE "app_t{i}"."owner_id" = ? ORDER BY "app_t{i}"."created" DESC LIMIT ?'
    for i in range(200)
]
FIELD_PATHS = ["books", "books.author", "books.reviews", "authors.books", "search"]
OPERATIONS = 50
USERS = 5000
INSTANCES = [
    f"{host}-{1000 + day * 10 + w}" for day in range(DAYS) for host in HOSTS
    for w in range(WORKERS_PER_HOST)
]  # fmt: skip


class ArrowBatch:
    """What ``StoreSession.insert`` needs from ``Columns``: the table's name and ``to_arrow``."""

    def __init__(self, table: str, columns: dict[str, pa.Array]) -> None:
        self.table = table
        self._arrow = pa.table(columns, schema=ARROW_SCHEMAS[table])

    def __len__(self) -> int:
        return self._arrow.num_rows

    def to_arrow(self) -> pa.Table:
        return self._arrow


def _strings(pool: list[str], index: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    indices = pa.array(index.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(pool)).cast(pa.string())


def _ids(rng: np.random.Generator, n: int, size: int) -> pa.Array:
    buffer = pa.py_buffer(rng.bytes(n * size))
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(size), n, [None, buffer]).cast(
        pa.binary()
    )


def _ts(us: np.ndarray) -> pa.Array:
    return pa.array(us.astype(np.int64), pa.timestamp("us"))


class Generator:
    """Fixed pools (statements per endpoint, operations, users) and one batch at a time."""

    def __init__(self, seed: int, start: datetime) -> None:
        self.rng = np.random.default_rng(seed)
        self.start_us = int((start - EARLIEST).total_seconds()) * _US
        rng = self.rng
        self.fingerprints = rng.integers(-(2**63), 2**63 - 1, len(STATEMENTS))
        self.endpoint_statements = rng.integers(0, len(STATEMENTS), (len(ENDPOINTS), 10))
        self.users = [f"u_{x:016x}" for x in rng.integers(0, 2**62, USERS)]
        self.user_p = 1.0 / np.arange(1, USERS + 1) ** 0.8
        self.user_p /= self.user_p.sum()
        self.op_median = rng.uniform(20, 400, OPERATIONS)
        self.op_complexity = rng.integers(5, 250, OPERATIONS)
        self.op_p = 1.0 / np.arange(1, OPERATIONS + 1)
        self.op_p /= self.op_p.sum()
        self.op_names = [f"Operation{i}" for i in range(OPERATIONS)]
        self.op_hashes = [f"{x:064x}" for x in rng.integers(0, 2**62, OPERATIONS)]
        self.op_texts = [
            f"query Operation{i}($first: Int) {{ books(first: $first) {{ id title "
            f"author {{ name }} reviews(first: {i}) {{ stars text }} }} }}"
            for i in range(OPERATIONS)
        ]

    def batch(self, n: int, t0_us: int, t1_us: int) -> list[ArrowBatch]:
        rng = self.rng
        ts = np.sort(rng.integers(t0_us, t1_us, n))
        endpoint = rng.choice(len(ENDPOINTS), n, p=ENDPOINT_P)
        median = np.array([m for _, _, m in ENDPOINTS])[endpoint]
        slow = rng.random(n) < 0.03
        duration = np.where(
            slow, rng.uniform(1000, 8000, n), np.minimum(median * rng.lognormal(0, 0.6, n), 999)
        )
        status = np.where(rng.random(n) < 0.03, rng.choice([400, 403, 404], n), 200)
        error = rng.random(n) < 0.01
        status = np.where(error, 500, status).astype(np.int16)
        db_count = rng.poisson(3 + endpoint % 12)
        db_time = duration * rng.uniform(0.1, 0.6, n) * (db_count > 0)
        n_plus_one = (rng.random(n) < 0.01) & (db_count > 0)
        day = np.minimum((ts - self.start_us) // (86400 * _US), DAYS - 1)
        instance = day * len(HOSTS) * WORKERS_PER_HOST + rng.integers(0, 8, n)
        is_graphql = endpoint == GRAPHQL
        op = rng.choice(OPERATIONS, n, p=self.op_p)
        anonymous = rng.random(n) < 0.2
        memory = 120 + 40 * (instance % 8) + rng.normal(0, 10, n)
        trace_ids = _ids(rng, n, 16)
        span_ids = rng.integers(0, 2**63, n, dtype=np.uint64)
        stmt = self.endpoint_statements[endpoint, rng.integers(0, 10, n)]
        methods = [m for m, _, _ in ENDPOINTS]
        routes = [r for _, r, _ in ENDPOINTS]
        requests = {
            "timestamp": _ts(ts),
            "trace_id": trace_ids,
            "span_id": pa.array(span_ids),
            "service_name": _strings(["shop-api"], np.zeros(n)),
            "service_instance": _strings(INSTANCES, instance),
            "service_version": _strings(["1.4.2"], np.zeros(n)),
            "deployment_environment": _strings(["production"], np.zeros(n)),
            "host_name": _strings(list(HOSTS), (instance // WORKERS_PER_HOST) % len(HOSTS)),
            "endpoint": _strings([f"{m} {r}" for m, r, _ in ENDPOINTS], endpoint),
            "method": _strings(methods, endpoint),
            "route": _strings(routes, endpoint),
            "path": _strings([r.replace("<int:pk>", "17") for r in routes], endpoint),
            "status_code": pa.array(status),
            "error": pa.array(error),
            "duration_ms": pa.array(duration),
            "db_count": pa.array(db_count.astype(np.int32)),
            "db_time_ms": pa.array(db_time),
            "db_slow_count": pa.array((db_time > 500).astype(np.int32)),
            "db_slowest_ms": pa.array(db_time / np.maximum(db_count, 1) * 2, mask=db_count == 0),
            "db_slowest_fingerprint": pa.array(self.fingerprints[stmt], mask=db_count == 0),
            "cache_hits": pa.array(rng.poisson(4, n).astype(np.int32)),
            "cache_misses": pa.array(rng.poisson(1, n).astype(np.int32)),
            "cache_time_ms": pa.array(rng.exponential(0.8, n)),
            "n_plus_one_count": pa.array(n_plus_one.astype(np.int32)),
            "is_slow": pa.array(duration >= 1000),
            "is_very_slow": pa.array(duration >= 5000),
            "memory_usage_mb": pa.array(memory),
            "memory_delta_mb": pa.array(rng.exponential(0.5, n)),
            "peak_memory_mb": pa.array(rng.exponential(1.0, n)),
            "user_id": _strings(self.users, rng.choice(USERS, n, p=self.user_p), anonymous),
            "tenant": _strings([f"tenant-{i}" for i in range(20)], rng.integers(0, 20, n)),
            "graphql_operation_name": _strings(self.op_names, op, ~is_graphql),
            "graphql_operation_type": _strings(["query", "mutation"], op % 7 == 0, ~is_graphql),
            "graphql_query_hash": _strings(self.op_hashes, op, ~is_graphql),
            "graphql_complexity": pa.array(
                self.op_complexity[op].astype(np.int32), mask=~is_graphql
            ),
            "weight": pa.array(np.ones(n)),
        }
        # GraphQL requests: the operation is most of the request.
        g = np.flatnonzero(is_graphql)
        gd = duration[g] * 0.92
        ops = {
            "timestamp": _ts(ts[g] + 300),
            "trace_id": trace_ids.take(pa.array(g)),
            "span_id": pa.array(rng.integers(0, 2**63, len(g), dtype=np.uint64)),
            "root_span_id": pa.array(span_ids[g]),
            "service_name": requests["service_name"].take(pa.array(g)),
            "service_instance": requests["service_instance"].take(pa.array(g)),
            "host_name": requests["host_name"].take(pa.array(g)),
            "endpoint": requests["endpoint"].take(pa.array(g)),
            "operation_name": _strings(self.op_names, op[g]),
            "operation_type": _strings(["query", "mutation"], op[g] % 7 == 0),
            "query_hash": _strings(self.op_hashes, op[g]),
            "operation_id": _strings(self.op_hashes, op[g]),
            "query_text": _strings(self.op_texts, op[g]),
            "variables": _strings(['{"first": 20}', '{"first": 100}', "{}"], op[g] % 3),
            "complexity_score": pa.array(self.op_complexity[op[g]].astype(np.int32)),
            "depth": pa.array((3 + op[g] % 5).astype(np.int32)),
            "alias_count": pa.array((op[g] % 3).astype(np.int32)),
            "duration_ms": pa.array(gd),
            "parsing_ms": pa.array(gd * 0.02),
            "validation_ms": pa.array(gd * 0.03),
            "execution_ms": pa.array(gd * 0.93),
            "database_ms": pa.array(db_time[g] * 0.9),
            "database_queries": pa.array(db_count[g].astype(np.int32)),
            "cache_ms": requests["cache_time_ms"].take(pa.array(g)),
            "cache_hits": requests["cache_hits"].take(pa.array(g)),
            "cache_misses": requests["cache_misses"].take(pa.array(g)),
            "memory_usage_mb": pa.array(memory[g]),
            "memory_delta_mb": requests["memory_delta_mb"].take(pa.array(g)),
            "error": pa.array(error[g]),
            "error_count": pa.array(error[g].astype(np.int32)),
            "n_plus_one_count": pa.array(n_plus_one[g].astype(np.int32)),
            "is_slow": pa.array(gd >= 1000),
            "weight": pa.array(np.ones(len(g))),
        }
        return [
            ArrowBatch("requests", requests),
            ArrowBatch("graphql_operations", ops),
            self._statements(ts, trace_ids, span_ids, endpoint, db_count, db_time, is_graphql),
            self._n_plus_one(ts, trace_ids, span_ids, endpoint, op, n_plus_one, is_graphql),
        ]

    def _statements(self, ts, trace_ids, span_ids, endpoint, db_count, db_time, is_graphql):
        """About three rows (fingerprints) per request with queries."""
        rng = self.rng
        per = np.minimum(db_count, 1 + rng.poisson(2, len(ts)))
        r = np.repeat(np.arange(len(ts)), per)
        m = len(r)
        fp = self.endpoint_statements[endpoint[r], rng.integers(0, 10, m)]
        calls = np.maximum(db_count[r] // per[r], 1)
        total = db_time[r] / per[r] * rng.uniform(0.5, 1.5, m)
        peak = total / calls * (1 + rng.exponential(0.5, m))
        endpoints = [f"{me} {ro}" for me, ro, _ in ENDPOINTS]
        return ArrowBatch(
            "db_statements",
            {
                "timestamp": _ts(ts[r]),
                "trace_id": trace_ids.take(pa.array(r)),
                "span_id": pa.array(span_ids[r]),
                "service_name": _strings(["shop-api"], np.zeros(m)),
                "endpoint": _strings(endpoints, endpoint[r]),
                "fingerprint": pa.array(self.fingerprints[fp]),
                "statement": _strings(STATEMENTS, fp),
                "db_system": _strings(["postgresql"], np.zeros(m)),
                "calls": pa.array(calls.astype(np.int32)),
                "total_ms": pa.array(total),
                "max_ms": pa.array(peak),
                "slow_count": pa.array((peak >= 500).astype(np.int32)),
                "graphql_field_path": _strings(FIELD_PATHS, fp % len(FIELD_PATHS), ~is_graphql[r]),
                "weight": pa.array(np.ones(m)),
            },
        )

    def _n_plus_one(self, ts, trace_ids, span_ids, endpoint, op, n_plus_one, is_graphql):
        rng = self.rng
        r = np.flatnonzero(n_plus_one)
        m = len(r)
        fp = self.endpoint_statements[endpoint[r], 0]
        path = np.where(is_graphql[r], fp % len(FIELD_PATHS), -1)
        endpoints = [f"{me} {ro}" for me, ro, _ in ENDPOINTS]
        return ArrowBatch(
            "n_plus_one",
            {
                "timestamp": _ts(ts[r]),
                "trace_id": trace_ids.take(pa.array(r)),
                "span_id": pa.array(span_ids[r]),
                "service_name": _strings(["shop-api"], np.zeros(m)),
                "endpoint": _strings(endpoints, endpoint[r]),
                "fingerprint": pa.array(self.fingerprints[fp]),
                "statement": _strings(STATEMENTS, fp),
                "executions": pa.array(rng.integers(10, 120, m).astype(np.int32)),
                "total_ms": pa.array(rng.uniform(20, 400, m)),
                "graphql_operation_name": _strings(self.op_names, op[r], ~is_graphql[r]),
                "graphql_field_path": _strings(FIELD_PATHS, np.maximum(path, 0), path < 0),
                "suggestion": _strings(
                    [suggestion(None)] + [suggestion(p) for p in FIELD_PATHS], path + 1
                ),
                "weight": pa.array(np.ones(m)),
            },
        )

    def side_tables(self, now: datetime) -> list[ArrowBatch]:
        """Heartbeats per worker per minute, system samples per host per minute, and a few
        hundred alert versions."""
        rng = self.rng
        minutes = np.arange(self.start_us, self.start_us + DAYS * 86400 * _US, 60 * _US)
        per_day = len(HOSTS) * WORKERS_PER_HOST
        k = np.arange(len(INSTANCES))
        heartbeats = np.repeat(k, len(minutes) // DAYS)
        seen = minutes.reshape(DAYS, -1)[k // per_day].ravel()
        started = self.start_us + (heartbeats // per_day) * 86400 * _US
        h = len(heartbeats)
        count = np.tile(np.arange(len(minutes) // DAYS) * 40, len(INSTANCES))
        instances = {
            "instance_id": _strings(INSTANCES, heartbeats),
            "service_name": _strings(["shop-api"], np.zeros(h)),
            "service_version": _strings(["1.4.2"], np.zeros(h)),
            "deployment_environment": _strings(["production"], np.zeros(h)),
            "host_name": _strings(list(HOSTS), (heartbeats // WORKERS_PER_HOST) % len(HOSTS)),
            "pid": pa.array((1000 + heartbeats).astype(np.int32)),
            "started_at": _ts(started),
            "last_seen": _ts(seen),
            "requests_written": pa.array(count),
            "requests_dropped": pa.array(np.zeros(h, dtype=np.int64)),
            "traces_evicted": pa.array(np.zeros(h, dtype=np.int64)),
            "write_errors": pa.array(np.zeros(h, dtype=np.int64)),
            "requests_sampled_out": pa.array(np.zeros(h, dtype=np.int64)),
        }
        s = len(minutes) * len(HOSTS)
        samples = {
            "timestamp": _ts(np.repeat(minutes, len(HOSTS))),
            "host_name": _strings(list(HOSTS), np.tile(np.arange(len(HOSTS)), len(minutes))),
            "cpu_percent": pa.array(rng.uniform(5, 80, s)),
            "memory_percent": pa.array(rng.uniform(30, 70, s)),
            "memory_available_bytes": pa.array(rng.integers(2**32, 2**34, s)),
            "disk_percent": pa.array(np.full(s, 40.0)),
            "disk_free_bytes": pa.array(np.full(s, 2**36)),
            "process_rss_bytes": pa.array(rng.integers(2**27, 2**29, s)),
            "process_threads": pa.array(np.full(s, 8, dtype=np.int32)),
            "process_open_files": pa.array(np.full(s, 20, dtype=np.int32)),
            "request_rate": pa.array(rng.uniform(1, 50, s)),
            "source": _strings(["sampler"], np.zeros(s)),
        }
        return [
            ArrowBatch("service_instances", instances),
            ArrowBatch("system_samples", samples),
            ArrowBatch("alerts", self._alerts(now)),
        ]

    def _alerts(self, now: datetime) -> dict[str, pa.Array]:
        rng = self.rng
        ids, versions = 60, 5
        a = np.repeat(np.arange(ids), versions)
        v = np.tile(np.arange(versions), ids)
        n = len(a)
        first = self.start_us + rng.integers(0, DAYS * 86400 * _US, ids)[a]
        last = first + (v + 1) * 600 * _US
        resolved = (v == versions - 1) & (a % 3 == 0)
        kinds = ["slow_query", "high_complexity", "memory", "error_rate"]
        return {
            "id": _strings([f"alert-{i:03d}" for i in range(ids)], a),
            "type": _strings(kinds, a % 4),
            "severity": _strings(["info", "warning", "error", "critical"], a % 4),
            "subject": _strings(self.op_names, a % OPERATIONS),
            "message": _strings([f"{k} over its threshold" for k in kinds], a % 4),
            "details": _strings(['{"threshold": 1000, "worst": 2300.5}'], np.zeros(n)),
            "first_seen": _ts(first),
            "last_seen": _ts(last),
            "occurrences": pa.array((v + 1).astype(np.int32) * 3),
            "worst_value": pa.array(rng.uniform(1000, 5000, n)),
            "resolved": pa.array(resolved),
            "resolved_at": pa.array(last + 60 * _US, pa.timestamp("us"), mask=~resolved),
            "updated_at": _ts(last),
        }


def _disk_bytes(path: str) -> int:
    if os.path.isfile(path):
        return sum(os.path.getsize(p) for p in (path, path + ".wal") if os.path.exists(p))
    return sum(
        os.path.getsize(os.path.join(folder, name))
        for folder, _, names in os.walk(path)
        for name in names
    )


def build(paths: dict[str, str], size: int, now: datetime, seed: int = 7) -> dict:
    """Write ``size`` requests (and their side rows) into every store in ``paths``; the
    same data in each. Times in seconds: building the Arrow batches (shared), inserting and
    maintaining (per store)."""
    start = now - timedelta(days=DAYS)
    generator = Generator(seed, start)
    sessions = {kind: StoreSession(parse_address(path)) for kind, path in paths.items()}
    rows: dict[str, int] = {}
    timing = {"build_s": 0.0} | {kind: {"insert_s": 0.0} for kind in paths}
    batches = max(1, math.ceil(size / BATCH))
    span = DAYS * 86400 * _US
    try:
        for b in range(batches):
            t = time.perf_counter()
            n = min(BATCH, size - b * BATCH)
            t0 = generator.start_us + span * b // batches
            tables = generator.batch(n, t0, generator.start_us + span * (b + 1) // batches)
            if b == batches - 1:
                tables += generator.side_tables(now)
            timing["build_s"] += time.perf_counter() - t
            for table in tables:
                rows[table.table] = rows.get(table.table, 0) + len(table)
            for kind, session in sessions.items():
                t = time.perf_counter()
                session.insert(tables)
                timing[kind]["insert_s"] += time.perf_counter() - t
        for kind, session in sessions.items():
            t = time.perf_counter()
            session.maintain()
            timing[kind]["checkpoint_s"] = time.perf_counter() - t
    finally:
        for session in sessions.values():
            session.close()
    for kind, path in paths.items():
        timing[kind]["bytes"] = _disk_bytes(path)
    return {"rows": rows, **timing}


def windows(now: datetime) -> dict[str, Params]:
    """All data, and the last 24 hours (for every report, the REST ones included)."""
    return {"all": Params(start=EARLIEST), "24h": Params(start=now - timedelta(hours=24))}


def reports() -> dict:
    return {name: SPEC_ACTIONS[name] for name in SPEC} | {name: REST_REPORTS[name] for name in REST}


def measure(path: str, now: datetime, rounds: int) -> dict:
    """Median and p95 (nearest rank) in ms per report and window; the rounds interleave."""
    settings = Settings()
    reader = StoreReader(path)
    cases = [(name, fn, label, params) for name, fn in reports().items()
             for label, params in windows(now).items()]  # fmt: skip
    times: dict[tuple[str, str], list[float]] = {(n, w): [] for n, _, w, _ in cases}
    bodies: dict[tuple[str, str], dict] = {}
    try:
        t = time.perf_counter()
        with reader.cursor():  # DuckLake: opens the kept connection (not part of a report)
            pass
        open_ms = (time.perf_counter() - t) * 1000
        for round_ in range(rounds + 1):  # round 0 warms caches and is not counted
            for name, fn, label, params in cases:
                t = time.perf_counter()
                with reader.cursor() as cursor:
                    body = fn(cursor, params, settings, now)
                if not round_:
                    bodies[(name, label)] = body
                else:
                    times[(name, label)].append((time.perf_counter() - t) * 1000)
    finally:
        reader.close()
    # stats reads the hourly totals: the body must be the one the rows give, or its latency
    # means nothing (the raw figures recomputed here, independently of the report's SQL).
    result = {"open_ms": open_ms, "totals_match_rows": _totals_match(path, now, bodies)}
    for key, values in times.items():
        values.sort()
        result[key] = {
            "median_ms": statistics.median(values),
            "p95_ms": values[max(0, math.ceil(0.95 * len(values)) - 1)],
        }
    return result


def _kept(keep: str, size: int, kinds: list[str]) -> dict | None:
    """The build record of stores kept in ``keep`` for ``size`` (None: build them)."""
    try:
        with open(os.path.join(keep, f"{size}.json")) as file:
            record = json.load(file)
    except (OSError, ValueError):
        return None
    return record if set(kinds) <= set(record["store"]) - {"rows", "build_s"} else None


def _operation_figures(ops: pa.Table, settings: Settings) -> dict:
    """stats' GraphQL figures by numpy over the operations' rows."""
    d, w = ops["duration_ms"].to_numpy(), ops["weight"].to_numpy()
    scored = ops.filter(pc.is_valid(ops["complexity_score"]))
    c, cw = scored["complexity_score"].to_numpy(), scored["weight"].to_numpy()
    return {
        "slow_queries_count": int(round(float(w[d >= settings.slow_query_ms].sum()))),
        "avg_query_time_ms": round(float((d * w).sum() / w.sum()), 3) if len(w) else None,
        "avg_complexity": round(float((c * cw).sum() / cw.sum()), 2) if len(c) else None,
        "max_complexity": int(c.max()) if len(c) else None,
        "high_complexity_queries": int(round(float(cw[c > settings.graphql_max_complexity].sum()))),
    }


def _totals_match(path: str, now: datetime, bodies: dict) -> bool:
    """stats' request, DB and GraphQL figures over the hourly totals against the same figures
    summed over the rows (numpy, from the Parquet/DuckDB rows read as Arrow)."""
    settings = Settings()
    reader = StoreReader(path)
    try:
        with reader.cursor() as cursor:
            for label, params in windows(now).items():
                window = {"start": params.start or EARLIEST, "end": datetime(9999, 1, 1)}
                where = "WHERE timestamp >= $start AND timestamp < $end"
                req = cursor.execute(
                    f"SELECT duration_ms, error, db_count, weight FROM requests {where}", window
                ).to_arrow_table()
                slow = cursor.execute(
                    f"SELECT slow_count, weight FROM db_statements {where}", window
                ).to_arrow_table()
                w = req["weight"].to_numpy()

                def mean(column, digits, w=w, req=req):
                    return round(float((req[column].to_numpy() * w).sum() / w.sum()), digits)

                slow_w = slow["slow_count"].to_numpy() * slow["weight"].to_numpy()
                ops = cursor.execute(
                    "SELECT duration_ms, complexity_score, weight FROM graphql_operations " + where,
                    window,
                ).to_arrow_table()
                body = bodies[("stats", label)]
                expected = {
                    "total_requests": int(round(w.sum())),
                    "avg_response_time_ms": mean("duration_ms", 3),
                    "error_rate": mean("error", 4),
                    "avg_queries_per_request": mean("db_count", 2),
                    "slow_db_queries": int(round(float(slow_w.sum()))),
                    **_operation_figures(ops, settings),
                }
                got = {
                    **{k: body["overview"][k] for k in ("total_requests", "error_rate")},
                    "avg_response_time_ms": body["overview"]["avg_response_time_ms"],
                    **{k: body["database_stats"][k]
                       for k in ("avg_queries_per_request", "slow_db_queries")},
                    "slow_queries_count": body["overview"]["slow_queries_count"],
                    "avg_query_time_ms": body["performance_metrics"]["avg_query_time_ms"],
                    **body["query_complexity"],
                }  # fmt: skip
                if got != expected:
                    print(json.dumps({"mismatch": label, "got": got, "expected": expected}))
                    return False
    finally:
        reader.close()
    return True


def run(
    sizes: list[int], kinds: list[str], rounds: int, folder: str, keep: str | None = None
) -> dict:
    """Build (or, with ``keep``, reuse) the stores of each size and time the reports.

    ``keep``: a folder where the stores are built once and kept, with their build record
    (``<size>.json``, holding the ``now`` they were built for); later runs reuse them."""
    now = datetime.utcnow().replace(second=0, microsecond=0)  # noqa: DTZ003 (naive UTC)
    result: dict = {"rounds": rounds, "sizes": sizes, "kinds": kinds, "stores": {}}
    work = keep or tempfile.mkdtemp(prefix="otel-perf-reports-", dir=folder)
    os.makedirs(work, exist_ok=True)
    try:
        for size in sizes:
            paths = {
                kind: os.path.join(work, f"{size}" + (".duckdb" if kind == "duckdb" else ""))
                for kind in kinds
            }
            record = _kept(work, size, kinds) if keep else None
            if record is None:
                for path in paths.values():
                    shutil.rmtree(path) if os.path.isdir(path) else None
                    os.remove(path) if os.path.isfile(path) else None
                store = build(paths, size, now)
                if keep:
                    with open(os.path.join(work, f"{size}.json"), "w") as file:
                        json.dump({"now": now.isoformat(), "store": store}, file)
            else:
                store = {k: v for k, v in record["store"].items() if k in kinds or
                         k in ("rows", "build_s")}  # fmt: skip
            size_now = datetime.fromisoformat(record["now"]) if record else now
            print(json.dumps({"size": size, **store}), flush=True)
            for kind, path in paths.items():
                store[kind]["latency"] = measure(path, size_now, rounds)
                latency = {" ".join(k) if isinstance(k, tuple) else k: v
                           for k, v in store[kind]["latency"].items()}  # fmt: skip
                print(json.dumps({"size": size, "kind": kind, "latency": latency}), flush=True)
                if not keep:
                    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            result["stores"][size] = store
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return result


def _size(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def render(result: dict) -> list[str]:
    """Markdown lines for docs/benchmarks.md."""
    sizes, kinds, stores = result["sizes"], result["kinds"], result["stores"]
    lines = [
        "## Report latency over a large store",
        "",
        f"`python -m benchmarks.reports`: a synthetic store ({DAYS} days, {len(ENDPOINTS)} "
        "endpoints, ~1 % errors, ~3 % slow, ~3 DB statement rows per request, GraphQL "
        "operations for 10 % of requests) written through `StoreSession.insert` and "
        "checkpointed; each report called with a cursor from `StoreReader` as the API does, "
        f"{result['rounds']} interleaved rounds; median / p95 in ms. Target: p95 < "
        f"{TARGET_MS:g} ms for stats, alerts and slow_queries at the largest size.",
        "",
        "| requests | store | build s | insert s | checkpoint s | size MiB | open ms "
        "| stats = rows |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for size in sizes:
        s = stores[size]
        for kind in kinds:
            k = s[kind]
            lines.append(
                f"| {size:,} | {kind} | {s['build_s']:.0f} | {k['insert_s']:.0f} | "
                f"{k['checkpoint_s']:.1f} | {k['bytes'] / 2**20:.0f} | "
                f"{k['latency']['open_ms']:.0f} | "
                f"{'yes' if k['latency']['totals_match_rows'] else 'NO'} |"
            )
    head = [f"{_size(size)} {kind}" for size in sizes for kind in kinds]
    lines += [
        "",
        "| report | window | "
        + " | ".join(head)
        + f" | {_size(max(sizes))} / {_size(min(sizes))} | ducklake / duckdb |",
        "|---|---|" + "---:|" * (len(head) + 2),
    ]
    for name in reports():
        for label in windows(datetime(2000, 1, 2)):
            cells, medians = [], {}
            for size in sizes:
                for kind in kinds:
                    m = stores[size][kind]["latency"][(name, label)]
                    medians[(size, kind)] = m["median_ms"]
                    cells.append(f"{m['median_ms']:.1f} / {m['p95_ms']:.1f}")
            big, small = max(sizes), min(sizes)
            scaling = ", ".join(_ratio(medians[(big, k)], medians[(small, k)]) for k in kinds)
            lake = (
                _ratio(medians[(big, "ducklake")], medians[(big, "duckdb")])
                if {"ducklake", "duckdb"} <= set(kinds)
                else "n/a"
            )
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + f" | {scaling} | {lake} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--store-kinds", default="ducklake,duckdb")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where stores are built")
    parser.add_argument(
        "--keep", metavar="DIR", help="build the stores in DIR once, keep them and reuse them"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = [k.strip() for k in args.store_kinds.split(",")]
    print("\n".join(render(run(sizes, kinds, args.rounds, args.dir, keep=args.keep))))


if __name__ == "__main__":
    main()
