"""What is delivered: one alert at the moment it opened or resolved, and its payloads.

Pure functions from an :class:`AlertEvent` to each handler's message (generic JSON, Slack,
e-mail, Sentry), so the formats are tested without a network.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime
from typing import Any

from query_api.reports.common import iso

SEVERITIES = ("info", "warning", "error", "critical")
OPENED, RESOLVED = "opened", "resolved"

# Slack attachment colours: the seed's danger/warning idea with one colour per severity.
SLACK_COLOURS = {
    "info": "#439FE0",
    "warning": "#DAA038",
    "error": "#E01E5A",
    "critical": "#8B0000",
}
RESOLVED_COLOUR = "#2EB886"

# Sentry's levels (critical is its "fatal").
SENTRY_LEVELS = {"info": "info", "warning": "warning", "error": "error", "critical": "fatal"}


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


@dataclasses.dataclass(frozen=True)
class AlertEvent:
    """An alert version worth delivering: the ``query_api.alert_rules.Alert`` as stored, and
    whether it opened or resolved. The alert's fields read through (``event.severity``)."""

    event: str  # opened | resolved
    alert: Any  # query_api.alert_rules.Alert

    @classmethod
    def from_alert(cls, alert, event: str) -> AlertEvent:
        return cls(event=event, alert=alert)

    def __getattr__(self, name: str) -> Any:
        # Only called for names the event itself lacks: id, type, severity, subject, ...
        if name == "alert":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.alert, name)

    @property
    def at(self) -> datetime:
        """Naive UTC: when the evaluator produced the version."""
        return self.alert.updated_at

    @property
    def title(self) -> str:
        verb = "resolved" if self.event == RESOLVED else "opened"
        return f"[{self.severity.upper()}] {self.type} {verb}: {self.subject}"

    def alert_json(self) -> dict[str, Any]:
        """The alert as the REST alerts report shows it, plus subject and worst_value."""
        from query_api.reports.alerts import alert_json  # it imports this package

        row = {**self.alert.row(), "resolved": self.event == RESOLVED}
        return {**alert_json(row), "subject": self.subject, "worst_value": self.worst_value}


def webhook_payload(event: AlertEvent) -> dict[str, Any]:
    return {
        "source": "otel-perf",
        "event": event.event,
        "timestamp": iso(event.at),
        "alert": event.alert_json(),
    }


def _field(title: str, value: Any) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{title}*\n{value}"}


def slack_payload(event: AlertEvent) -> dict[str, Any]:
    """Incoming-webhook format: a fallback ``text`` and one coloured attachment holding
    blocks (the colour bar is only available on attachments)."""
    colour = RESOLVED_COLOUR if event.event == RESOLVED else SLACK_COLOURS.get(event.severity)
    fields = [
        _field("Severity", event.severity),
        _field("Type", event.type),
        _field("Subject", event.subject),
        _field("Occurrences", event.occurrences),
        _field("First seen", iso(event.first_seen)),
        _field("Last seen", iso(event.last_seen)),
    ]
    details = ", ".join(f"{k}={v}" for k, v in sorted(event.details.items()) if v is not None)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": event.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": event.message}, "fields": fields},
    ]
    if details:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": details}]})
    return {
        "text": f"{event.title} — {event.message}",
        "attachments": [{"color": colour, "fallback": event.title, "blocks": blocks}],
    }


def email_subject(event: AlertEvent) -> str:
    return f"otel-perf alert {event.title}"


def email_body(event: AlertEvent) -> str:
    lines = [
        event.message,
        "",
        f"Event:       {event.event}",
        f"Alert id:    {event.id}",
        f"Type:        {event.type}",
        f"Severity:    {event.severity}",
        f"Subject:     {event.subject}",
        f"Occurrences: {event.occurrences}",
        f"First seen:  {iso(event.first_seen)}",
        f"Last seen:   {iso(event.last_seen)}",
    ]
    if event.resolved_at is not None:
        lines.append(f"Resolved at: {iso(event.resolved_at)}")
    lines += ["", "Details:", json.dumps(event.details, indent=2, sort_keys=True, default=str)]
    return "\n".join(lines) + "\n"


def sentry_event(event: AlertEvent, server_name: str | None = None) -> dict[str, Any]:
    """A Sentry message event. Alerts of one (type, subject) and event group together."""
    level = "info" if event.event == RESOLVED else SENTRY_LEVELS.get(event.severity, "warning")
    return {
        "event_id": uuid.uuid4().hex,
        "timestamp": iso(event.at),
        "platform": "python",
        "level": level,
        "logger": "otel_perf.alerts",
        "server_name": server_name,
        "message": {"formatted": f"{event.title} — {event.message}"},
        "fingerprint": ["otel-perf", event.type, event.subject, event.event],
        "tags": {
            "alert.type": event.type,
            "alert.severity": event.severity,
            "alert.event": event.event,
            "alert.id": event.id,
        },
        "extra": {"alert": event.alert_json()},
    }
