"""Small pure helpers the reports share: bounds, timestamps, rounding, trends, pages."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from query_api.params import Params
from query_api.weighted import statement_for

# Open ends of a date filter: far enough to include every stored row.
EARLIEST = datetime(1970, 1, 1)
LATEST = datetime(9999, 1, 1)

SEVERITIES = ("info", "warning", "error", "critical")

# Glossary: the last window against the equal window before it; +-10 %; 20 samples minimum.
TREND_WINDOW = timedelta(hours=1)
TREND_THRESHOLD = 0.10
TREND_MIN_SAMPLES = 20


def bounds(params: Params) -> dict[str, datetime]:
    return {"start": params.start or EARLIEST, "end": params.end or LATEST}


def iso(value: datetime | None) -> str | None:
    """UTC timestamps as the spec writes them: ``2024-01-15T10:30:00.123Z``."""
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds") + "Z"


def r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def count(value: float | None) -> int:
    """A weighted count as a whole number (weights are 1 unless sampling is on)."""
    return 0 if value is None else int(round(float(value)))


def hit_rate(hits: float | None, misses: float | None) -> float | None:
    reads = (hits or 0) + (misses or 0)
    return None if reads == 0 else round(float(hits or 0) / reads, 4)


def trend(previous: float | None, current: float | None) -> str | None:
    """``increasing`` above +10 %, ``decreasing`` below -10 %, else ``stable``."""
    if previous is None or current is None:
        return None
    if previous == 0:
        return "increasing" if current > 0 else "stable"
    change = (current - previous) / abs(previous)
    if change > TREND_THRESHOLD:
        return "increasing"
    if change < -TREND_THRESHOLD:
        return "decreasing"
    return "stable"


def pagination(total: int, params: Params) -> dict[str, Any]:
    return {
        "total": total,
        "limit": params.limit,
        "offset": params.offset,
        "has_next": params.offset + params.limit < total,
    }


def json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


# Both run a statement's weighted twin instead when its period holds sampled rows (weighted.py).
def fetch_dict(con, sql: str, parameters: dict) -> dict[str, Any]:
    cursor = con.execute(statement_for(con, sql, parameters), parameters)
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    return dict(zip(names, row, strict=True)) if row else dict.fromkeys(names)


def fetch_dicts(con, sql: str, parameters: dict) -> list[dict[str, Any]]:
    cursor = con.execute(statement_for(con, sql, parameters), parameters)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def lookback(params: Params, now: datetime, unit: str = "hours") -> dict[str, datetime]:
    """The REST reports' period: ``start_date``/``end_date`` when given, else the last
    ``hours`` (or ``minutes``) before ``now``."""
    if params.start is not None or params.end is not None:
        return bounds(params)
    span = timedelta(minutes=params.minutes) if unit == "minutes" else timedelta(hours=params.hours)
    return {"start": now - span, "end": LATEST}


def period_json(window: dict[str, datetime], now: datetime) -> dict[str, str | None]:
    return {
        "start": iso(window["start"]) if window["start"] > EARLIEST else None,
        "end": iso(min(window["end"], now)),
    }


def percent(rate: float | None) -> float | None:
    return None if rate is None else round(float(rate) * 100.0, 2)


def fingerprint_hex(value: int | None) -> str | None:
    return None if value is None else format(value & 0xFFFFFFFFFFFFFFFF, "016x")
