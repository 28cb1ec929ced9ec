"""The overview reports: summary (seeds 001/003), current metrics, health, system metrics.

Health and score follow ``health_score.py``. System figures come from ``system_samples``
(written by the system sampler); until a sampler writes there they are null/empty and
system health is ``unknown``. ``active_requests`` cannot be known from the store: null.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from otel_perf.settings import Settings
from query_api import queries as Q
from query_api.params import Params
from query_api.reports.common import (
    count,
    fetch_dict,
    fetch_dicts,
    hit_rate,
    iso,
    lookback,
    percent,
    period_json,
    r,
)
from query_api.reports.health_score import health_score, service_status, system_health

RECENT = timedelta(minutes=5)


def open_alert_counts(con) -> dict[str, int]:
    return {row["severity"]: row["count"] for row in fetch_dicts(con, Q.OPEN_ALERT_COUNTS, {})}


_ORDER = ("unknown", "healthy", "warning", "critical")


def host_health(con, now: datetime) -> tuple[str, list[dict]]:
    """The worst health among hosts that sampled within the last 5 minutes, and the hosts
    worst first."""
    hosts = fetch_dicts(con, Q.LATEST_SYSTEM_SAMPLES, {"since": now - RECENT})
    for h in hosts:
        h["health"] = system_health(h["cpu_percent"], h["memory_percent"], h["disk_percent"])
    hosts.sort(key=lambda h: (_ORDER.index(h["health"]), h["cpu_percent"] or 0), reverse=True)
    return (hosts[0]["health"] if hosts else "unknown"), hosts


def summary(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = lookback(params, now)
    figures = fetch_dict(con, Q.REQUEST_FIGURES, {**window, "method": ""})
    top = fetch_dicts(con, Q.ENDPOINT_FIGURES, {**window, "method": "", "top_n": 5})
    alerts = open_alert_counts(con)
    system, _ = host_health(con, now)
    total = figures["count"] or 0
    slow_rate = (figures["slow_requests"] or 0) / total if total else None
    score = health_score(total, figures["error_rate"], slow_rate, alerts, system)
    return {
        "period": period_json(window, now),
        "health_score": score,
        "status": service_status(score),
        "total_requests": count(total),
        "avg_response_time_ms": r(figures["avg_ms"]),
        "p95_response_time_ms": r(figures["p95_ms"]),
        "error_rate": r(figures["error_rate"], 4),
        "error_rate_percent": percent(figures["error_rate"]),
        "slow_requests": count(figures["slow_requests"]),
        "critical_alerts": alerts.get("critical", 0),
        "high_alerts": alerts.get("error", 0),
        "open_alerts": sum(alerts.values()),
        "top_endpoints": [
            {
                "endpoint": row["endpoint"],
                "count": count(row["count"]),
                "avg_time_ms": r(row["avg_ms"]),
                "error_rate": r(row["error_rate"], 4),
            }
            for row in top
        ],
        "system_health": system,
    }


def metrics(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = lookback(params, now, unit="minutes")
    figures = fetch_dict(con, Q.REQUEST_FIGURES, {**window, "method": ""})
    graphql = fetch_dict(con, Q.GRAPHQL_FIGURES, window)
    minutes = (min(window["end"], now) - window["start"]).total_seconds() / 60.0
    total = figures["count"] or 0
    return {
        "period": period_json(window, now),
        "requests": count(total),
        "requests_per_minute": r(total / minutes, 2) if minutes > 0 else None,
        "avg_response_time_ms": r(figures["avg_ms"]),
        "p50_response_time_ms": r(figures["p50_ms"]),
        "p95_response_time_ms": r(figures["p95_ms"]),
        "p99_response_time_ms": r(figures["p99_ms"]),
        "error_rate": r(figures["error_rate"], 4),
        "client_error_rate": r(figures["client_error_rate"], 4),
        "slow_requests": count(figures["slow_requests"]),
        "avg_db_queries": r(figures["avg_db_queries"], 2),
        "avg_db_time_ms": r(figures["avg_db_time_ms"]),
        "cache_hit_rate": hit_rate(figures["cache_hits"], figures["cache_misses"]),
        "graphql": {
            "operations": count(graphql["count"]),
            "avg_ms": r(graphql["avg_ms"]),
            "p95_ms": r(graphql["p95_ms"]),
            "error_rate": r(graphql["error_rate"], 4),
        },
    }


def health(con, params: Params, settings: Settings, now: datetime) -> dict:
    """Public: no figures that identify users, endpoints or statements."""
    recent = {"start": now - RECENT, "end": now + RECENT}
    figures = fetch_dict(con, Q.REQUEST_FIGURES, {**recent, "method": ""})
    system, hosts = host_health(con, now)
    total = figures["count"] or 0
    slow_rate = (figures["slow_requests"] or 0) / total if total else None
    score = health_score(total, figures["error_rate"], slow_rate, open_alert_counts(con), system)
    worst = hosts[0] if hosts else {}
    return {
        "status": service_status(score),
        "performance_score": score,
        "system_health": system,
        "system_metrics": {
            "cpu_percent": r(worst.get("cpu_percent"), 1),
            "memory_percent": r(worst.get("memory_percent"), 1),
            "active_requests": None,
        },
        "recent_requests": count(total),
        "checked_at": iso(now),
    }


def system_metrics(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = lookback(params, now)
    averages = fetch_dict(con, Q.SYSTEM_AVERAGES, window)
    samples = fetch_dicts(con, Q.SYSTEM_SAMPLES, {**window, "limit": settings.api_max_limit})
    system, _ = host_health(con, now)
    return {
        "period": period_json(window, now),
        "system_health": system,
        "samples_total": averages["samples"] or 0,
        "averages": {
            key: r(averages[key], 2)
            for key in (
                "avg_cpu_percent",
                "max_cpu_percent",
                "avg_memory_percent",
                "max_memory_percent",
                "avg_disk_percent",
                "max_disk_percent",
            )
        },
        "samples": [
            {
                "timestamp": iso(s["timestamp"]),
                "host_name": s["host_name"],
                "cpu_percent": r(s["cpu_percent"], 2),
                "memory_percent": r(s["memory_percent"], 2),
                "memory_available": s["memory_available_bytes"],
                "disk_percent": r(s["disk_percent"], 2),
                "disk_free": s["disk_free_bytes"],
                "process_rss_bytes": s["process_rss_bytes"],
                "process_threads": s["process_threads"],
                "process_open_files": s["process_open_files"],
                "request_rate": r(s["request_rate"], 3),
            }
            for s in samples
        ],
    }
