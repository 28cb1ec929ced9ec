"""SQLAlchemy connection pools in the database report's ``connection_pools`` section (SQL in
query_api/queries_pool.py; stats' ``connection_pool_usage`` comes from the hourly totals)."""

from __future__ import annotations

from query_api import queries_pool as Q
from query_api.reports.common import count, fetch_dicts, iso, r


def section(con, window: dict, limit: int) -> list[dict]:
    return [
        {
            "pool": row["pool_name"],
            "processes": row["processes"],
            "samples": row["samples"],
            "size": row["size"],
            "max_overflow": row["max_overflow"],
            "avg_usage": r(row["avg_usage"], 4),
            "peak_usage": r(row["peak_usage"], 4),
            "exhausted_samples": row["exhausted_samples"],
            "checked_out": row["last_checked_out"],
            "waits": count(row["waits"]),
            "avg_wait_ms": r(row["wait_ms_total"] / row["waits"]) if row["waits"] else None,
            "max_wait_ms": r(row["wait_ms_max"]),
            "timeouts": count(row["timeouts"]),
            "last_seen": iso(row["last_seen"]),
        }
        for row in fetch_dicts(con, Q.POOL_SUMMARY, {**window, "limit": limit})
    ]
