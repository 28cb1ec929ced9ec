"""The API's acknowledge / silence routes (``alert_*`` in query_api/routes.py).

Parameters come from the query string (the routes take no body, like ``analyze``):
``alerts/acknowledge/<id>`` and ``alerts/unacknowledge/<id>`` take ``?note=``;
``alerts/silence`` takes ``?type=`` (required), ``?subject=`` (absent: every subject), one of
``?minutes=`` / ``?hours=`` / ``?until=`` (default one hour) and ``?note=``;
``alerts/unsilence`` takes ``?type=`` and ``?subject=``; ``alerts/silences`` lists the silences
in force. Writes go through a short-lived store writer session of this process.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from otel_perf.alerting import actions as A
from query_api.envelope import ApiError, invalid_parameter
from query_api.parsing import parse_datetime, single
from query_api.reports.common import iso
from query_api.store import StoreUnavailable

DEFAULT_SILENCE = timedelta(hours=1)
MAX_SILENCE = timedelta(days=366)
MAX_TEXT = 500


def _text(query, name: str, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    raw = single(query, name)
    value = raw.strip() if raw is not None else None
    if not value:
        if required:
            raise invalid_parameter(name, raw, f"The {name} parameter is required")
        return None
    if len(value) > limit:
        raise invalid_parameter(name, raw[:50], f"The {name} parameter is too long", maximum=limit)
    return value


def _duration(query, name: str, unit: timedelta) -> timedelta | None:
    raw = single(query, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value * unit.total_seconds() <= MAX_SILENCE.total_seconds():
        raise invalid_parameter(name, raw, f"Invalid {name} parameter: expected a positive number")
    return value * unit


def silence_end(query, now: datetime) -> datetime:
    raw_until = single(query, "until")
    minutes = _duration(query, "minutes", timedelta(minutes=1))
    hours = _duration(query, "hours", timedelta(hours=1))
    if sum(x is not None for x in (raw_until, minutes, hours)) > 1:
        raise invalid_parameter("until", raw_until, "Give one of until, minutes or hours")
    if raw_until is not None:
        until = parse_datetime("until", raw_until)
        if not now < until <= now + MAX_SILENCE:
            raise invalid_parameter(
                "until", raw_until, "Invalid until parameter: it must be in the next 366 days"
            )
        return until
    return now + (minutes or hours or DEFAULT_SILENCE)


def _write(store, rows: list[dict]) -> None:
    from otel_perf.storage.session import ERRORS

    try:
        A.write_actions(store.address, rows)
    except ERRORS as exc:
        raise StoreUnavailable(f"cannot write to {store.address.describe()}: {exc}") from exc


def _alert(store, raw_id: str | None) -> dict:
    alert_id = (raw_id or "").strip().strip("/")
    if not alert_id or len(alert_id) > 100:
        raise invalid_parameter("path", raw_id, "Invalid alert id")
    with store.cursor() as cursor:
        alert = A.find_alert(cursor, alert_id)
    if alert is None:
        # 400 rather than 404: the id is a parameter like any other, and the API's documented
        # errors are the spec's.
        raise invalid_parameter("path", alert_id, "No alert has this id")
    return alert


def silence_json(s: A.Silence) -> dict:
    return {
        "type": s.alert_type,
        "subject": s.subject,
        "until": iso(s.until),
        "actor": s.actor,
        "note": s.note,
        "since": iso(s.timestamp),
    }


def handle(report: str, request, store, settings, now: datetime) -> dict:
    """The data of one alert_* route; ApiError for bad parameters, StoreUnavailable when the
    store cannot be written."""
    query, actor = request.query, request.principal.identity
    if report == "alert_silences":
        with store.cursor() as cursor:
            silences = A.active_silences(cursor, now)
        return {"silences": [silence_json(s) for s in silences]}
    if report in ("alert_acknowledge", "alert_unacknowledge"):
        alert = _alert(store, request.path)
        action = report.removeprefix("alert_")
        row = A.action_row(action, now, actor, alert_id=alert["id"], note=_text(query, "note"))
        _write(store, [row])
        return {
            "alert_id": alert["id"],
            "acknowledged": action == "acknowledge",
            "actor": actor,
            "timestamp": iso(now),
        }
    if report in ("alert_silence", "alert_unsilence"):
        alert_type = _text(query, "type", required=True, limit=100)
        subject = _text(query, "subject")
        action = report.removeprefix("alert_")
        until = silence_end(query, now) if action == "silence" else None
        note = _text(query, "note")
        row = A.action_row(action, now, actor, None, alert_type, subject, until, note)
        _write(store, [row])
        return {
            "type": alert_type,
            "subject": subject,
            "silenced": action == "silence",
            "silenced_until": iso(until),
            "actor": actor,
            "timestamp": iso(now),
        }
    raise ApiError(404, "NOT_FOUND", f"no such alert action: {report}")
