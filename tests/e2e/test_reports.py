"""The reports against the contract and against ground truth.

The store is filled by a real instrumented run of the example app (gunicorn, two workers,
REST and GraphQL traffic); alerts come from the real evaluator. Then:

- golden contract: each action's ``data`` has every key of the seed's JSON example, with the
  same kind of value (a number may be an int or a float; documented unknowables may be null);
- numbers: totals from what the client sent, averages and percentiles by numpy over the
  durations read back, error counts from the statuses the client saw, DB averages from
  Django's own counts, pagination at its edges and date filters at their boundaries.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy
import pytest

from otel_perf.storage import parse_address
from otel_perf.storage.session import StoreSession
from query_api.alert_evaluator import evaluate
from query_api.alert_rules import Alert
from tests.e2e.conftest import APP_DIR, query, wait_for_rows
from tests.e2e.test_api_service import ADMIN, Api
from tests.e2e.test_graphql import post

sys.path.insert(0, str(APP_DIR))
from gql import documents as D  # noqa: E402

pytestmark = pytest.mark.e2e

# The contract (shared/seeds/000_*.txt), kept in the repository so a clone can check itself.
SEED = Path(__file__).resolve().parents[1] / "contract" / "performance_api_000.md"
SPEC = "/graphql/performance/"
SLOW_QUERY_MS = 300  # Slow sleeps 400 ms: over it; nothing else comes near on this app
PLAN = {"/books/": 6, "/books/n-plus-one/": 4, "/books/optimized/": 3, "/error/": 2, "/slow/": 2}

# Figures the glossary allows to be null (nothing to measure yet in this run).
NULLABLE = {
    "connection_pool_usage",
    "response_time_trend",
    "error_rate_trend",
    "memory_usage_trend",
    "cache_hit_rate",
    "operation_name",
}


def seed_examples() -> dict[str, dict]:
    """The ``data`` of each action's example response in the seed."""
    text = SEED.read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    examples = {}
    for block in blocks:
        body = json.loads(block)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            continue
        for action, key in (
            ("stats", "overview"),
            ("alerts", "alerts"),
            ("slow_queries", "slow_queries"),
        ):
            if key in data:
                examples[action] = data
    assert set(examples) == {"stats", "alerts", "slow_queries"}
    return examples


def shape_errors(example, actual, path="data") -> list[str]:
    """Where ``actual`` does not have the example's keys and kinds of values."""
    if isinstance(example, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        errors = []
        for key, value in example.items():
            if key not in actual:
                errors.append(f"{path}.{key}: missing")
            elif actual[key] is None and key in NULLABLE:
                continue
            elif key in ("details", "variables"):  # free-form objects
                if not isinstance(actual[key], dict):
                    errors.append(f"{path}.{key}: expected an object")
            else:
                errors += shape_errors(value, actual[key], f"{path}.{key}")
        return errors
    if isinstance(example, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list"]
        if example and not actual:
            return [f"{path}: empty (the run should have produced entries)"]
        return shape_errors(example[0], actual[0], f"{path}[0]") if example else []
    if isinstance(example, bool):
        return [] if isinstance(actual, bool) else [f"{path}: expected a boolean, got {actual!r}"]
    if isinstance(example, (int, float)):
        ok = isinstance(actual, (int, float)) and not isinstance(actual, bool)
        return [] if ok else [f"{path}: expected a number, got {actual!r}"]
    if isinstance(example, str):
        return [] if isinstance(actual, str) else [f"{path}: expected a string, got {actual!r}"]
    return []


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(store, what the client saw) after a real run, alerts evaluated."""
    from tests.e2e.conftest import App

    tmp = tmp_path_factory.mktemp("reports")
    env = {
        "OTEL_PERF_SLOW_QUERY_MS": str(SLOW_QUERY_MS),
        "OTEL_PERF_SLOW_REQUEST_MS": "1000",
        "OTEL_PERF_MEMORY_WARNING_MB": "1",  # every request: a memory_warning per worker
    }
    app = App(tmp, workers=2, extra_env=env).prepare()
    app.start()
    statuses: list[int] = []
    sent = 0
    try:
        for path, times in PLAN.items():
            for _ in range(times):
                statuses.append(app.get(path))
        for _ in range(3):
            post(app.base, "/graphql/", D.SLOW, {"ms": 400})
        post(app.base, "/graphql/", D.DEEP)  # complexity 109: over the maximum of 100
        post(app.base, "/graphql/", D.BOOK_COUNT)
        sent = sum(PLAN.values()) + 5
        assert wait_for_rows(app.store, sent) == sent, app.log()
        assert wait_for_rows(app.store, 5, "SELECT count(*) FROM graphql_operations") == 5
    finally:
        app.stop()
    session = StoreSession(parse_address(app.store))
    try:
        last = session.con.execute("SELECT max(timestamp) FROM requests").fetchone()[0]
        versions: list[Alert] = evaluate(
            session.con, app_settings(app.store), last + timedelta(minutes=1), None
        )
        from otel_perf.storage.rows import Columns

        columns = Columns("alerts")
        for alert in versions:
            columns.add(alert.row())
        session.insert([columns])
    finally:
        session.close()
    return app.store, statuses, sent


def app_settings(store):
    from otel_perf.settings import Settings

    return Settings(store=store, slow_query_ms=SLOW_QUERY_MS, memory_warning_mb=1.0)


@pytest.fixture
def api(run):
    store, _, _ = run
    api = Api(store, slow_query_ms=SLOW_QUERY_MS, memory_warning_mb=1.0)
    yield api
    api.service.close()


def data(api, url: str) -> dict:
    response = api.get(url, ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and body["timestamp"].endswith("Z")
    return body["data"]


@pytest.mark.parametrize("action", ["stats", "alerts", "slow_queries"])
def test_should_match_the_seed_example_shape(api, action):
    example = seed_examples()[action]
    assert shape_errors(example, data(api, f"{SPEC}?action={action}")) == []


def test_should_give_each_spec_alert_type_its_example_details(api):
    """The shape test sees only the first alert, and ``details`` as a free-form object: here
    each of the spec's three alert types has its example's fields, detail keys and severity."""
    examples = {a["type"]: a for a in seed_examples()["alerts"]["alerts"]}
    assert set(examples) == {"slow_query", "high_complexity", "memory_warning"}
    alerts = data(api, f"{SPEC}?action=alerts&limit=1000")["alerts"]
    for type_, example in examples.items():
        actual = next((a for a in alerts if a["type"] == type_), None)
        assert actual is not None, f"the run raised no {type_} alert"
        assert shape_errors(example, actual, type_) == []
        assert shape_errors(example["details"], actual["details"], f"{type_}.details") == []
        assert actual["severity"] == example["severity"]


def test_should_report_stats_equal_to_ground_truth(api, run, ground_truth):
    store, statuses, sent = run
    truth = ground_truth(list(PLAN), False)  # Django's own query counts, uninstrumented
    stats = data(api, f"{SPEC}?action=stats")
    durations = numpy.array([d for (d,) in query(store, "SELECT duration_ms FROM requests")])
    overview, metrics = stats["overview"], stats["performance_metrics"]
    assert overview["total_requests"] == sent == len(durations)
    assert overview["avg_response_time_ms"] == pytest.approx(durations.mean(), abs=1e-3)
    # Errors: the 500s the client received (GraphQL posts answer 200).
    assert overview["error_rate"] == pytest.approx(statuses.count(500) / sent, abs=1e-4)
    # DB queries per request: Django's own counts for each path (GraphQL: the documents').
    rest = sum(truth[p]["queries"] * n for p, n in PLAN.items())
    graphql = 3 * D.EXPECTED_QUERIES["Slow"] + D.EXPECTED_QUERIES["DeepBooks"] + 1
    assert stats["database_stats"]["avg_queries_per_request"] == pytest.approx(
        (rest + graphql) / sent, abs=0.01
    )
    op_durations = [d for (d,) in query(store, "SELECT duration_ms FROM graphql_operations")]
    assert overview["slow_queries_count"] == sum(d >= SLOW_QUERY_MS for d in op_durations) >= 3
    assert metrics["avg_query_time_ms"] == pytest.approx(numpy.mean(op_durations), abs=1e-3)
    assert stats["query_complexity"]["max_complexity"] == 109
    scores = [c for (c,) in query(store, "SELECT complexity_score FROM graphql_operations")]
    assert stats["query_complexity"]["avg_complexity"] == pytest.approx(
        numpy.mean([c for c in scores if c is not None]), abs=0.01
    )
    # Per-request means read back from the rows (no sampling in this run: every weight is 1).
    columns = ("db_time_ms", "cache_time_ms", "memory_usage_mb", "cache_hits", "cache_misses")
    rows = query(store, f"SELECT {', '.join(columns)} FROM requests")
    per = {name: [row[i] for row in rows] for i, name in enumerate(columns)}
    assert metrics["avg_db_time_ms"] == pytest.approx(numpy.mean(per["db_time_ms"]), abs=1e-3)
    assert metrics["avg_cache_time_ms"] == pytest.approx(numpy.mean(per["cache_time_ms"]), abs=1e-3)
    memory = [m for m in per["memory_usage_mb"] if m is not None]
    assert metrics["avg_memory_usage_mb"] == pytest.approx(numpy.mean(memory), abs=1e-3)
    reads = sum(per["cache_hits"]) + sum(per["cache_misses"])
    assert metrics["cache_hit_rate"] == (
        None if reads == 0 else pytest.approx(sum(per["cache_hits"]) / reads, abs=1e-4)
    )
    (slow_db,) = query(store, "SELECT coalesce(sum(slow_count), 0) FROM db_statements")[0]
    assert stats["database_stats"]["slow_db_queries"] == slow_db
    assert stats["query_complexity"]["high_complexity_queries"] == 1
    # Uptime: the oldest start among instances seen in the last 5 minutes (seconds ago here).
    now = datetime.fromtimestamp(api.clock.now, UTC).replace(tzinfo=None)
    starts = query(store, "SELECT min(started_at) FROM service_instances GROUP BY instance_id")
    longest = max((now - started).total_seconds() / 3600 for (started,) in starts)
    assert overview["uptime_hours"] == pytest.approx(longest, abs=0.002) and longest > 0


def test_should_report_endpoint_percentiles_equal_to_numpy(api, run):
    store, _, _ = run
    endpoints = data(api, "/api/v1/performance/endpoints?top_n=50&hours=24")["endpoints"]
    by_name = {e["endpoint"]: e for e in endpoints}
    for endpoint, row in by_name.items():
        durations = [
            d
            for (d,) in query(
                store, "SELECT duration_ms FROM requests WHERE endpoint = ?", [endpoint]
            )
        ]
        assert row["count"] == len(durations)
        for q, key in ((50, "p50_ms"), (95, "p95_ms"), (99, "p99_ms")):
            assert row[key] == pytest.approx(numpy.percentile(durations, q), abs=1e-3), (
                endpoint,
                key,
            )
        assert row["max_ms"] == pytest.approx(max(durations), abs=1e-3)
    assert by_name["GET /books/n-plus-one/"]["n_plus_one_requests"] == PLAN["/books/n-plus-one/"]
    assert by_name["GET /error/"]["error_rate"] == 1.0


def test_should_paginate_slow_queries_at_the_edges(api):
    first = data(api, f"{SPEC}?action=slow_queries&limit=1")
    total = first["pagination"]["total"]
    assert total == first["summary"]["total_slow_queries"] >= 3
    assert len(first["slow_queries"]) == 1 and first["pagination"]["has_next"] is True
    assert first["slow_queries"][0]["execution_time_ms"] == first["summary"]["slowest_query_ms"]
    last = data(api, f"{SPEC}?action=slow_queries&limit=1&offset={total - 1}")
    assert len(last["slow_queries"]) == 1 and last["pagination"]["has_next"] is False
    beyond = data(api, f"{SPEC}?action=slow_queries&offset={total}")
    assert beyond["slow_queries"] == [] and beyond["pagination"]["total"] == total
    everything = data(api, f"{SPEC}?action=slow_queries")["slow_queries"]
    times = [q["execution_time_ms"] for q in everything]
    assert times == sorted(times, reverse=True)
    for q in everything:
        b = q["performance_breakdown"]
        assert b["parsing_ms"] + b["validation_ms"] + b["execution_ms"] == pytest.approx(
            q["execution_time_ms"], abs=0.01
        )
        assert q["variables"] == {"ms": 400} and '"' not in q["query_text"]


def test_should_filter_by_date_at_the_boundaries(api, run):
    store, _, _ = run
    stamps = sorted(t for (t,) in query(store, "SELECT timestamp FROM requests"))
    pivot = stamps[len(stamps) // 2]
    iso = pivot.isoformat() + "Z"
    before = data(api, f"{SPEC}?action=stats&end_date={iso}")["overview"]["total_requests"]
    after = data(api, f"{SPEC}?action=stats&start_date={iso}")["overview"]["total_requests"]
    # start inclusive, end exclusive: the pivot row is counted once, on the "after" side.
    assert before == sum(t < pivot for t in stamps)
    assert after == sum(t >= pivot for t in stamps)
    assert before + after == len(stamps)
    shifted = (pivot + timedelta(hours=2)).isoformat() + "%2B02:00"  # the same instant
    assert (
        data(api, f"{SPEC}?action=stats&start_date={shifted}")["overview"]["total_requests"]
        == after
    )


def test_should_list_the_alerts_the_run_raised(api):
    alerts = data(api, f"{SPEC}?action=alerts")["alerts"]
    kinds = {(a["type"], a["severity"]) for a in alerts}
    assert {
        ("slow_query", "warning"),
        ("high_complexity", "error"),
        ("memory_warning", "warning"),
    } <= kinds
    slow = next(a for a in alerts if a["type"] == "slow_query")
    assert slow["details"]["operation_name"] == "Slow" and slow["occurrences"] == 3
    assert slow["details"]["query_time_ms"] >= 400 and slow["resolved"] is False
    # One memory_warning per worker process, never one per request.
    memory = [a for a in alerts if a["type"] == "memory_warning"]
    assert 1 <= len(memory) <= 2
    # The bottleneck rules ran in the same evaluation: the N+1 endpoint is one alert.
    n_plus_one = [a for a in alerts if a["type"] == "n_plus_one"]
    assert [a["details"]["endpoint"] for a in n_plus_one] == ["GET /books/n-plus-one/"]
    assert n_plus_one[0]["details"]["requests"] == PLAN["/books/n-plus-one/"]


def test_should_analyze_the_run_on_demand(api):
    response = api.request("POST", "/api/v1/performance/analyze?hours=24", ADMIN)
    assert response.status_code == 200, response.text
    found = response.json()["data"]["bottlenecks"]
    n_plus_one = next(b for b in found if b["type"] == "n_plus_one")
    assert n_plus_one["details"]["endpoint"] == "GET /books/n-plus-one/"
    assert "select_related" in n_plus_one["recommendation"]
    assert n_plus_one["details"]["max_executions"] == 10  # one per book after the list


def test_should_render_the_full_report_in_every_format(api):
    full = data(api, "/api/v1/performance/report?hours=24")
    assert full["summary"]["total_requests"] > 0
    assert any(r["category"] == "database" for r in full["recommendations"])
    assert any(b["type"] == "n_plus_one" for b in full["bottlenecks"])
    assert "system" in full and set(full["trends"]) >= {"response_time_trend"}
    markdown = data(api, "/api/v1/performance/report?hours=24&format=markdown")
    assert "## Bottlenecks" in markdown["content"]
    assert markdown["content"].startswith("# Performance report")
    assert "GET /books/n-plus-one/" in markdown["content"]


def test_should_evaluate_alerts_in_the_running_app(make_app):
    """The elected worker evaluates the rules by itself (no test-side evaluation here)."""
    env = {"OTEL_PERF_ALERT_INTERVAL_S": "0.5", "OTEL_PERF_MEMORY_WARNING_MB": "1"}
    with make_app(workers=2, extra_env=env) as app:
        for _ in range(4):
            assert app.get("/books/") == 200
        # Rows settle for 5 s before they are evaluated (they may still be queued).
        found = wait_for_rows(
            app.store,
            1,
            "SELECT count(DISTINCT id) FROM alerts WHERE type = 'memory_warning'",
            timeout=30,
        )
    assert found >= 1, app.log()
    rows = query(
        app.store,
        "SELECT severity, resolved, occurrences FROM alerts WHERE type = 'memory_warning'",
    )
    assert all(r[0] == "warning" and r[1] is False and r[2] >= 1 for r in rows)
    assert sum(r[2] for r in rows) <= 4 + 1  # never more occurrences than requests (+ probe)
