"""``action=alerts``: the alerts, newest first, with the spec's pagination.

An alert is one row per (type, subject) while its condition holds; the store keeps every
version of it (append-only) and this report shows the newest. ``timestamp`` is the last
occurrence; ``first_seen``, ``occurrences`` and ``resolved_at`` are given beside the spec's
fields. The date filter applies to the last occurrence; ``severity`` means "at least".
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from otel_perf.settings import Settings
from query_api import queries as Q
from query_api.params import Params
from query_api.reports.common import (
    SEVERITIES,
    bounds,
    fetch_dicts,
    iso,
    json_or_none,
    pagination,
)


def report(con, params: Params, settings: Settings, now: datetime) -> dict:
    filters = {**bounds(params), "min_severity": severity_rank(params.severity)}
    rows = fetch_dicts(
        con, Q.ALERTS_PAGE, {**filters, "limit": params.limit, "offset": params.offset}
    )
    total = rows[0]["total"] if rows else con.execute(Q.ALERTS_COUNT, filters).fetchone()[0]
    return {"alerts": [alert_json(row) for row in rows], "pagination": pagination(total, params)}


def recent(con, params: Params, settings: Settings, now: datetime) -> dict:
    """The REST form: the last ``hours`` unless dates are given."""
    if params.start is None and params.end is None:
        params = dataclasses.replace(params, start=now - timedelta(hours=params.hours))
    return report(con, params, settings, now)


def severity_rank(severity: str | None) -> int:
    """0 (every alert) when no severity is asked for; 1..4 for info..critical."""
    return SEVERITIES.index(severity) + 1 if severity in SEVERITIES else 0


def alert_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "type": row["type"],
        "severity": row["severity"],
        "message": row["message"],
        "details": json_or_none(row["details"]) or {},
        "timestamp": iso(row["last_seen"]),
        "resolved": bool(row["resolved"]),
        "first_seen": iso(row["first_seen"]),
        "occurrences": row["occurrences"],
        "resolved_at": iso(row["resolved_at"]),
    }
