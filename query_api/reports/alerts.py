"""``action=alerts``: the alerts, newest first, with the spec's pagination.

An alert is one row per (type, subject) while its condition holds; the store keeps every
version of it (append-only) and this report shows the newest. ``timestamp`` is the last
occurrence; ``first_seen``, ``occurrences`` and ``resolved_at`` are given beside the spec's
fields. The date filter applies to the last occurrence; ``severity`` means "at least". The REST
form (``recent``) adds acknowledgement and silence (otel_perf/alerting/actions.py).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from otel_perf.alerting import actions as A
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
    """The spec's form: its fields, plus first_seen, occurrences and resolved_at (alert_json)."""
    rows, total = _page(con, params)
    return {"alerts": [alert_json(row) for row in rows], "pagination": pagination(total, params)}


def recent(con, params: Params, settings: Settings, now: datetime) -> dict:
    """The REST form: the last ``hours`` unless dates are given, each alert with whether it
    is acknowledged (and by whom, when) and until when its (type, subject) is silenced."""
    if params.start is None and params.end is None:
        params = dataclasses.replace(params, start=now - timedelta(hours=params.hours))
    rows, total = _page(con, params)
    acks, silences = _actions(con, [row["id"] for row in rows], now)
    alerts = []
    for row in rows:
        alert = alert_json(row)
        ack = acks.get(row["id"])
        until = A.silenced_until(silences, row["type"], row["subject"])
        alert["acknowledged"] = ack is not None
        alert["acknowledged_by"] = ack["actor"] if ack else None
        alert["acknowledged_at"] = iso(ack["timestamp"]) if ack else None
        alert["silenced_until"] = iso(until)
        alerts.append(alert)
    return {"alerts": alerts, "pagination": pagination(total, params)}


def _page(con, params: Params) -> tuple[list[dict], int]:
    filters = {**bounds(params), "min_severity": severity_rank(params.severity)}
    rows = fetch_dicts(
        con, Q.ALERTS_PAGE, {**filters, "limit": params.limit, "offset": params.offset}
    )
    total = rows[0]["total"] if rows else con.execute(Q.ALERTS_COUNT, filters).fetchone()[0]
    return rows, total


def _actions(con, ids: list[str], now: datetime):
    import duckdb  # already loaded by the caller's connection; never at import (fork safety)

    try:
        return A.acknowledgements(con, ids), A.active_silences(con, now)
    except duckdb.CatalogException:
        # A store no writer of schema 3 has attached yet: nothing acknowledged or silenced.
        return {}, []


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
