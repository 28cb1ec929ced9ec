"""Per-endpoint statistics (seed 001) and one endpoint in detail with a time series (seed 003).

Durations in ms; ``error_rate`` (>= 500 or unhandled) and ``client_error_rate`` (4xx) are
fractions, with ``*_percent`` beside them for seed 003's readers; percentiles are exact.
"""

from __future__ import annotations

from datetime import datetime

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

# Time-series bucket: the smallest of these giving at most ~60 points over the period.
_BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400)


def figures(row: dict) -> dict:
    return {
        "count": count(row["count"]),
        "avg_ms": r(row["avg_ms"]),
        "min_ms": r(row["min_ms"]),
        "max_ms": r(row["max_ms"]),
        "p50_ms": r(row["p50_ms"]),
        "p95_ms": r(row["p95_ms"]),
        "p99_ms": r(row["p99_ms"]),
        "error_rate": r(row["error_rate"], 4),
        "error_rate_percent": percent(row["error_rate"]),
        "client_error_rate": r(row["client_error_rate"], 4),
        "avg_db_queries": r(row["avg_db_queries"], 2),
        "avg_db_time_ms": r(row["avg_db_time_ms"]),
        "slow_requests": count(row["slow_requests"]),
        "n_plus_one_requests": count(row["n_plus_one_requests"]),
        "cache_hit_rate": hit_rate(row["cache_hits"], row["cache_misses"]),
    }


def report(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = lookback(params, now)
    rows = fetch_dicts(
        con,
        Q.ENDPOINT_FIGURES,
        {**window, "method": params.method or "", "top_n": params.top_n},
    )
    return {
        "period": period_json(window, now),
        "endpoints": [
            {"endpoint": row["endpoint"], "method": row["method"], "route": row["route"]}
            | figures(row)
            for row in rows
        ],
    }


def endpoint_key(path: str | None, method: str | None) -> str:
    """``GET /books/`` from ``GET /books/``, ``/books/`` with method GET, or ``books/``."""
    path = (path or "").strip()
    head, _, rest = path.partition(" ")
    if rest and head.isalpha() and head.upper() == head:
        return f"{head} {rest if rest.startswith('/') else '/' + rest}"
    return f"{(method or 'GET').upper()} {path if path.startswith('/') else '/' + path}"


def bucket_seconds(window: dict[str, datetime], now: datetime) -> int:
    span = (min(window["end"], now) - window["start"]).total_seconds()
    for size in _BUCKETS_S:
        if span / size <= 60:
            return size
    return _BUCKETS_S[-1]


def detail(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = lookback(params, now)
    endpoint = endpoint_key(params.path, params.method)
    filters = {**window, "method": "", "endpoint": endpoint}
    row = fetch_dict(con, Q.ONE_ENDPOINT_FIGURES, filters)
    bucket = bucket_seconds(window, now) if window["start"].year > 1970 else 3600
    series = fetch_dicts(con, Q.ENDPOINT_TIME_SERIES, {**filters, "bucket_s": bucket})
    stats = figures(row)
    return {
        "endpoint": endpoint,
        "period": period_json(window, now),
        "total_requests": stats["count"],
        "avg_duration_ms": stats["avg_ms"],
        "p95_duration_ms": stats["p95_ms"],
        "error_rate_percent": stats["error_rate_percent"],
        "avg_queries_per_request": stats["avg_db_queries"],
        "statistics": stats,
        "bucket_seconds": bucket,
        "time_series": {
            iso(point["bucket"]): {
                "count": count(point["count"]),
                "avg_ms": r(point["avg_ms"]),
                "p95_ms": r(point["p95_ms"]),
                "error_rate": r(point["error_rate"], 4),
            }
            for point in series
        },
    }
