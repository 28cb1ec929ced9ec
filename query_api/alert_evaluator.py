"""Evaluating the alert rules against the store: observation queries in, alert versions out.

Runs in one elected process at a time (the store's ``alerts`` job lock, like maintenance), on
the store writer's background thread, every ``OTEL_PERF_ALERT_INTERVAL_S``. Each run covers
what arrived since the previous one: on DuckLake, the rows inserted between the snapshot the
previous run stopped at and the current one (exactly once, however late a worker commits);
on a plain .duckdb file, what ended since the previous run, minus a settling time.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

from otel_perf.settings import Settings
from query_api import alert_rules as R
from query_api import queries as Q
from query_api.bottlenecks import run_rules
from query_api.reports.common import fetch_dicts


@dataclasses.dataclass(frozen=True)
class Window:
    """What one run reads: a snapshot range (DuckLake) or a time range (plain file)."""

    since: datetime | None = None
    until: datetime | None = None
    from_snapshot: int | None = None
    to_snapshot: int | None = None

    @property
    def by_snapshot(self) -> bool:
        return self.to_snapshot is not None

    def empty(self) -> bool:
        if self.by_snapshot:
            return self.from_snapshot > self.to_snapshot
        return self.until <= self.since

    def parameters(self) -> dict:
        if self.by_snapshot:
            return {"from_snapshot": self.from_snapshot, "to_snapshot": self.to_snapshot}
        return {"since": self.since, "until": self.until}


def settling_time(settings: Settings) -> timedelta:
    return timedelta(seconds=max(5.0, 3 * settings.flush_interval_s))


def time_window(settings: Settings, now: datetime, previous: datetime | None) -> Window:
    until = now - settling_time(settings)
    since = (previous - settling_time(settings)) if previous else datetime(1970, 1, 1)
    return Window(since=since, until=until)


def snapshot_window(previous_snapshot: int | None, current: int) -> Window:
    """Rows inserted after the previous run's snapshot, up to the current one (inclusive)."""
    start = 0 if previous_snapshot is None else previous_snapshot + 1
    return Window(from_snapshot=start, to_snapshot=current)


def readable_window(con, previous_snapshot: int | None, current: int) -> Window | None:
    """``snapshot_window``, or None when maintenance has expired a snapshot it covers (the
    job did not run for longer than snapshots are kept; or, on a first run, the store is older
    than the snapshots it keeps): the caller then evaluates by time once, and by snapshot again
    from this run on."""
    window = snapshot_window(previous_snapshot, current)
    first, last = window.from_snapshot, window.to_snapshot
    (kept,) = con.execute(Q.SNAPSHOTS_KEPT, {"first": first, "last": last}).fetchone()
    return window if kept == max(last - first + 1, 0) else None


def open_alerts(con) -> dict[tuple[str, str], R.Alert]:
    alerts = {}
    for row in fetch_dicts(con, Q.OPEN_ALERTS, {}):
        row["details"] = json.loads(row["details"] or "{}")
        alert = R.Alert(**row)
        alerts[(alert.type, alert.subject)] = alert
    return alerts


def occurrences(con, settings: Settings, window: Window) -> list[R.Occurrence]:
    if window.empty():
        return []
    form = 1 if window.by_snapshot else 0
    base = window.parameters()
    rules = (
        (Q.OCCURRENCES_SLOW_QUERY, settings.slow_query_ms, R.slow_query),
        (Q.OCCURRENCES_HIGH_COMPLEXITY, settings.graphql_max_complexity, R.high_complexity),
        (Q.OCCURRENCES_MEMORY, settings.memory_warning_mb, R.memory_warning),
    )
    found = []
    for sql, threshold, rule in rules:
        rows = fetch_dicts(con, sql[form], {**base, "threshold": threshold})
        found += [rule(row, threshold) for row in rows]
    return found


def evaluate(
    con,
    settings: Settings,
    now: datetime,
    previous: datetime | None,
    window: Window | None = None,
    bottlenecks: bool = True,
) -> list[R.Alert]:
    """The alert versions this run adds (the caller inserts them). ``now`` is naive UTC;
    without an explicit ``window``, the time window since ``previous``. ``bottlenecks``: run
    the window rules too (the writer runs them every ``bottleneck_interval_s``; open
    bottleneck alerts simply get no occurrence from the runs in between)."""
    window = window or time_window(settings, now, previous)
    found = occurrences(con, settings, window)
    if bottlenecks:
        # Bottlenecks judge trailing windows ending a settling time ago (rows still in
        # writers' queues would make a window look emptier than it was).
        found += run_rules(con, settings, now - settling_time(settings))
    return R.evolve(open_alerts(con), found, now, timedelta(seconds=settings.alert_quiet_period_s))
