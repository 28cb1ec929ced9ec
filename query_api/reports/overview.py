"""The overview reports: summary (seeds 001/003), current metrics, health, system metrics.

Score and status follow ``health_score.py``; system health levels ``system_health.py``.
System figures come from ``system_samples`` and ``process_samples`` (the system sampler,
docs/system-metrics.md): a host counts as *live* when it sampled within the last 5 minutes;
without one, system figures are null and system health is ``unknown``.

``active_requests`` (seed 003's health) is always null: a request is stored when it ends, so
the store never holds the requests in flight; what it can say is how many ended recently
(``recent_requests``) and the request rate of the newest sample.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from otel_perf.settings import Settings
from query_api import queries as Q
from query_api import queries_system as QS
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
from query_api.reports.health_score import health_score, score_breakdown, service_status
from query_api.reports.system_health import ORDER, resource_levels, system_health, worst

RECENT = timedelta(minutes=5)
_MIB = 1024.0 * 1024.0


def open_alert_counts(con) -> dict[str, int]:
    return {row["severity"]: row["count"] for row in fetch_dicts(con, Q.OPEN_ALERT_COUNTS, {})}


def host_health(con, now: datetime) -> tuple[str, list[dict]]:
    """The worst health among hosts that sampled within the last 5 minutes, and those hosts'
    newest samples, worst first (each with its ``health`` and per-resource ``levels``)."""
    hosts = fetch_dicts(con, QS.LATEST_HOST_SAMPLES, {"since": now - RECENT})
    for h in hosts:
        h["levels"] = resource_levels(h["cpu_percent"], h["memory_percent"], h["disk_percent"])
        h["health"] = system_health(h["cpu_percent"], h["memory_percent"], h["disk_percent"])
    hosts.sort(key=lambda h: (ORDER.index(h["health"]), h["cpu_percent"] or 0), reverse=True)
    return worst(h["health"] for h in hosts), hosts


def _mb(value: float | None) -> float | None:
    return None if value is None else round(value / _MIB, 1)


def host_json(h: dict) -> dict:
    return {
        "host_name": h["host_name"],
        "sampled_at": iso(h["timestamp"]),
        "system_health": h["health"],
        "levels": h["levels"],
        "cpu_percent": r(h["cpu_percent"], 1),
        "memory_percent": r(h["memory_percent"], 1),
        "memory_available_mb": _mb(h["memory_available_bytes"]),
        "disk_percent": r(h["disk_percent"], 1),
        "disk_free_mb": _mb(h["disk_free_bytes"]),
        "process_rss_mb": _mb(h["process_rss_bytes"]),
        "process_threads": h["process_threads"],
        "process_open_files": h["process_open_files"],
        "request_rate": r(h["request_rate"], 3),
    }


def summary(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = lookback(params, now)
    figures = fetch_dict(con, Q.REQUEST_FIGURES, {**window, "method": ""})
    top = fetch_dicts(con, Q.ENDPOINT_FIGURES, {**window, "method": "", "top_n": 5})
    alerts = open_alert_counts(con)
    # Errors and latency are the period's; open alerts and resources are the state now.
    system, hosts = host_health(con, now)
    total = figures["count"] or 0
    slow_rate = (figures["slow_requests"] or 0) / total if total else None
    score = health_score(total, figures["error_rate"], slow_rate, alerts, system)
    return {
        "period": period_json(window, now),
        "health_score": score,
        "status": service_status(score),
        "score_breakdown": score_breakdown(total, figures["error_rate"], slow_rate, alerts, system),
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
        "resources": _resources(hosts),
    }


def _resources(hosts: list[dict]) -> dict:
    """The worst live host's newest figures (hosts come worst first)."""
    h = hosts[0] if hosts else {}
    return {
        "hosts": len(hosts),
        "cpu_percent": r(h.get("cpu_percent"), 1),
        "memory_percent": r(h.get("memory_percent"), 1),
        "disk_percent": r(h.get("disk_percent"), 1),
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
    """Public (load balancers poll it): no figures that identify users, endpoints, statements
    or hosts. Everything is about the last 5 minutes."""
    recent = {"start": now - RECENT, "end": now + RECENT}
    figures = fetch_dict(con, Q.REQUEST_FIGURES, {**recent, "method": ""})
    system, hosts = host_health(con, now)
    live = fetch_dict(con, QS.LIVE_COUNTS, {"since": now - RECENT})
    total = figures["count"] or 0
    slow_rate = (figures["slow_requests"] or 0) / total if total else None
    score = health_score(total, figures["error_rate"], slow_rate, open_alert_counts(con), system)
    h = hosts[0] if hosts else {}
    return {
        "status": service_status(score),
        "timestamp": iso(now),
        "checked_at": iso(now),
        "performance_score": score,
        "system_health": system,
        "system_metrics": {
            "cpu_percent": r(h.get("cpu_percent"), 1),
            "memory_percent": r(h.get("memory_percent"), 1),
            "disk_percent": r(h.get("disk_percent"), 1),
            "levels": h.get("levels", resource_levels(None, None, None)),
            "sampled_at": iso(h.get("timestamp")),
            "hosts": len(hosts),
            # In flight is not stored (requests are written when they end): unknowable here.
            "active_requests": None,
            "request_rate": r(sum(x["request_rate"] or 0 for x in hosts), 3) if hosts else None,
        },
        "instances": count(live["instances"]),
        "recent_requests": count(total),
        "recent_error_rate": r(figures["error_rate"], 4),
    }


def system_metrics(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = lookback(params, now)
    limit = settings.api_max_limit
    averages = fetch_dict(con, QS.SYSTEM_AVERAGES, window)
    samples = fetch_dicts(con, QS.SYSTEM_SAMPLES_PAGE, {**window, "limit": limit})[::-1]
    system, hosts = host_health(con, now)
    processes = fetch_dicts(con, QS.LATEST_PROCESS_SAMPLES, {"since": now - RECENT, "limit": limit})
    return {
        "period": period_json(window, now),
        "system_health": system,
        "hosts": [host_json(h) for h in hosts],
        "processes": [
            {
                "host_name": p["host_name"],
                "service_name": p["service_name"],
                "service_instance": p["service_instance"],
                "pid": p["pid"],
                "sampled_at": iso(p["timestamp"]),
                "cpu_percent": r(p["cpu_percent"], 1),
                "rss_mb": _mb(p["rss_bytes"]),
                "threads": p["threads"],
                "open_files": p["open_files"],
            }
            for p in processes
        ],
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
                "source": s["source"],
                "cpu_percent": r(s["cpu_percent"], 2),
                "memory_percent": r(s["memory_percent"], 2),
                "memory_available": s["memory_available_bytes"],
                "disk_percent": r(s["disk_percent"], 2),
                "disk_free": s["disk_free_bytes"],
                "system_health": system_health(
                    s["cpu_percent"], s["memory_percent"], s["disk_percent"]
                ),
                "process_rss_bytes": s["process_rss_bytes"],
                "process_threads": s["process_threads"],
                "process_open_files": s["process_open_files"],
                "request_rate": r(s["request_rate"], 3),
            }
            for s in samples
        ],
    }
