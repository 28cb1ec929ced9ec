"""The dashboard's reports: latency percentiles, request rate and error rate over time (for
every request, one endpoint or one GraphQL operation) with the slowest requests behind them,
and GraphQL operations by name with their phase breakdown.

Buckets: the smallest of 1 min, 5 min, 15 min, 1 h, 6 h, 1 day giving at most 180 points; a
bucket with no requests is listed with ``count`` 0 and null latencies so a chart shows the gap.
``rate_per_min`` is the bucket's weighted count over the bucket's length (the last bucket may
be partial). Trace ids are hex, as tracing backends (Jaeger, Tempo) show them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from otel_perf.settings import Settings
from query_api import queries_dashboard as QD
from query_api.params import Params
from query_api.reports.common import (
    EARLIEST,
    count,
    fetch_dict,
    fetch_dicts,
    iso,
    lookback,
    percent,
    period_json,
    r,
)
from query_api.reports.endpoints import endpoint_key

SLOWEST = 10
BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400)
MAX_POINTS = 180
MAX_FILLED = 500  # empty buckets are filled in up to this many points
_EPOCH = datetime(1970, 1, 1)


def _bucket(window: dict[str, datetime], now: datetime) -> int:
    """The smallest bucket giving at most 180 points: 1 min up to 3 h (an hour's range stays
    in minutes even when asked a moment late), 15 min for a day, 1 h for a week."""
    if window["start"] <= EARLIEST:
        return 3600
    span = (min(window["end"], now) - window["start"]).total_seconds()
    for size in BUCKETS_S:
        if span / size <= MAX_POINTS:
            return size
    return BUCKETS_S[-1]


def _latency(row: dict) -> dict:
    return {
        "count": count(row["count"]),
        "avg_ms": r(row["avg_ms"]),
        "p50_ms": r(row["p50_ms"]),
        "p95_ms": r(row["p95_ms"]),
        "p99_ms": r(row["p99_ms"]),
        "max_ms": r(row["max_ms"]),
        "error_rate": r(row["error_rate"], 4),
        "error_rate_percent": percent(row["error_rate"]),
    }


def _floor(value: datetime, bucket: int) -> datetime:
    seconds = int((value - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds - seconds % bucket)


def _points(rows: list[dict], window: dict, now: datetime, bucket: int) -> list[dict]:
    found = {row["bucket"]: row for row in rows}
    keys = sorted(found)
    if window["start"] > EARLIEST:
        first = _floor(window["start"], bucket)
        last = _floor(min(window["end"], now), bucket)
        if (last - first).total_seconds() / bucket < MAX_FILLED:
            keys = sorted(
                set(keys)
                | {
                    first + timedelta(seconds=bucket * i)
                    for i in range(int((last - first).total_seconds() // bucket) + 1)
                }
            )
    points = []
    for key in keys:
        row = found.get(key)
        figures = _latency(row) if row else _latency(dict.fromkeys(_COLUMNS))
        figures["rate_per_min"] = r(figures["count"] / (bucket / 60.0), 3)
        points.append({"t": iso(key), **figures})
    return points


_COLUMNS = ("count", "avg_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms", "error_rate")


def _minutes(window: dict, now: datetime, first: datetime | None) -> float | None:
    start = window["start"] if window["start"] > EARLIEST else first
    if start is None:
        return None
    minutes = (min(window["end"], now) - start).total_seconds() / 60.0
    return minutes if minutes > 0 else None


def _totals(row: dict, window: dict, now: datetime, points: list[dict]) -> dict:
    totals = _latency(row)
    first = datetime.fromisoformat(points[0]["t"][:-1]) if points else None
    minutes = _minutes(window, now, first)
    totals["rate_per_min"] = r(totals["count"] / minutes, 3) if minutes else None
    return totals


def _hex(value: bytes | None) -> str | None:
    return value.hex() if value else None


def report(con, params: Params, settings: Settings, now: datetime) -> dict:
    """Every request (``timeseries``) or one endpoint (``timeseries/GET /route``)."""
    window = lookback(params, now)
    endpoint = endpoint_key(params.path, params.method) if params.path else ""
    filters = {**window, "method": "" if endpoint else params.method or "", "endpoint": endpoint}
    bucket = _bucket(window, now)
    rows = fetch_dicts(con, QD.REQUEST_SERIES, {**filters, "bucket_s": bucket})
    points = _points(rows, window, now, bucket)
    totals = fetch_dict(con, QD.REQUEST_TOTALS, filters)
    slowest = fetch_dicts(con, QD.SLOWEST_REQUESTS, {**filters, "limit": SLOWEST})
    return {
        "period": period_json(window, now),
        "endpoint": endpoint or None,
        "method": filters["method"] or None,
        "bucket_seconds": bucket,
        "totals": _totals(totals, window, now, points),
        "points": points,
        "slowest_requests": [
            {
                "timestamp": iso(row["timestamp"]),
                "trace_id": _hex(row["trace_id"]),
                "endpoint": row["endpoint"],
                "path": row["path"],
                "status_code": row["status_code"],
                "duration_ms": r(row["duration_ms"]),
                "db_queries": row["db_count"],
                "db_time_ms": r(row["db_time_ms"]),
                "n_plus_one_count": row["n_plus_one_count"],
                "graphql_operation_name": row["graphql_operation_name"],
                "error": bool(row["error"]),
            }
            for row in slowest
        ],
    }


def operations(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = lookback(params, now)
    rows = fetch_dicts(con, QD.OPERATIONS, {**window, "top_n": params.top_n})
    return {
        "period": period_json(window, now),
        "slow_threshold_ms": settings.slow_query_ms,
        "operations": [
            {
                "operation_name": row["operation_name"],
                "operation_type": row["operation_type"],
                "count": count(row["count"]),
                "avg_ms": r(row["avg_ms"]),
                "p95_ms": r(row["p95_ms"]),
                "max_ms": r(row["max_ms"]),
                "error_rate": r(row["error_rate"], 4),
                "avg_db_queries": r(row["avg_db_queries"], 2),
                "n_plus_one_operations": count(row["n_plus_one_operations"]),
                "breakdown": {
                    "parsing_ms": r(row["parsing_ms"]),
                    "validation_ms": r(row["validation_ms"]),
                    "execution_ms": r(row["execution_ms"]),
                    "database_ms": r(row["database_ms"]),
                },
            }
            for row in rows
        ],
    }


def operation_detail(con, params: Params, settings: Settings, now: datetime) -> dict:
    """One GraphQL operation by name (``operations/BooksWithAuthors``) over time."""
    window = lookback(params, now)
    name = (params.path or "").lstrip("/")
    filters = {**window, "operation": name}
    bucket = _bucket(window, now)
    rows = fetch_dicts(con, QD.OPERATION_SERIES, {**filters, "bucket_s": bucket})
    points = _points(rows, window, now, bucket)
    totals = fetch_dict(con, QD.OPERATION_TOTALS, filters)
    slowest = fetch_dicts(con, QD.SLOWEST_OPERATIONS, {**filters, "limit": SLOWEST})
    return {
        "period": period_json(window, now),
        "operation_name": name,
        "bucket_seconds": bucket,
        "totals": _totals(totals, window, now, points),
        "points": points,
        "slowest_operations": [
            {
                "timestamp": iso(row["timestamp"]),
                "trace_id": _hex(row["trace_id"]),
                "id": format(row["span_id"], "016x") if row["span_id"] is not None else None,
                "endpoint": row["endpoint"],
                "operation_type": row["operation_type"],
                "duration_ms": r(row["duration_ms"]),
                "complexity_score": row["complexity_score"],
                "database_queries": row["database_queries"],
                "n_plus_one_count": row["n_plus_one_count"],
                "error": bool(row["error"]),
                "performance_breakdown": {
                    "parsing_ms": r(row["parsing_ms"]),
                    "validation_ms": r(row["validation_ms"]),
                    "execution_ms": r(row["execution_ms"]),
                    "database_ms": r(row["database_ms"]),
                },
            }
            for row in slowest
        ],
    }


__all__ = ["operation_detail", "operations", "report"]
