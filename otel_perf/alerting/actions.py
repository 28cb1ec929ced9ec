"""Acknowledge and silence: rows of ``alert_actions`` in, the current state out.

The table is append-only; the newest action wins: per alert id between acknowledge and
unacknowledge, per (type, subject) between silence and unsilence. A silence with a null
subject covers every subject of the type; it and a per-subject silence are separate keys (an
unsilence lifts the one it names). A silence ends by itself at ``until``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

ACTIONS = ("acknowledge", "unacknowledge", "silence", "unsilence")

# Silences in force at $now: the newest (un)silence per (type, subject), when it is a silence.
ACTIVE_SILENCES = """
SELECT alert_type, subject, until, actor, note, timestamp
FROM (
    SELECT * FROM alert_actions
    WHERE action IN ('silence', 'unsilence')
    QUALIFY row_number() OVER (PARTITION BY alert_type, subject ORDER BY timestamp DESC) = 1
)
WHERE action = 'silence' AND until > $now
ORDER BY alert_type, subject NULLS FIRST
"""

# The newest (un)acknowledge of each of $ids.
ACKNOWLEDGEMENTS = """
SELECT alert_id, action, actor, timestamp, note
FROM alert_actions
WHERE action IN ('acknowledge', 'unacknowledge') AND list_contains($ids, alert_id)
QUALIFY row_number() OVER (PARTITION BY alert_id ORDER BY timestamp DESC) = 1
"""

ALERT_BY_ID = """
SELECT id, type, subject, severity, resolved FROM alerts
WHERE id = $id
ORDER BY updated_at DESC
LIMIT 1
"""


@dataclasses.dataclass(frozen=True)
class Silence:
    alert_type: str
    subject: str | None  # None: every subject of the type
    until: datetime
    actor: str | None = None
    note: str | None = None
    timestamp: datetime | None = None

    def covers(self, alert_type: str, subject: str | None) -> bool:
        return self.alert_type == alert_type and self.subject in (None, subject)


def _dicts(cursor) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def active_silences(con, now: datetime) -> list[Silence]:
    return [Silence(**row) for row in _dicts(con.execute(ACTIVE_SILENCES, {"now": now}))]


def silenced_until(silences: Iterable[Silence], alert_type: str, subject: str | None):
    """The end of the longest silence covering (type, subject), or None."""
    ends = [s.until for s in silences if s.covers(alert_type, subject)]
    return max(ends) if ends else None


def acknowledgements(con, ids: list[str]) -> dict[str, dict]:
    """Alert id -> its newest acknowledge action (ids whose newest is an unacknowledge, or
    that were never acknowledged, are absent)."""
    if not ids:
        return {}
    rows = _dicts(con.execute(ACKNOWLEDGEMENTS, {"ids": list(ids)}))
    return {r["alert_id"]: r for r in rows if r["action"] == "acknowledge"}


def find_alert(con, alert_id: str) -> dict | None:
    rows = _dicts(con.execute(ALERT_BY_ID, {"id": alert_id}))
    return rows[0] if rows else None


def action_row(
    action: str,
    now: datetime,
    actor: str | None,
    alert_id: str | None = None,
    alert_type: str | None = None,
    subject: str | None = None,
    until: datetime | None = None,
    note: str | None = None,
) -> dict:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return {
        "timestamp": now,
        "action": action,
        "alert_id": alert_id,
        "alert_type": alert_type,
        "subject": subject,
        "until": until,
        "actor": actor,
        "note": note,
    }


def write_actions(address, rows: list[dict]) -> None:
    """Append rows to ``alert_actions`` in a short-lived writer session of this process
    (the API or the CLI); raises the store's errors (callers turn them into a 503 / exit)."""
    from otel_perf.storage import session
    from otel_perf.storage.rows import Columns

    columns = Columns("alert_actions")
    for row in rows:
        columns.add(row)
    store = session.StoreSession(address)
    try:
        store.insert([columns])
    finally:
        store.close()
