"""The alert lifecycle: fires once per subject, updates, resolves after the quiet period.

Pure rules first, then the evaluator against a real store in a temp dir with an injected
clock (nothing sleeps)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from otel_perf.settings import load_settings
from otel_perf.storage import parse_address
from otel_perf.storage.rows import Columns
from otel_perf.storage.session import StoreSession
from query_api import alert_rules as R
from query_api.alert_evaluator import evaluate, settling_time
from query_api.params import Params
from query_api.reports import alerts as alerts_report

T0 = datetime(2026, 11, 24, 12, 0, 0)
QUIET = timedelta(minutes=10)


def occurrence(subject="h1", count=1, worst=1500.0, at=T0, type_="slow_query"):
    return R.Occurrence(
        type=type_,
        subject=subject,
        count=count,
        worst_value=worst,
        first_seen=at,
        last_seen=at,
        severity="warning",
        message="slow",
        details={"query_time_ms": worst},
    )


def test_should_fire_once_per_subject_and_update_it_after():
    first = R.evolve({}, [occurrence("h1"), occurrence("h2")], T0, QUIET)
    assert [(a.subject, a.occurrences, a.resolved) for a in first] == [
        ("h1", 1, False),
        ("h2", 1, False),
    ]
    open_alerts = {(a.type, a.subject): a for a in first}
    later = T0 + timedelta(minutes=1)
    second = R.evolve(
        open_alerts, [occurrence("h1", count=3, worst=2500.0, at=later)], later, QUIET
    )
    assert len(second) == 1
    updated = second[0]
    assert updated.id == open_alerts[("slow_query", "h1")].id  # stable id
    assert (updated.occurrences, updated.worst_value, updated.last_seen) == (4, 2500.0, later)
    assert updated.details == {"query_time_ms": 2500.0}  # the worst occurrence's details
    assert updated.first_seen == T0


def test_should_resolve_after_the_quiet_period_only():
    alert = R.evolve({}, [occurrence()], T0, QUIET)[0]
    key = {(alert.type, alert.subject): alert}
    assert R.evolve(key, [], T0 + QUIET - timedelta(seconds=1), QUIET) == []
    resolved = R.evolve(key, [], T0 + QUIET, QUIET)
    assert [(a.id, a.resolved, a.resolved_at) for a in resolved] == [(alert.id, True, T0 + QUIET)]


def test_should_open_a_new_alert_when_the_condition_returns_after_resolution():
    first = R.evolve({}, [occurrence()], T0, QUIET)[0]
    again = T0 + timedelta(hours=1)
    second = R.evolve({}, [occurrence(at=again)], again, QUIET)[0]
    assert second.id != first.id


def _operation(start: datetime, duration_ms: float, query_hash: str, complexity: int) -> dict:
    return {
        "timestamp": start,
        "trace_id": b"\0" * 16,
        "span_id": 1,
        "root_span_id": 1,
        "service_name": "svc",
        "operation_name": f"Op{query_hash}",
        "operation_type": "query",
        "query_hash": query_hash,
        "complexity_score": complexity,
        "duration_ms": duration_ms,
        "weight": 1.0,
    }


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


def run(session, settings, now, previous):
    versions = evaluate(session.con, settings, now, previous)
    if versions:
        insert(session, "alerts", [v.row() for v in versions])
    return versions


def test_should_evaluate_the_store_through_the_whole_lifecycle(session):
    settings = load_settings({"OTEL_PERF_SLOW_QUERY_MS": "1000"})
    settle = settling_time(settings)
    insert(
        session,
        "graphql_operations",
        [
            _operation(T0, 1200.0, "aaa", 5),  # slow
            _operation(T0 + timedelta(seconds=1), 3000.0, "aaa", 5),  # slow, worse
            _operation(T0, 50.0, "bbb", 250),  # complex
            _operation(T0, 50.0, "ccc", 5),  # neither
        ],
    )
    now = T0 + timedelta(minutes=1)
    first = run(session, settings, now, None)
    assert sorted((a.type, a.subject, a.occurrences) for a in first) == [
        ("high_complexity", "bbb", 1),
        ("slow_query", "aaa", 2),
    ]
    slow = next(a for a in first if a.type == "slow_query")
    assert slow.worst_value == 3000.0 and slow.details["threshold_ms"] == 1000.0
    assert slow.severity == "warning"
    assert next(a for a in first if a.type == "high_complexity").severity == "error"

    # Nothing new: no versions. Then one more slow "aaa": the same alert is updated.
    assert run(session, settings, now + timedelta(seconds=30), now) == []
    later = now + timedelta(minutes=2)
    insert(session, "graphql_operations", [_operation(later - settle * 2, 1100.0, "aaa", 5)])
    updated = run(session, settings, later, now + timedelta(seconds=30))
    assert [(a.id, a.occurrences) for a in updated] == [(slow.id, 3)]

    # The report shows one row per alert, newest version, and resolves after the quiet period.
    page = alerts_report.report(session.con, Params(), settings, later)
    assert page["pagination"]["total"] == 2
    assert {a["id"]: a["occurrences"] for a in page["alerts"]}[slow.id] == 3

    quiet_end = later + timedelta(seconds=settings.alert_quiet_period_s)
    resolved = run(session, settings, quiet_end, later)
    assert sorted(a.type for a in resolved if a.resolved) == ["high_complexity", "slow_query"]
    page = alerts_report.report(session.con, Params(), settings, quiet_end)
    assert all(a["resolved"] for a in page["alerts"]) and page["pagination"]["total"] == 2
    assert all(a["resolved_at"].endswith("Z") for a in page["alerts"])


def test_should_filter_alerts_by_severity_and_paginate(session):
    settings = load_settings({})
    insert(
        session,
        "graphql_operations",
        [_operation(T0, 2000.0, f"h{i}", 500 if i < 2 else 1) for i in range(5)],
    )
    run(session, settings, T0 + timedelta(minutes=1), None)
    everything = alerts_report.report(session.con, Params(limit=3), settings, T0)
    assert everything["pagination"] == {"total": 7, "limit": 3, "offset": 0, "has_next": True}
    last = alerts_report.report(session.con, Params(limit=3, offset=6), settings, T0)
    assert len(last["alerts"]) == 1 and last["pagination"]["has_next"] is False
    errors = alerts_report.report(session.con, Params(severity="error"), settings, T0)
    assert {a["type"] for a in errors["alerts"]} == {"high_complexity"}
    assert errors["pagination"]["total"] == 2


def test_should_evaluate_rows_committed_late_exactly_once_by_snapshot(session):
    """DuckLake: a row committed long after it ended is still evaluated, and only once."""
    from query_api.alert_evaluator import snapshot_window
    from query_api.queries import CURRENT_SNAPSHOT

    settings = load_settings({"OTEL_PERF_SLOW_QUERY_MS": "1000"})
    current = lambda: session.con.execute(CURRENT_SNAPSHOT).fetchone()[0]  # noqa: E731
    insert(session, "graphql_operations", [_operation(T0, 1500.0, "aaa", 5)])
    first_snapshot = current()
    now = T0 + timedelta(hours=1)
    first = evaluate(session.con, settings, now, None, snapshot_window(None, first_snapshot))
    assert [(a.subject, a.occurrences) for a in first] == [("aaa", 1)]
    insert(session, "alerts", [a.row() for a in first])
    # A worker commits a row that ended an hour ago: no time window would still look there.
    insert(session, "graphql_operations", [_operation(T0 + timedelta(seconds=1), 1700.0, "aaa", 5)])
    second_snapshot = current()
    later = now + timedelta(seconds=30)
    window = snapshot_window(first_snapshot, second_snapshot)
    second = evaluate(session.con, settings, later, None, window)
    assert [(a.id, a.occurrences, a.worst_value) for a in second] == [(first[0].id, 2, 1700.0)]
    insert(session, "alerts", [a.row() for a in second])
    # Nothing new since: the next range holds only the alert's own commit, no occurrence.
    from query_api.alert_evaluator import occurrences

    assert occurrences(session.con, settings, snapshot_window(second_snapshot, current())) == []


def test_a_window_from_an_expired_snapshot_should_fall_back_to_time(session):
    """Maintenance expired the snapshot the last run ended at: no snapshot window then."""
    from query_api.alert_evaluator import readable_window
    from query_api.queries import CURRENT_SNAPSHOT

    current = lambda: session.con.execute(CURRENT_SNAPSHOT).fetchone()[0]  # noqa: E731
    insert(session, "graphql_operations", [_operation(T0, 1500.0, "aaa", 5)])
    previous = current()
    insert(session, "graphql_operations", [_operation(T0, 1600.0, "bbb", 5)])
    now = current()
    assert readable_window(session.con, None, now).from_snapshot == 0
    assert readable_window(session.con, previous, now).from_snapshot == previous + 1
    insert(session, "graphql_operations", [_operation(T0, 1700.0, "ccc", 5)])
    session.con.execute("CALL ducklake_expire_snapshots('perf', versions => [$1])", [previous + 1])
    assert readable_window(session.con, previous, current()) is None
    assert readable_window(session.con, previous + 1, current()).from_snapshot == previous + 2
    # A first run (no previous snapshot) on a store whose early snapshots expired: by time too
    # (DuckDB failed "No snapshot found at version 0" on the snapshot range).
    assert readable_window(session.con, None, current()) is None
