"""Alert delivery: opened and resolved alerts to a webhook, Slack, e-mail and Sentry.

The alert evaluator (one elected process, on the store writer's thread) appends alert
versions to the store and then calls :func:`notify`. That tells opened alerts (an id's first
version) and resolved ones apart from mere updates, checks the silences in ``alert_actions``,
and hands each event to the process's :class:`Dispatcher`, whose per-handler threads do the
network work (timeout, retries with backoff, rate limit). Outcomes go to ``alert_deliveries``
through the writer job in :mod:`otel_perf.alerting.jobs`. Nothing here ever raises into the
writer: failures are logged once and counted. See docs/alerting.md.
"""

from __future__ import annotations

import logging
import os
import threading

from otel_perf.alerting.dispatcher import Dispatcher
from otel_perf.alerting.events import OPENED, RESOLVED, AlertEvent

_logger = logging.getLogger("otel_perf")

# Versions per id among those just inserted: an id with one version has just opened.
VERSION_COUNTS = """
SELECT id, count(*) AS versions FROM alerts WHERE list_contains($ids, id) GROUP BY id
"""

_lock = threading.Lock()
_dispatcher: Dispatcher | None = None
_built = False
_warned: set[str] = set()


def handlers_configured(settings) -> bool:
    s = settings
    return bool(
        s.alert_webhook_url
        or s.alert_slack_webhook_url
        or (s.alert_smtp_host and s.alert_smtp_to)
        or s.alert_sentry_dsn
    )


def current() -> Dispatcher | None:
    return _dispatcher


def get_dispatcher(settings) -> Dispatcher | None:
    """The process's dispatcher, built once from ``settings``; None without handlers."""
    global _dispatcher, _built
    if not _built:
        with _lock:
            if not _built:
                from otel_perf.alerting.handlers import build_handlers

                handlers = build_handlers(settings) if handlers_configured(settings) else []
                _dispatcher = Dispatcher.from_settings(settings, handlers) if handlers else None
                _built = True
    return _dispatcher


def set_dispatcher(dispatcher: Dispatcher | None) -> Dispatcher | None:
    """Install ``dispatcher`` (tests, embedding); returns the previous one."""
    global _dispatcher, _built
    with _lock:
        previous, _dispatcher, _built = _dispatcher, dispatcher, True
    return previous


def _reset_after_fork() -> None:
    # The parent's lane threads do not exist in a child: it builds its own when needed.
    global _dispatcher, _built, _lock
    _lock = threading.Lock()
    _dispatcher, _built = None, False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def events_of(con, versions) -> list[AlertEvent]:
    """Opened and resolved events among ``versions`` (already inserted); updates are not
    delivered."""
    resolved = [v for v in versions if v.resolved]
    open_ = [v for v in versions if not v.resolved]
    counts: dict[str, int] = {}
    if open_:
        ids = [v.id for v in open_]
        counts = dict(con.execute(VERSION_COUNTS, {"ids": ids}).fetchall())
    events = [AlertEvent.from_alert(v, OPENED) for v in open_ if counts.get(v.id, 1) == 1]
    return events + [AlertEvent.from_alert(v, RESOLVED) for v in resolved]


def notify(con, settings, versions, now=None) -> int:
    """Hand the opened/resolved alerts among ``versions`` to the dispatcher; the number of
    events handed over. Never raises."""
    try:
        dispatcher = get_dispatcher(settings)
        if dispatcher is None or not versions:
            return 0
        from otel_perf.alerting import actions

        events = events_of(con, versions)
        if not events:
            return 0
        at = now or max(e.at for e in events)
        silences = actions.active_silences(con, at)
        for event in events:
            silenced = actions.silenced_until(silences, event.type, event.subject) is not None
            dispatcher.submit(event, silenced=silenced)
        return len(events)
    except Exception as exc:  # delivery must never disturb the evaluator or the writer
        if "notify" not in _warned:
            _warned.add("notify")
            _logger.warning("otel-perf: alert delivery could not start: %s", exc)
        return 0


__all__ = [
    "AlertEvent",
    "Dispatcher",
    "current",
    "events_of",
    "get_dispatcher",
    "handlers_configured",
    "notify",
    "set_dispatcher",
]
