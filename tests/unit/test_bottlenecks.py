"""Bottleneck rules against a real store filled with scripted scenarios whose answers are
known: each fires where it should, not just under its threshold, never twice for one subject,
and resolves once the condition is gone (the evaluator with an injected clock)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from otel_perf.settings import load_settings
from otel_perf.storage import parse_address
from otel_perf.storage.rows import Columns
from otel_perf.storage.session import StoreSession
from query_api.alert_evaluator import evaluate, settling_time
from query_api.bottlenecks import database, latency, resources, run_rules
from query_api.params import Params
from query_api.reports import analyze

NOW = datetime(2026, 11, 24, 12, 0, 0)
MIB = 1024 * 1024


@pytest.fixture
def session(tmp_path):
    s = StoreSession(parse_address(str(tmp_path / "store")))
    yield s
    s.close()


def insert(session, table: str, rows: list[dict]) -> None:
    columns = Columns(table)
    for row in rows:
        columns.add(row)
    session.insert([columns])


def requests(endpoint, durations, at, errors=0, db_count=1, operation=None, trace=0):
    """One stored request per duration, a second apart ending before ``at``; the first
    ``errors`` of them failed with 500."""
    rows = []
    for i, duration in enumerate(durations):
        rows.append(
            {
                "timestamp": at - timedelta(seconds=len(durations) - i),
                "trace_id": (trace + i).to_bytes(16, "big"),
                "span_id": i + 1,
                "endpoint": endpoint,
                "method": endpoint.split()[0],
                "path": endpoint.split()[1],
                "status_code": 500 if i < errors else 200,
                "error": i < errors,
                "duration_ms": float(duration),
                "db_count": db_count,
                "graphql_operation_name": operation,
                "weight": 1.0,
            }
        )
    return rows


def by_subject(found):
    return {o.subject: o for o in found}


def test_high_latency_by_average_and_p95_with_severity_by_how_far(session):
    settings = load_settings({})  # avg 1000 ms, p95 2000 ms, at least 10 requests
    slow = [1500.0] * 20  # avg 1.5x: warning
    tail = [100.0] * 18 + [9000.0, 9500.0]  # avg 1340 ms; p95 9025 ms = 4.5x p95: critical
    under = [999.0] * 20  # just under both
    few = [20000.0] * 9  # too few requests to judge
    insert(
        session,
        "requests",
        requests("GET /slow/", slow, NOW)
        + requests("GET /tail/", tail, NOW)
        + requests("GET /fine/", under, NOW)
        + requests("GET /rare/", few, NOW),
    )
    found = by_subject(latency.high_latency(session.con, settings, NOW))
    assert set(found) == {"GET /slow/", "GET /tail/"}
    assert found["GET /slow/"].severity == "warning"
    tail_finding = found["GET /tail/"]
    assert tail_finding.severity == "critical"
    # Ground truth: the same percentile (linear interpolation) by the standard library.
    expected_p95 = statistics.quantiles(tail, n=20, method="inclusive")[-1]
    assert tail_finding.details["p95_response_time_ms"] == round(expected_p95, 1)
    assert tail_finding.details["avg_response_time_ms"] == round(statistics.mean(tail), 1)
    assert "P95" in tail_finding.message and tail_finding.details["recommendation"]


def test_high_error_rate_critical_above_twenty_percent(session):
    settings = load_settings({})  # max 0.05
    insert(
        session,
        "requests",
        requests("GET /a/", [10.0] * 20, NOW, errors=2)  # 0.10: error
        + requests("GET /b/", [10.0] * 20, NOW, errors=5)  # 0.25: critical
        + requests("GET /c/", [10.0] * 20, NOW, errors=1),  # 0.05: not above
    )
    found = by_subject(latency.high_error_rate(session.con, settings, NOW))
    assert {s: o.severity for s, o in found.items()} == {"GET /a/": "error", "GET /b/": "critical"}
    assert found["GET /b/"].details["errors"] == 5
    assert found["GET /b/"].details["status_codes"] == [500]


def statement(fingerprint, max_ms, calls=1, slow=1, endpoint="GET /x/", at=NOW):
    return {
        "timestamp": at - timedelta(seconds=5),
        "trace_id": fingerprint.to_bytes(16, "big", signed=True),
        "span_id": 1,
        "endpoint": endpoint,
        "fingerprint": fingerprint,
        "statement": f"SELECT {fingerprint} FROM t WHERE id = ?",
        "db_system": "postgresql",
        "calls": calls,
        "total_ms": max_ms * calls,
        "max_ms": max_ms,
        "slow_count": slow,
        "weight": 1.0,
    }


def test_slow_db_query_per_fingerprint(session):
    settings = load_settings({})  # slow_db_ms 500
    insert(
        session,
        "db_statements",
        [
            statement(1, 600.0),  # 1.2x: warning
            statement(2, 2100.0),  # 4.2x: critical
            statement(3, 499.0, slow=0),  # under
            statement(4, 700.0, calls=150, slow=120),  # frequent: at least error
        ],
    )
    found = database.slow_db_query(session.con, settings, NOW)
    severities = {o.details["statement"].split()[1]: o.severity for o in found}
    assert severities == {"1": "warning", "2": "critical", "4": "error"}


def test_n_plus_one_per_endpoint_or_operation_and_fingerprint(session):
    settings = load_settings({})
    row = {
        "timestamp": NOW - timedelta(seconds=10),
        "trace_id": b"\1" * 16,
        "span_id": 1,
        "endpoint": "GET /books/",
        "fingerprint": 7,
        "statement": "SELECT * FROM author WHERE id = ?",
        "executions": 10,
        "total_ms": 5.0,
        "suggestion": "select_related('author')",
        "weight": 1.0,
    }
    graphql = {
        **row,
        "endpoint": "POST /graphql/",
        "graphql_operation_name": "Books",
        "graphql_field_path": "books.author",
        "suggestion": "DataLoader",
    }
    insert(session, "n_plus_one", [row, {**row, "executions": 12}, graphql])
    found = by_subject(database.n_plus_one(session.con, settings, NOW))
    assert set(found) == {"GET /books/ 0000000000000007", "operation Books 0000000000000007"}
    books = found["GET /books/ 0000000000000007"]
    assert (books.severity, books.worst_value, books.details["requests"]) == ("warning", 12, 2)
    assert books.details["recommendation"] == "select_related('author')"
    assert "books.author" in found["operation Books 0000000000000007"].message


def sample(host, at, cpu=10.0, memory=10.0, disk=10.0):
    return {
        "timestamp": at,
        "host_name": host,
        "cpu_percent": cpu,
        "memory_percent": memory,
        "memory_available_bytes": 1 << 30,
        "disk_percent": disk,
        "disk_free_bytes": 1 << 34,
        "source": "sampler",
    }


def test_resource_exhaustion_per_host_from_the_newest_sample(session):
    settings = load_settings({})  # cpu 80, memory 85, disk 90
    insert(
        session,
        "system_samples",
        [
            sample("h1", NOW - timedelta(seconds=60), cpu=99.0),  # older: superseded
            sample("h1", NOW - timedelta(seconds=10), cpu=85.0, memory=92.0, disk=50.0),
            sample("h2", NOW - timedelta(seconds=10), cpu=79.9, memory=84.9, disk=95.0),
        ],
    )
    found = by_subject(resources.resource_exhaustion(session.con, settings, NOW))
    assert {s: o.severity for s, o in found.items()} == {
        "h1 cpu": "error",
        "h1 memory": "critical",
        "h2 disk": "critical",
    }


def test_performance_degradation_against_the_baseline_window(session):
    settings = load_settings({})  # window 5 min, baseline the hour before, ratio 1.5
    before = NOW - timedelta(minutes=30)
    insert(
        session,
        "requests",
        requests("GET /worse/", [100.0] * 20, before)
        + requests("GET /worse/", [160.0] * 20, NOW)  # 1.6x: warning
        + requests("GET /same/", [100.0] * 20, before)
        + requests("GET /same/", [140.0] * 20, NOW)  # 1.4x: not
        + requests("GET /new/", [900.0] * 20, NOW),  # no baseline: not judged
    )
    found = by_subject(latency.performance_degradation(session.con, settings, NOW))
    assert set(found) == {"GET /worse/"}
    assert found["GET /worse/"].worst_value == pytest.approx(1.6)
    assert found["GET /worse/"].severity == "warning"


def process(instance, at, rss_mb, pid=1):
    return {
        "timestamp": at,
        "host_name": "h1",
        "service_name": "svc",
        "service_instance": instance,
        "pid": pid,
        "rss_bytes": int(rss_mb * MIB),
        "threads": 4,
        "open_files": 10,
    }


def test_memory_leak_is_steady_growth_not_a_sawtooth(session):
    settings = load_settings({})  # growth 0.5 over the baseline window (an hour)
    times = [NOW - timedelta(minutes=56 - 5 * i) for i in range(12)]
    leaking = [100 + 10 * i for i in range(12)]  # 100 -> 210 MB, a straight line
    sawtooth = [100, 180, 100, 180, 100, 180, 100, 180, 100, 180, 100, 160]  # +60 %, no line
    modest = [100 + 3 * i for i in range(12)]  # +33 %: under the growth threshold
    insert(
        session,
        "process_samples",
        [process("leak", t, v) for t, v in zip(times, leaking, strict=True)]
        + [process("saw", t, v) for t, v in zip(times, sawtooth, strict=True)]
        + [process("modest", t, v) for t, v in zip(times, modest, strict=True)],
    )
    found = by_subject(resources.memory_leak_suspected(session.con, settings, NOW))
    assert set(found) == {"h1 leak"}
    leak = found["h1 leak"]
    assert leak.worst_value == pytest.approx(1.1)  # 210 / 100 - 1
    assert leak.severity == "error"  # at least twice the 0.5 growth threshold
    assert leak.details["mb_per_hour"] == pytest.approx(120.0, rel=1e-3)  # 10 MB per 5 min


def test_query_budget_fires_when_the_count_rises_above_its_recent_maximum(session):
    settings = load_settings({})
    before = NOW - timedelta(minutes=30)
    insert(
        session,
        "requests",
        requests("GET /list/", [10.0] * 5, before, db_count=2)
        + requests("GET /list/", [10.0] * 5, NOW, db_count=3, trace=100)  # one more: fires
        + requests("GET /same/", [10.0] * 5, before, db_count=4)
        + requests("GET /same/", [10.0] * 5, NOW, db_count=4)  # unchanged
        + requests("POST /graphql/", [10.0] * 3, before, db_count=1, operation="Q")
        + requests("POST /graphql/", [10.0] * 3, NOW, db_count=5, operation="Q")  # 5x: error
        + requests("GET /brand-new/", [10.0] * 5, NOW, db_count=50),  # no history
    )
    found = by_subject(database.query_budget(session.con, settings, NOW))
    assert {s: (o.severity, o.details["budget"], o.worst_value) for s, o in found.items()} == {
        "GET /list/": ("warning", 2, 3),
        "operation Q": ("error", 1, 5),
    }


def test_rules_become_alerts_that_update_never_duplicate_and_resolve(session):
    settings = load_settings({})
    settle = settling_time(settings)
    t = NOW
    insert(session, "requests", requests("GET /slow/", [1500.0] * 20, t - settle))
    first = evaluate(session.con, settings, t, None)
    insert(session, "alerts", [a.row() for a in first])
    assert [(a.type, a.subject, a.occurrences) for a in first] == [
        ("high_latency", "GET /slow/", 1)
    ]
    # Still slow 30 s later: the same alert, one more evaluation in which it held.
    second = evaluate(session.con, settings, t + timedelta(seconds=30), t)
    insert(session, "alerts", [a.row() for a in second])
    assert [(a.id, a.occurrences) for a in second] == [(first[0].id, 2)]
    # The window moves past the slow requests; after the quiet period the alert resolves.
    gone = t + timedelta(seconds=settings.bottleneck_window_s + 60)
    assert evaluate(session.con, settings, gone, t + timedelta(seconds=30)) == []
    resolved_at = t + timedelta(seconds=30 + settings.alert_quiet_period_s)
    resolved = evaluate(session.con, settings, resolved_at, gone)
    assert [(a.id, a.resolved) for a in resolved] == [(first[0].id, True)]


def test_a_failing_rule_is_skipped_not_fatal(session, caplog):
    settings = load_settings({})
    insert(session, "requests", requests("GET /slow/", [1500.0] * 20, NOW))
    found = run_rules(
        session.con,
        settings,
        NOW,
        ["query_api.bottlenecks.latency:high_latency", "tests.unit.test_bottlenecks:_broken"],
    )
    assert [o.type for o in found] == ["high_latency"]
    assert "bottleneck rule tests.unit.test_bottlenecks:_broken failed" in caplog.text


def _broken(con, settings, now):
    raise RuntimeError("boom")


def test_analyze_report_over_the_requested_hours(session):
    settings = load_settings({})
    insert(
        session,
        "requests",
        requests("GET /slow/", [3000.0] * 20, NOW - timedelta(hours=2))
        + requests("GET /err/", [10.0] * 20, NOW, errors=10),
    )
    last_hour = analyze.report(session.con, Params(hours=1), settings, NOW)
    assert [(b["type"], b["subject"], b["severity"]) for b in last_hour["bottlenecks"]] == [
        ("high_error_rate", "GET /err/", "critical")
    ]
    day = analyze.report(session.con, Params(hours=24), settings, NOW)
    assert [(b["type"], b["severity"]) for b in day["bottlenecks"]] == [
        ("high_error_rate", "critical"),
        ("high_latency", "error"),
    ]
    assert day["summary"] == {
        "total": 2,
        "by_severity": {"critical": 1, "error": 1},
        "by_type": {"high_error_rate": 1, "high_latency": 1},
    }
    assert all(b["recommendation"] for b in day["bottlenecks"])
    assert day["period"]["end"] == "2026-11-24T12:00:00.000Z"


def test_analyze_command_prints_findings_from_a_store(tmp_path):
    import json
    import subprocess
    import sys

    store = str(tmp_path / "cli-store")
    session = StoreSession(parse_address(store))
    now = datetime.now(UTC).replace(tzinfo=None)
    insert(session, "requests", requests("GET /err/", [10.0] * 20, now, errors=10))
    session.close()
    command = [sys.executable, "-m", "otel_perf.cli", "analyze", "--store", store]
    result = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)["bottlenecks"]
    assert [(f["type"], f["subject"]) for f in findings] == [("high_error_rate", "GET /err/")]
    text = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    assert "[CRITICAL] high_error_rate: GET /err/: 50.0% of 20 requests failed" in text


class CountingConnection:
    def __init__(self, con) -> None:
        self.con = con
        self.statements: list[str] = []

    def execute(self, sql, parameters=None):
        self.statements.append(sql)
        return self.con.execute(sql, parameters or {})


def test_rules_of_one_run_read_a_shared_query_once(session):
    from query_api.bottlenecks import queries as BQ

    settings = load_settings({})
    insert(session, "requests", requests("GET /slow/", [1500.0] * 20, NOW, errors=5))
    counting = CountingConnection(session.con)
    names = [
        "query_api.bottlenecks.latency:high_latency",
        "query_api.bottlenecks.latency:high_error_rate",
        "query_api.bottlenecks.latency:performance_degradation",
    ]
    found = run_rules(counting, settings, NOW, names)
    assert sorted(o.type for o in found) == ["high_error_rate", "high_latency"]
    assert counting.statements.count(BQ.ENDPOINT_WINDOW) == 1
    assert counting.statements.count(BQ.ENDPOINT_BASELINE) == 1


_runs: list[datetime] = []


def _counting_rule(con, settings, now):
    _runs.append(now)
    return []


def test_the_writer_runs_the_window_rules_every_bottleneck_interval(tmp_path, monkeypatch):
    """Alerts are evaluated every alert interval; the window rules only once per
    bottleneck interval, remembered in the alerts lock whichever process holds it."""
    from otel_perf.storage.writer import StoreWriter
    from query_api import bottlenecks

    monkeypatch.setattr(bottlenecks, "RULES", ["tests.unit.test_bottlenecks:_counting_rule"])
    _runs.clear()
    store = str(tmp_path / "store")
    settings = load_settings({"OTEL_PERF_STORE": store, "OTEL_PERF_BOTTLENECK_INTERVAL_S": "60"})
    writer = StoreWriter(parse_address(store), settings, {"service.name": "unit"})
    assert writer._open() is not None
    try:
        for _ in range(3):  # three evaluations in a row: the rules ran in the first only
            assert writer._alerts.run_if_due(0.0, writer._evaluate_alerts)
        assert len(_runs) == 1
        # A minute later (as the lock file says), they run again.
        with open(writer._alerts.path) as f:
            when, state = f.read().split("\n", 1)
        snapshot, rules_at = state.split(" ")
        with open(writer._alerts.path, "w") as f:
            f.write(f"{when}\n{snapshot} {float(rules_at) - 61.0!r}")
        assert writer._alerts.run_if_due(0.0, writer._evaluate_alerts)
        assert len(_runs) == 2
    finally:
        writer._drop_session()
