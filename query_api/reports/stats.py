"""``action=stats``: the spec's overview, performance metrics, complexity, DB stats, trends.

Definitions are the glossary's. Figures that cannot be known are None: averages over no
requests, the cache hit rate with no cache reads, and ``connection_pool_usage`` where no pool
is instrumented (Django's own connections have none).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from otel_perf.settings import Settings
from otel_perf.storage import rollup
from query_api import queries as Q
from query_api.params import Params
from query_api.reports.common import (
    LATEST,
    TREND_MIN_SAMPLES,
    TREND_WINDOW,
    bounds,
    count,
    fetch_dict,
    fetch_dicts,
    hit_rate,
    r,
    trend,
)

LIVE_WITHIN = timedelta(minutes=5)
# The GraphQL figures the totals statement gives as ``op_<name>`` (OPERATION_OVERVIEW's names).
OPERATION_FIGURES = ("avg_ms", "avg_complexity", "max_complexity", "high_complexity", "slow")
HOUR = timedelta(hours=1)


def report(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = bounds(params)
    thresholds = {
        "slow_ms": settings.slow_query_ms,
        "max_complexity": settings.graphql_max_complexity,
    }
    req = totals(con, window, thresholds)
    ops = {name: req[f"op_{name}"] for name in OPERATION_FIGURES}
    if not req["op_thresholds_match"]:
        # Totals counted with other thresholds (the settings changed, or processes differ):
        # the slow and high-complexity counts from the rows.
        ops = fetch_dict(con, Q.OPERATION_OVERVIEW, {**window, **thresholds})
    return {
        "overview": {
            "total_requests": count(req["total"]),
            "avg_response_time_ms": r(req["avg_ms"]),
            "slow_queries_count": count(ops["slow"]),
            "error_rate": r(req["error_rate"], 4),
            "uptime_hours": uptime_hours(con, now),
        },
        "performance_metrics": {
            "avg_query_time_ms": r(ops["avg_ms"]),
            "avg_db_time_ms": r(req["avg_db_ms"]),
            "avg_cache_time_ms": r(req["avg_cache_ms"]),
            "avg_memory_usage_mb": r(req["avg_memory_mb"]),
            "cache_hit_rate": hit_rate(req["cache_hits"], req["cache_misses"]),
        },
        "query_complexity": {
            "avg_complexity": r(ops["avg_complexity"], 2),
            "max_complexity": ops["max_complexity"],
            "high_complexity_queries": count(ops["high_complexity"]),
        },
        "database_stats": {
            "avg_queries_per_request": r(req["avg_queries"], 2),
            "slow_db_queries": count(req["slow_db"]),
            "connection_pool_usage": r(req["pool_usage"], 4) if req["pool_samples"] else None,
        },
        "recent_trends": recent_trends(con, min(params.end, now) if params.end else now),
    }


def hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def split(window: dict[str, datetime]) -> tuple[datetime, datetime, bool, bool]:
    """(a, b, first, last): the whole hours [a, b) of ``window`` that the hourly totals give,
    and whether its partial first hour [start, a) and last [b, end) must be read from rows
    (neither when it starts and ends on the hour, as "all data" does)."""
    start, end = window["start"], window["end"]
    a = hour_floor(start) if start == hour_floor(start) else hour_floor(start) + HOUR
    b = hour_floor(end)
    if b <= a:  # no whole hour inside: every row from the table
        a = b = start
    return a, b, start < a, b < end


def totals(con, window: dict[str, datetime], thresholds: dict) -> dict:
    """Stats' totals of ``window``, reading the rows of the partial hours only from the tables
    that have rows there (the totals say which). ``thresholds``: ``slow_ms``,
    ``max_complexity``."""
    a, b, first, last = split(window)
    sources = tuple(rollup.SOURCES)
    if first or last:
        end = window["end"]
        edge_hours = {
            "f1": hour_floor(window["start"]) if first else a,
            "f2": a,
            "l1": hour_floor(b),
            "l2": (hour_floor(end) + HOUR if end > hour_floor(end) else b) if last else b,
        }
        found = fetch_dict(con, Q.EDGE_ROWS, edge_hours)
        sources = tuple(table for table in sources if found[table])
    return fetch_dict(con, *totals_statement(window, thresholds, sources))


def totals_statement(
    window: dict[str, datetime], thresholds: dict, sources: tuple[str, ...] | None = None
) -> tuple[str, dict]:
    """The totals statement, reading the partial hours of ``sources`` (default: every source
    table), and its parameters."""
    a, b, first, last = split(window)
    sources = tuple(rollup.SOURCES) if sources is None else sources
    first, last = first and bool(sources), last and bool(sources)
    parameters = (
        {"a": a, "b": b}
        | ({"start": window["start"]} if first else {})
        | ({"end": window["end"]} if last else {})
        | thresholds
    )
    return Q.stats_totals(first, last, sources), parameters


def uptime_hours(con, now: datetime) -> float:
    """The longest uptime among instances that reported within the last 5 minutes."""
    rows = con.execute(Q.LIVE_INSTANCES, {"live_since": now - LIVE_WITHIN}).fetchall()
    longest = max(((now - started).total_seconds() for _, started in rows), default=0.0)
    return round(max(longest, 0.0) / 3600.0, 3)


def recent_trends(con, end: datetime) -> dict:
    """The hour before ``end`` against the hour before that."""
    end = min(end, LATEST)
    period = {"start": end - 2 * TREND_WINDOW, "middle": end - TREND_WINDOW, "end": end}
    windows = {row["current"]: row for row in fetch_dicts(con, Q.TREND_WINDOWS, period)}
    empty = {"samples": 0, "memory_samples": 0, "avg_ms": None, "error_rate": None,
             "avg_memory_mb": None}  # fmt: skip
    current, previous = windows.get(True, empty), windows.get(False, empty)
    enough = current["samples"] >= TREND_MIN_SAMPLES and previous["samples"] >= TREND_MIN_SAMPLES
    memory_enough = (current["memory_samples"] or 0) >= TREND_MIN_SAMPLES and (
        previous["memory_samples"] or 0
    ) >= TREND_MIN_SAMPLES
    return {
        "response_time_trend": trend(previous["avg_ms"], current["avg_ms"]) if enough else None,
        "error_rate_trend": trend(previous["error_rate"], current["error_rate"])
        if enough
        else None,
        "memory_usage_trend": trend(previous["avg_memory_mb"], current["avg_memory_mb"])
        if memory_enough
        else None,
    }
