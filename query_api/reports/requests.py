"""Slow requests (seed 001), the database report (seed 003) and per-user stats (seed 001).

User ids are what the store holds: keyed pseudonyms unless OTEL_PERF_USER_IDS=raw.
Statement text is normalized (literals replaced by ?), never the executed values.
"""

from __future__ import annotations

from datetime import datetime

from otel_perf.settings import Settings
from query_api import queries as Q
from query_api.params import Params
from query_api.reports import pools
from query_api.reports.common import (
    count,
    fetch_dict,
    fetch_dicts,
    fingerprint_hex,
    iso,
    lookback,
    pagination,
    period_json,
    r,
)


def slow_requests(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = lookback(params, now)
    total = con.execute(Q.SLOW_REQUESTS_COUNT, window).fetchone()[0]
    rows = fetch_dicts(
        con, Q.SLOW_REQUESTS_PAGE, {**window, "limit": params.limit, "offset": params.offset}
    )
    return {
        "period": period_json(window, now),
        "threshold_ms": settings.slow_request_ms,
        "slow_requests": [
            {
                "timestamp": iso(row["timestamp"]),
                "trace_id": row["trace_id"].hex() if row["trace_id"] else None,
                "endpoint": row["endpoint"],
                "method": row["method"],
                "path": row["path"],
                "status_code": row["status_code"],
                "duration_ms": r(row["duration_ms"]),
                "very_slow": bool(row["is_very_slow"]),
                "db_queries": row["db_count"],
                "db_time_ms": r(row["db_time_ms"]),
                "n_plus_one_count": row["n_plus_one_count"],
                "memory_delta_mb": r(row["memory_delta_mb"]),
                "user_id": row["user_id"],
                "graphql_operation_name": row["graphql_operation_name"],
            }
            for row in rows
        ],
        "pagination": pagination(total, params),
    }


def database(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = lookback(params, now, unit="minutes")
    totals = fetch_dict(con, Q.DB_TOTALS, window)
    statements = fetch_dicts(con, Q.TOP_STATEMENTS, {**window, "limit": params.limit})
    findings = fetch_dicts(con, Q.N_PLUS_ONE_FINDINGS, {**window, "limit": params.limit})
    return {
        "period": period_json(window, now),
        "total_statements": count(totals["statements"]),
        "total_time_ms": r(totals["total_ms"]),
        "slow_statements": count(totals["slow_statements"]),
        "slow_threshold_ms": settings.slow_db_ms,
        "slowest_statements": [
            {
                "fingerprint": fingerprint_hex(row["fingerprint"]),
                "statement": row["statement"],
                "db_system": row["db_system"],
                "calls": count(row["calls"]),
                "total_ms": r(row["total_ms"]),
                "avg_ms": r(row["total_ms"] / row["calls"]) if row["calls"] else None,
                "max_ms": r(row["max_ms"]),
                "slow_count": count(row["slow_count"]),
                "requests": count(row["requests"]),
                "endpoints": list(row["endpoints"] or []),
            }
            for row in statements
        ],
        "n_plus_one": [
            {
                "fingerprint": fingerprint_hex(row["fingerprint"]),
                "statement": row["statement"],
                "endpoint": row["endpoint"],
                "graphql_operation_name": row["graphql_operation_name"],
                "graphql_field_path": row["graphql_field_path"],
                "requests": count(row["requests"]),
                "max_executions": row["max_executions"],
                "total_ms": r(row["total_ms"]),
                "suggestion": row["suggestion"],
                "last_seen": iso(row["last_seen"]),
            }
            for row in findings
        ],
        "connection_pools": pools.section(con, window, params.limit),
    }


def users(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = lookback(params, now)
    totals = fetch_dict(con, Q.USER_TOTALS, window)
    rows = fetch_dicts(con, Q.USER_FIGURES, {**window, "top_n": params.top_n})
    return {
        "period": period_json(window, now),
        "user_ids": settings.user_ids,
        "total_users": totals["users"] or 0,
        "anonymous_requests": count(totals["anonymous_requests"]),
        "users": [
            {
                "user_id": row["user_id"],
                "requests": count(row["count"]),
                "avg_ms": r(row["avg_ms"]),
                "p95_ms": r(row["p95_ms"]),
                "error_rate": r(row["error_rate"], 4),
                "avg_db_queries": r(row["avg_db_queries"], 2),
                "last_seen": iso(row["last_seen"]),
            }
            for row in rows
        ],
    }
