"""Store sampling (OTEL_PERF_STORE_SAMPLE_RATE) through the real pipeline into a real store,
and the weighted percentiles the reports compute from it, checked against numpy."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import duckdb
import numpy as np
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, use_span

from otel_perf import pipeline
from otel_perf.settings import Settings, load_settings
from otel_perf.storage import open_store, parse_address
from processors import attributes as A
from query_api import queries as Q
from query_api import weighted as W
from query_api.bottlenecks import queries as QB
from query_api.params import Params
from query_api.reports import endpoints, overview, requests, timeseries
from tests.unit.spans import server_root

LOW_64 = (1 << 64) - 1
SLOW_MS = 1000.0
NOW = datetime.now(UTC).replace(microsecond=0, tzinfo=None)  # the store's naive UTC


class SeededIds(IdGenerator):
    """Reproducible trace ids, so two runs (two "services") see the same traces."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128) or 1


def workload(n_ordinary: int, seed: int = 7) -> list[tuple[str, float]]:
    """(kind, duration_ms): ordinary requests under the slow threshold and 20 of each kind
    that must always be stored."""
    rng = np.random.default_rng(seed)
    items = [("ordinary", float(d)) for d in rng.uniform(5.0, 900.0, n_ordinary)]
    for kind in ("error", "n_plus_one", "complex"):
        items += [(kind, float(d)) for d in rng.uniform(5.0, 900.0, 20)]
    items += [("slow", float(d)) for d in rng.uniform(SLOW_MS, 3000.0, 20)]
    random.Random(seed).shuffle(items)
    return items


def run(store: str, rate: float, items, seed: int = 1) -> dict:
    """Every item through TracerProvider -> PerfSpanProcessor -> StoreWriter; the stats."""
    settings = Settings(
        store=store, store_sample_rate=rate, flush_interval_s=0.05, slow_request_ms=SLOW_MS
    )
    provider = TracerProvider(
        resource=Resource.create({"service.name": "unit"}), id_generator=SeededIds(seed)
    )
    processor = pipeline.create_processor(settings)
    provider.add_span_processor(processor)
    pipeline.attach_store(processor, provider.resource.attributes)
    tracer = provider.get_tracer("t")
    start = int((NOW - timedelta(minutes=30)).replace(tzinfo=UTC).timestamp() * 1e9)
    for i, (kind, duration_ms) in enumerate(items):
        t0 = start + i * 1_000_000
        root = server_root(tracer, t0, "items/", "/items/", 500 if kind == "error" else 200)
        with use_span(root):  # the children below are this request's
            if kind == "ordinary":  # one statement, run twice: the database report's rows
                for j in range(2):
                    db = tracer.start_span("SELECT", kind=SpanKind.CLIENT, start_time=t0 + j)
                    db.set_attribute("db.statement", "SELECT name FROM books WHERE id = 7")
                    db.end(end_time=t0 + j + 1_000_000)
            if kind == "n_plus_one":
                for j in range(6):
                    db = tracer.start_span("SELECT", kind=SpanKind.CLIENT, start_time=t0 + j)
                    db.set_attribute("db.statement", f"SELECT * FROM t WHERE id = {j}")
                    db.end(end_time=t0 + j + 1)
            if kind == "complex":
                op = tracer.start_span(
                    "query Big",
                    start_time=t0 + 1,
                    attributes={
                        A.GRAPHQL_PARSING_MS: 0.1,
                        A.GRAPHQL_OPERATION_NAME: "Big",
                        A.GRAPHQL_COMPLEXITY: 500,
                    },
                )
                op.end(end_time=t0 + 2)
        root.end(end_time=t0 + int(duration_ms * 1e6))
    provider.force_flush()
    stats = pipeline.stats()
    provider.shutdown()
    return stats


def stored(store: str) -> tuple[duckdb.DuckDBPyConnection, dict]:
    con = open_store(parse_address(store), read_only=True)
    rows = con.execute(
        "SELECT trace_id, duration_ms, weight, error, is_slow, n_plus_one_count, "
        "graphql_complexity FROM requests"
    ).fetchall()
    return con, {bytes(r[0]): r[1:] for r in rows}


def kept_by_rule(trace_id: bytes, rate: float) -> bool:
    return int.from_bytes(trace_id, "big") & LOW_64 < round(rate * 2**64)


def report_params() -> Params:
    return Params(start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1))


def expanded_percentiles(durations, weights, qs=(50, 95, 99)):
    """The truth, independently: numpy over each row repeated ``weight`` times."""
    counts = np.rint(np.asarray(weights)).astype(int)
    assert np.allclose(counts, weights)  # integer weights only (1 and 10 here)
    return np.percentile(np.repeat(np.asarray(durations), counts), qs)


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    store = str(tmp_path_factory.mktemp("sampled") / "store")
    items = workload(1500)
    stats = run(store, 0.1, items)
    con, rows = stored(store)
    yield items, stats, con, rows
    con.close()


def test_what_matters_is_always_stored_with_weight_1_the_rest_at_the_rate(sampled):
    items, stats, con, rows = sampled
    special = {v for v in rows.values() if v[1] == 1.0}
    # Every error, slow, N+1 and over-complex request is stored, each with weight 1.
    assert sum(1 for v in special if v[2]) == 20  # error
    assert sum(1 for v in special if v[3]) == 20  # slow
    assert sum(1 for v in special if v[4]) == 20  # N+1
    assert sum(1 for v in special if (v[5] or 0) > 100) == 20  # complexity over the maximum
    ordinary = {t: v for t, v in rows.items() if v[1] != 1.0}
    assert {v[1] for v in ordinary.values()} == {10.0}
    assert not any(v[2] or v[3] or v[4] for v in ordinary.values())
    # About 10 % of the 1500 ordinary ones (binomial sd ~ 11.6: 4 sd either side) ...
    assert 100 <= len(ordinary) <= 200
    # ... and exactly those whose trace id's low 64 bits fall under rate * 2^64.
    assert all(kept_by_rule(t, 0.1) for t in ordinary)
    assert stats["requests_written"] == len(rows) == len(ordinary) + 80
    assert stats["requests_sampled_out"] == len(items) - len(rows)
    # ... and in the store: the process's last heartbeat carries the count.
    (sampled_out,) = con.execute(
        "SELECT arg_max(requests_sampled_out, last_seen) FROM service_instances"
    ).fetchone()
    assert sampled_out == len(items) - len(rows)


def test_reports_count_and_percentiles_are_weighted(sampled):
    _, _, con, rows = sampled
    durations = np.array([v[0] for v in rows.values()])
    weights = np.array([v[1] for v in rows.values()])
    assert W.is_sampled(con, "requests", {"start": NOW - timedelta(hours=1), "end": NOW})
    params = report_params()
    settings = load_settings({})

    summary = overview.summary(con, params, settings, NOW)
    assert summary["total_requests"] == round(weights.sum())
    assert summary["p95_response_time_ms"] == pytest.approx(
        expanded_percentiles(durations, weights, [95])[0], abs=1e-3
    )
    (endpoint,) = endpoints.report(con, params, settings, NOW)["endpoints"]
    truth = expanded_percentiles(durations, weights)
    got = [endpoint["p50_ms"], endpoint["p95_ms"], endpoint["p99_ms"]]
    assert got == pytest.approx(truth, abs=1e-3)
    assert endpoint["count"] == round(weights.sum())
    totals = timeseries.report(con, params, settings, NOW)["totals"]
    assert [totals["p50_ms"], totals["p95_ms"], totals["p99_ms"]] == pytest.approx(truth, abs=1e-3)
    # The bottleneck rules' window and the raw twin, unrounded.
    window = {"start": NOW - timedelta(hours=1), "end": NOW + timedelta(hours=1)}
    (row,) = con.execute(QB.ENDPOINT_WINDOW_WEIGHTED, {**window, "min_requests": 1}).fetchall()
    assert row[3] == pytest.approx(truth[1], rel=1e-12)
    # Per time bucket too: each bucket against numpy over its own rows.
    series = con.execute(
        "SELECT time_bucket(INTERVAL 5 MINUTE, timestamp) AS b, list(duration_ms), list(weight) "
        "FROM requests GROUP BY b ORDER BY b"
    ).fetchall()
    got = con.execute(
        Q.ENDPOINT_TIME_SERIES_WEIGHTED,
        {**window, "method": "", "endpoint": "GET /items/", "bucket_s": 300},
    ).fetchall()
    assert [g[1] for g in got] == pytest.approx([sum(s[2]) for s in series])
    for (_, d, w), g in zip(series, got, strict=True):
        assert g[3] == pytest.approx(expanded_percentiles(d, w, [95])[0], rel=1e-12)


def test_rate_1_stores_everything_and_reports_are_plain_quantile_cont(tmp_path):
    store = str(tmp_path / "store")
    items = workload(300)
    stats = run(store, 1.0, items)
    con, rows = stored(store)
    assert len(rows) == len(items) and stats["requests_sampled_out"] == 0
    assert {v[1] for v in rows.values()} == {1.0}
    window = {"start": NOW - timedelta(hours=1), "end": NOW + timedelta(hours=1)}
    assert not W.is_sampled(con, "requests", window)
    assert W.statement_for(con, Q.REQUEST_FIGURES, window) is Q.REQUEST_FIGURES
    durations = np.array([v[0] for v in rows.values()])
    (endpoint,) = endpoints.report(con, report_params(), load_settings({}), NOW)["endpoints"]
    assert endpoint["count"] == len(items)
    assert [endpoint["p50_ms"], endpoint["p95_ms"], endpoint["p99_ms"]] == pytest.approx(
        np.percentile(durations, [50, 95, 99]), abs=1e-3
    )
    # With every weight 1 the twin agrees with quantile_cont (to the last bits of rounding).
    params = {**window, "method": ""}
    plain = con.execute(Q.REQUEST_FIGURES, params).fetchone()
    twin = con.execute(Q.REQUEST_FIGURES_WEIGHTED, params).fetchone()
    assert twin == pytest.approx(plain, rel=1e-12)
    con.close()


def test_the_decision_follows_the_trace_id_across_services_and_rates(tmp_path):
    items = workload(400)
    runs = {}
    for name, rate in (("a", 0.2), ("b", 0.2), ("c", 0.05)):
        store = str(tmp_path / name)
        run(store, rate, items, seed=3)  # same seed: the same trace ids
        con, rows = stored(store)
        con.close()
        runs[name] = {t for t, v in rows.items() if v[1] != 1.0}
    assert runs["a"] == runs["b"]  # two services, one verdict per trace
    assert runs["c"] < runs["a"]  # a lower rate keeps a subset
    assert runs["c"] and all(kept_by_rule(t, 0.05) for t in runs["c"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_weighted_quantile_sql_matches_numpy_on_random_weights(seed):
    rng = np.random.default_rng(seed)
    n = 2000
    values = rng.lognormal(3, 1, n).round(3)  # rounded: ties included
    weights = rng.choice([1, 2, 10], n)
    groups = rng.integers(0, 4, n)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (g INTEGER, duration_ms DOUBLE, weight DOUBLE)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?)",
        list(zip(groups.tolist(), values.tolist(), weights.tolist(), strict=True)),
    )
    sql = """
SELECT g, quantile_cont(duration_ms, 0.5), quantile_cont(duration_ms, 0.9),
       quantile_cont(duration_ms, 0.99), quantile_cont(duration_ms, 1.0)
FROM t
WHERE duration_ms > $floor
GROUP BY g
ORDER BY g
"""
    got = con.execute(W.weighted(sql), {"floor": 10.0}).fetchall()
    for g, *ps in got:
        mask = (groups == g) & (values > 10.0)
        truth = expanded_percentiles(values[mask], weights[mask], [50, 90, 99, 100])
        assert ps == pytest.approx(truth, rel=1e-12)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_non_integer_weights_follow_the_expanded_index_definition(seed):
    # Weights 1/0.3: no multiset to repeat, so the definition itself, in exact fractions (a
    # running sum of 10/3 lands exactly on whole indices, where float sums are ambiguous).
    rng = np.random.default_rng(seed)
    values = np.sort(rng.uniform(0, 100, 300))
    sampled = rng.random(300) < 0.5
    weights = np.where(sampled, 1 / 0.3, 1.0)
    exact = [Fraction(10, 3) if s else Fraction(1) for s in sampled]
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (SELECT unnest($v) AS duration_ms, unnest($w) AS weight)",
        {"v": values.tolist(), "w": weights.tolist()},
    )
    sql = "SELECT quantile_cont(duration_ms, 0.5), quantile_cont(duration_ms, 0.95)\nFROM t\n"
    got = con.execute(W.weighted(sql)).fetchone()
    cum = list(itertools.accumulate(exact))

    def at(k: int) -> float:  # the value covering expanded index k: [cum - w, cum) holds k
        return float(values[next(i for i, c in enumerate(cum) if c > k)])

    for q, value in zip((Fraction(1, 2), Fraction(95, 100)), got, strict=True):
        h = q * (cum[-1] - 1)
        lo, hi = at(math.floor(h)), at(math.ceil(h))
        assert value == pytest.approx(lo + float(h - math.floor(h)) * (hi - lo), rel=1e-9)


def test_the_setting_is_validated_with_the_variable_named(caplog):
    assert load_settings({"OTEL_PERF_STORE_SAMPLE_RATE": "0.25"}).store_sample_rate == 0.25
    for bad in ("0", "1.5", "-0.1", "x"):
        caplog.clear()
        assert load_settings({"OTEL_PERF_STORE_SAMPLE_RATE": bad}).store_sample_rate == 1.0
        assert "OTEL_PERF_STORE_SAMPLE_RATE" in caplog.text


def test_export_still_sees_every_request(tmp_path):
    # Store sampling drops rows, never spans: an exporter on the same provider gets them all.
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    settings = Settings(store=str(tmp_path / "store"), store_sample_rate=0.1, flush_interval_s=0.05)
    provider = TracerProvider(resource=Resource.create({"service.name": "unit"}))
    processor = pipeline.create_processor(settings)
    provider.add_span_processor(processor)
    pipeline.attach_store(processor, provider.resource.attributes)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for _ in range(200):
        with tracer.start_as_current_span(
            "GET", kind=SpanKind.SERVER, attributes={"http.route": "x/", "url.path": "/x/"}
        ):
            pass
    provider.force_flush()
    stats = pipeline.stats()
    provider.shutdown()
    assert len(exporter.get_finished_spans()) == 200
    assert stats["requests_written"] + stats["requests_sampled_out"] == 200
    assert stats["requests_sampled_out"] > 100


def test_the_database_report_weighs_each_request_once(sampled):
    _, _, con, rows = sampled
    ordinary_weight = sum(v[1] for v in rows.values() if v[1] != 1.0)  # 10 per stored one
    report = requests.database(con, report_params(), load_settings({}), NOW)
    (books,) = [s for s in report["slowest_statements"] if "books" in s["statement"]]
    # Every ordinary request ran it twice (1 ms each): counts and times are weighted sums.
    assert books["requests"] == round(ordinary_weight)
    assert books["calls"] == round(2 * ordinary_weight)
    assert books["total_ms"] == pytest.approx(2 * ordinary_weight, rel=1e-6)
    assert books["avg_ms"] == pytest.approx(1.0, rel=1e-6)
