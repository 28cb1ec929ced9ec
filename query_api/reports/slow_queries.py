"""``action=slow_queries``: GraphQL operations at or over ``OTEL_PERF_SLOW_QUERY_MS``.

Slowest first. ``execution_time_ms`` is the operation's whole duration (parse + validate +
execute), as in the spec's example where the breakdown's three phases add up to it;
``query_text`` has every literal value hidden and ``variables`` are redacted by key when
stored. ``id`` is the operation span's id (hex), stable and findable in a tracing backend.
"""

from __future__ import annotations

from datetime import datetime

from otel_perf.settings import Settings
from query_api import queries as Q
from query_api.params import Params
from query_api.reports.common import (
    bounds,
    count,
    fetch_dicts,
    iso,
    json_or_none,
    pagination,
    r,
)


def report(con, params: Params, settings: Settings, now: datetime) -> dict:
    filters = {**bounds(params), "slow_ms": settings.slow_query_ms}
    # The statement that reads each kind of store fastest (queries.py says why).
    ducklake = con.execute(Q.STORE_TYPE).fetchone()[0] == "ducklake"
    statement = Q.SLOW_OPERATIONS if ducklake else Q.SLOW_OPERATIONS_TWO_READS
    rows = fetch_dicts(con, statement, {**filters, "limit": params.limit, "offset": params.offset})
    summary = rows[0]  # the summary is on every row; an empty page is one row without one
    rows = [row for row in rows if row["span_id"] is not None]
    return {
        "slow_queries": [operation_json(row) for row in rows],
        "pagination": pagination(summary["rows"] or 0, params),
        "summary": {
            "avg_execution_time_ms": r(summary["avg_ms"]),
            "slowest_query_ms": r(summary["slowest_ms"]),
            "total_slow_queries": count(summary["total"]),
            "threshold_ms": settings.slow_query_ms,
        },
    }


def operation_json(row: dict) -> dict:
    return {
        "id": format(row["span_id"], "016x"),
        "operation_name": row["operation_name"],
        "operation_type": row["operation_type"],
        "query_hash": row["query_hash"],
        "execution_time_ms": r(row["duration_ms"]),
        "complexity_score": row["complexity_score"],
        "database_queries": row["database_queries"],
        "memory_usage_mb": r(row["memory_usage_mb"]),
        "cache_hits": row["cache_hits"],
        "cache_misses": row["cache_misses"],
        "timestamp": iso(row["timestamp"]),
        "query_text": row["query_text"],
        "variables": json_or_none(row["variables"]) or {},
        "performance_breakdown": {
            "parsing_ms": r(row["parsing_ms"]),
            "validation_ms": r(row["validation_ms"]),
            "execution_ms": r(row["execution_ms"]),
            "database_ms": r(row["database_ms"]),
            "cache_ms": r(row["cache_ms"]),
        },
        "error": bool(row["error"]),
        "n_plus_one_count": row["n_plus_one_count"],
        "endpoint": row["endpoint"],
    }
