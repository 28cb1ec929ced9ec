"""Evaluating the alert rules against the store: observation queries in, alert versions out.

Runs in one elected process at a time (the store's job lock, like maintenance), on the store
writer's background thread, every ``OTEL_PERF_ALERT_INTERVAL_S``. Each run covers what
ended since the previous run; ``until`` trails the clock by a settling time so rows still in
a worker's write queue are not missed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from otel_perf.settings import Settings
from query_api import alert_rules as R
from query_api import queries as Q
from query_api.reports.common import fetch_dicts


def settling_time(settings: Settings) -> timedelta:
    return timedelta(seconds=max(5.0, 3 * settings.flush_interval_s))


def open_alerts(con) -> dict[tuple[str, str], R.Alert]:
    alerts = {}
    for row in fetch_dicts(con, Q.OPEN_ALERTS, {}):
        row["details"] = json.loads(row["details"] or "{}")
        alert = R.Alert(**row)
        alerts[(alert.type, alert.subject)] = alert
    return alerts


def occurrences(con, settings: Settings, since: datetime, until: datetime) -> list[R.Occurrence]:
    window = {"since": since, "until": until}
    found = [
        R.slow_query(row, settings.slow_query_ms)
        for row in fetch_dicts(
            con, Q.OCCURRENCES_SLOW_QUERY, {**window, "threshold": settings.slow_query_ms}
        )
    ]
    found += [
        R.high_complexity(row, settings.graphql_max_complexity)
        for row in fetch_dicts(
            con,
            Q.OCCURRENCES_HIGH_COMPLEXITY,
            {**window, "threshold": settings.graphql_max_complexity},
        )
    ]
    found += [
        R.memory_warning(row, settings.memory_warning_mb)
        for row in fetch_dicts(
            con, Q.OCCURRENCES_MEMORY, {**window, "threshold": settings.memory_warning_mb}
        )
    ]
    return found


def evaluate(con, settings: Settings, now: datetime, previous: datetime | None) -> list[R.Alert]:
    """The alert versions this run adds (the caller inserts them). ``now`` is naive UTC."""
    until = now - settling_time(settings)
    since = (previous - settling_time(settings)) if previous else datetime(1970, 1, 1)
    if until <= since:
        return []
    found = occurrences(con, settings, since, until)
    return R.evolve(open_alerts(con), found, now, timedelta(seconds=settings.alert_quiet_period_s))
