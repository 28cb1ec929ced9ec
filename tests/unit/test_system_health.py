"""System health levels at each boundary (seed 001), the health score's formula, and the
health, summary and system-metrics reports against a scripted store (rows written through the
project's own session and Columns) whose answers are worked out by hand below."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from otel_perf.settings import Settings
from otel_perf.storage import parse_address
from otel_perf.storage.rows import Columns
from otel_perf.storage.session import StoreSession
from query_api.params import Params
from query_api.reports import overview
from query_api.reports.health_score import health_score, score_breakdown, service_status
from query_api.reports.system_health import resource_level, system_health, worst

NOW = datetime(2026, 11, 24, 12, 0, 0)


@pytest.mark.parametrize(
    ("resource", "warning", "critical"),
    [("cpu", 70.0, 90.0), ("memory", 70.0, 90.0), ("disk", 80.0, 95.0)],
)
def test_each_resource_level_changes_just_above_its_threshold(resource, warning, critical):
    assert resource_level(resource, 0.0) == "healthy"
    assert resource_level(resource, warning) == "healthy"  # seed 001: "> 70 %"
    assert resource_level(resource, warning + 0.01) == "warning"
    assert resource_level(resource, critical) == "warning"
    assert resource_level(resource, critical + 0.01) == "critical"
    assert resource_level(resource, 100.0) == "critical"
    assert resource_level(resource, None) == "unknown"


def test_the_host_is_as_healthy_as_its_worst_known_resource():
    assert system_health(None, None, None) == "unknown"
    assert system_health(70.0, 70.0, 80.0) == "healthy"
    assert system_health(70.01, 10.0, 10.0) == "warning"
    assert system_health(10.0, 90.01, 10.0) == "critical"
    assert system_health(10.0, 10.0, 95.01) == "critical"
    assert system_health(None, 75.0, None) == "warning"  # an unknown figure is not judged
    assert system_health(95.0, None, 81.0) == "critical"
    assert worst([]) == "unknown"
    assert worst(["unknown", "healthy"]) == "healthy"
    assert worst(["warning", "unknown", "critical", "healthy"]) == "critical"


def test_the_score_is_100_minus_capped_penalties_and_its_status_boundaries():
    assert health_score(100, 0.0, 0.0, {}, "healthy") == 100
    # 5 % errors = 20, 5 % slow = 15, one critical + one error alert = 15, warning host = 10.
    alerts = {"critical": 1, "error": 1, "warning": 7}
    assert score_breakdown(100, 0.05, 0.05, alerts, "warning") == {
        "errors": 20.0,
        "latency": 15.0,
        "alerts": 15.0,
        "resources": 10.0,
    }
    assert health_score(100, 0.05, 0.05, alerts, "warning") == 40
    # Every penalty capped: 40 + 30 + 20 + 20 -> 0 left... never below 0.
    assert health_score(10, 1.0, 1.0, {"critical": 9}, "critical") == 0
    assert score_breakdown(10, 1.0, 1.0, {"critical": 9}, "critical") == {
        "errors": 40.0,
        "latency": 30.0,
        "alerts": 20.0,
        "resources": 20.0,
    }
    # No requests: nothing failed or was slow; with no host sample either, nothing is known.
    assert health_score(0, None, None, {"critical": 1}, "healthy") == 90
    assert health_score(0, None, None, {"critical": 1}, "unknown") is None
    assert [service_status(s) for s in (100, 80, 79, 50, 49, 0, None)] == [
        "healthy",
        "healthy",
        "degraded",
        "degraded",
        "critical",
        "critical",
        "unknown",
    ]


# -- the reports against a scripted store ---------------------------------------------------------
def requests_rows(count: int, errors: int, slow: int) -> Columns:
    rows = Columns("requests")
    for i in range(count):
        rows.add(
            {
                "timestamp": NOW - timedelta(seconds=200 - i),
                "endpoint": "GET /items/",
                "method": "GET",
                "status_code": 500 if i < errors else 200,
                "error": i < errors,
                "duration_ms": 1500.0 if errors <= i < errors + slow else 100.0,
                "is_slow": errors <= i < errors + slow,
                "db_count": 2,
                "db_time_ms": 5.0,
                "n_plus_one_count": 0,
                "cache_hits": 0,
                "cache_misses": 0,
                "weight": 1.0,
            }
        )
    return rows


def alert(rows: Columns, id_: str, severity: str, resolved: bool, age_s: float) -> None:
    at = NOW - timedelta(seconds=age_s)
    rows.add(
        {
            "id": id_,
            "type": "high_latency",
            "severity": severity,
            "subject": id_,
            "first_seen": at,
            "last_seen": at,
            "occurrences": 1,
            "resolved": resolved,
            "updated_at": at,
        }
    )


def sample(rows: Columns, host: str, age_s: float, cpu: float, memory: float, disk: float) -> None:
    rows.add(
        {
            "timestamp": NOW - timedelta(seconds=age_s),
            "host_name": host,
            "cpu_percent": cpu,
            "memory_percent": memory,
            "memory_available_bytes": 2 * 2**30,
            "disk_percent": disk,
            "disk_free_bytes": 10 * 2**30,
            "process_rss_bytes": 300 * 2**20,
            "process_threads": 12,
            "process_open_files": 7,
            "request_rate": 0.2,
            "source": "sampler",
        }
    )


@pytest.fixture
def store(tmp_path):
    session = StoreSession(parse_address(str(tmp_path / "store")))
    yield session
    session.close()


def scripted(session: StoreSession) -> None:
    """40 requests in the last 4 minutes: 1 error (2.5 %), 2 slow (5 %). Open alerts: one
    critical, one error (a second critical was resolved). Host a: a warning (CPU 75 %) in its
    newest sample; host b: critical disk but last sampled 10 minutes ago (not live)."""
    alerts = Columns("alerts")
    alert(alerts, "c1", "critical", False, 60)
    alert(alerts, "e1", "error", False, 60)
    alert(alerts, "c2", "critical", False, 600)
    alert(alerts, "c2", "critical", True, 30)
    alert(alerts, "w1", "warning", False, 60)
    samples = Columns("system_samples")
    sample(samples, "a", 200, 95.0, 50.0, 40.0)  # older: superseded by the next one
    sample(samples, "a", 20, 75.0, 50.0, 40.0)
    sample(samples, "b", 600, 10.0, 10.0, 96.0)
    processes = Columns("process_samples")
    for age, rss in ((200, 100), (20, 150)):
        processes.add(
            {
                "timestamp": NOW - timedelta(seconds=age),
                "host_name": "a",
                "service_name": "web",
                "service_instance": "web/11",
                "pid": 11,
                "cpu_percent": 12.5,
                "rss_bytes": rss * 2**20,
                "threads": 4,
                "open_files": 3,
            }
        )
    instances = Columns("service_instances")
    for pid, age in ((11, 30), (12, 45), (13, 3600)):  # 13 stopped an hour ago
        instances.add(
            {
                "instance_id": f"web/{pid}",
                "service_name": "web",
                "host_name": "a",
                "pid": pid,
                "started_at": NOW - timedelta(hours=2),
                "last_seen": NOW - timedelta(seconds=age),
            }
        )
    session.insert([requests_rows(40, 1, 2), alerts, samples, processes, instances])


def test_summary_scores_latency_errors_alerts_and_resources(store):
    scripted(store)
    body = overview.summary(store.con, Params(hours=1), Settings(), NOW)
    # 100 - 400 x 0.025 - 300 x 0.05 - (10 + 5) - 10 = 50: degraded, just.
    assert body["score_breakdown"] == {
        "errors": 10.0,
        "latency": 15.0,
        "alerts": 15.0,
        "resources": 10.0,
    }
    assert (body["health_score"], body["status"]) == (50, "degraded")
    assert (body["total_requests"], body["error_rate"], body["slow_requests"]) == (40, 0.025, 2)
    assert (body["critical_alerts"], body["high_alerts"], body["open_alerts"]) == (1, 1, 3)
    assert body["system_health"] == "warning"
    assert body["resources"] == {
        "hosts": 1,
        "cpu_percent": 75.0,
        "memory_percent": 50.0,
        "disk_percent": 40.0,
    }


def test_health_has_status_system_metrics_and_no_active_requests(store):
    scripted(store)
    body = overview.health(store.con, Params(), Settings(), NOW)
    assert (body["status"], body["performance_score"]) == ("degraded", 50)
    assert body["timestamp"] == "2026-11-24T12:00:00.000Z"
    assert body["system_health"] == "warning"
    assert body["system_metrics"] == {
        "cpu_percent": 75.0,
        "memory_percent": 50.0,
        "disk_percent": 40.0,
        "levels": {"cpu": "warning", "memory": "healthy", "disk": "healthy"},
        "sampled_at": "2026-11-24T11:59:40.000Z",
        "hosts": 1,
        "active_requests": None,
        "request_rate": 0.2,
    }
    assert (body["instances"], body["recent_requests"], body["recent_error_rate"]) == (2, 40, 0.025)


def test_health_of_an_empty_store_is_unknown_and_of_an_idle_healthy_host_is_healthy(store):
    body = overview.health(store.con, Params(), Settings(), NOW)
    assert (body["status"], body["performance_score"], body["system_health"]) == (
        "unknown",
        None,
        "unknown",
    )
    assert body["system_metrics"]["cpu_percent"] is None
    assert body["system_metrics"]["levels"] == dict.fromkeys(("cpu", "memory", "disk"), "unknown")
    samples = Columns("system_samples")
    sample(samples, "a", 10, 30.0, 40.0, 50.0)
    store.insert([samples])
    body = overview.health(store.con, Params(), Settings(), NOW)
    assert (body["status"], body["performance_score"], body["system_health"]) == (
        "healthy",
        100,
        "healthy",
    )


def test_system_metrics_reads_hosts_processes_and_samples(store):
    scripted(store)
    body = overview.system_metrics(store.con, Params(hours=1), Settings(), NOW)
    assert body["system_health"] == "warning"
    assert [h["host_name"] for h in body["hosts"]] == ["a"]
    host = body["hosts"][0]
    assert (host["cpu_percent"], host["system_health"], host["memory_available_mb"]) == (
        75.0,
        "warning",
        2048.0,
    )
    assert (host["disk_free_mb"], host["process_rss_mb"], host["process_threads"]) == (
        10240.0,
        300.0,
        12,
    )
    assert body["processes"] == [
        {
            "host_name": "a",
            "service_name": "web",
            "service_instance": "web/11",
            "pid": 11,
            "sampled_at": "2026-11-24T11:59:40.000Z",
            "cpu_percent": 12.5,
            "rss_mb": 150.0,
            "threads": 4,
            "open_files": 3,
        }
    ]
    assert body["samples_total"] == 3
    assert body["averages"]["max_cpu_percent"] == 95.0
    assert body["averages"]["avg_cpu_percent"] == pytest.approx((95 + 75 + 10) / 3, abs=0.01)
    assert [(s["host_name"], s["cpu_percent"], s["system_health"]) for s in body["samples"]] == [
        ("b", 10.0, "critical"),
        ("a", 95.0, "critical"),
        ("a", 75.0, "warning"),
    ]


def test_system_metrics_keeps_the_newest_samples_when_there_are_more_than_the_limit(store):
    samples = Columns("system_samples")
    for age in range(0, 50, 10):
        sample(samples, "a", age, float(age), 10.0, 10.0)
    store.insert([samples])
    body = overview.system_metrics(store.con, Params(hours=1), Settings(api_max_limit=3), NOW)
    assert body["samples_total"] == 5
    assert [s["cpu_percent"] for s in body["samples"]] == [20.0, 10.0, 0.0]  # oldest first
