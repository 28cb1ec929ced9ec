"""The alert model, as pure functions: occurrences in, new alert versions out.

An alert is one row per (type, subject) while its condition holds. Each evaluation turns the
occurrences seen since the previous one into *versions*: a new alert when none is open for
that (type, subject), an update (more occurrences, later last_seen, worse value) when one is,
and a resolution when an open alert has had no occurrence for the quiet period. The store is
append-only; the newest version of an id is the alert. Ids are stable for an alert's life;
a condition that returns after resolution opens a new alert with a new id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

SEVERITIES = ("info", "warning", "error", "critical")


@dataclasses.dataclass(frozen=True)
class Occurrence:
    """What the store showed for one (type, subject) since the previous evaluation."""

    type: str
    subject: str
    count: int
    worst_value: float
    last_seen: datetime
    first_seen: datetime
    severity: str
    message: str
    details: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Alert:
    id: str
    type: str
    severity: str
    subject: str
    message: str
    details: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    occurrences: int
    worst_value: float
    resolved: bool
    resolved_at: datetime | None
    updated_at: datetime

    def row(self) -> dict[str, Any]:
        """The store's columns (details as JSON text)."""
        row = dataclasses.asdict(self)
        row["details"] = json.dumps(self.details, sort_keys=True, default=str)
        return row


def alert_id(type_: str, subject: str, first_seen: datetime) -> str:
    digest = hashlib.sha1(f"{type_}\n{subject}\n{first_seen.isoformat()}".encode()).hexdigest()
    return f"alert_{digest[:16]}"


def _worse(a: str, b: str) -> str:
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


def evolve(
    open_alerts: dict[tuple[str, str], Alert],
    occurrences: list[Occurrence],
    now: datetime,
    quiet_period: timedelta,
) -> list[Alert]:
    """The versions to append: new, updated and resolved alerts (nothing for the unchanged)."""
    versions: list[Alert] = []
    seen: set[tuple[str, str]] = set()
    for occ in occurrences:
        key = (occ.type, occ.subject)
        seen.add(key)
        current = open_alerts.get(key)
        if current is None:
            versions.append(
                Alert(
                    id=alert_id(occ.type, occ.subject, occ.first_seen),
                    type=occ.type,
                    severity=occ.severity,
                    subject=occ.subject,
                    message=occ.message,
                    details=occ.details,
                    first_seen=occ.first_seen,
                    last_seen=occ.last_seen,
                    occurrences=occ.count,
                    worst_value=occ.worst_value,
                    resolved=False,
                    resolved_at=None,
                    updated_at=now,
                )
            )
            continue
        worse = occ.worst_value > current.worst_value
        versions.append(
            dataclasses.replace(
                current,
                severity=_worse(current.severity, occ.severity),
                # The details describe the worst occurrence so far.
                details=occ.details if worse else current.details,
                message=occ.message if worse else current.message,
                last_seen=max(current.last_seen, occ.last_seen),
                occurrences=current.occurrences + occ.count,
                worst_value=max(current.worst_value, occ.worst_value),
                updated_at=now,
            )
        )
    for key, current in open_alerts.items():
        if key not in seen and now - current.last_seen >= quiet_period:
            versions.append(
                dataclasses.replace(current, resolved=True, resolved_at=now, updated_at=now)
            )
    return versions


# -- the spec's three rules: rows of the observation queries -> occurrences -----------------
def _occurrence(row: dict, type_: str, subject: str, severity: str, message: str, details):
    """The fields every rule takes the same way from its observation row."""
    return Occurrence(
        type=type_,
        subject=subject,
        count=row["count"],
        worst_value=row["worst"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        severity=severity,
        message=message,
        details=details,
    )


def slow_query(row: dict, threshold_ms: float) -> Occurrence:
    name = row["operation_name"]
    return _occurrence(
        row,
        "slow_query",
        row["query_hash"] or "(unparsed)",
        "warning",
        f"Query {name or '(anonymous)'} exceeded the slow threshold",
        {
            "query_time_ms": round(row["worst"], 3),
            "threshold_ms": threshold_ms,
            "operation_name": name,
            "query_hash": row["query_hash"],
        },
    )


def high_complexity(row: dict, max_complexity: int) -> Occurrence:
    name = row["operation_name"]
    return _occurrence(
        row,
        "high_complexity",
        row["query_hash"] or "(unparsed)",
        "error",
        f"Query {name or '(anonymous)'} complexity exceeded the maximum",
        {
            "complexity_score": int(row["worst"]),
            "max_complexity": max_complexity,
            "operation_name": name,
            "query_hash": row["query_hash"],
        },
    )


def memory_warning(row: dict, threshold_mb: float) -> Occurrence:
    peak = row.get("peak")
    return _occurrence(
        row,
        "memory_warning",
        row["service_instance"] or "(unknown)",
        "warning",
        "Memory usage exceeded the threshold",
        {
            "memory_usage_mb": round(row["worst"], 1),
            "threshold_mb": threshold_mb,
            "peak_memory_mb": round(peak, 1) if peak is not None else None,
            "service_instance": row["service_instance"],
        },
    )
