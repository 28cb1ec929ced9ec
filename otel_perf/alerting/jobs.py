"""The writer-thread job that stores delivery outcomes (registered in storage/jobs.PROVIDERS).

It runs in every process with a handler configured, and finds rows only in the process whose
dispatcher delivered something (the one elected to evaluate alerts).
"""

from __future__ import annotations

from otel_perf import alerting
from otel_perf.storage.jobs import Job, JobContext
from otel_perf.storage.rows import Columns

INTERVAL_S = 5.0


def provide(settings) -> list[Job]:
    if not alerting.handlers_configured(settings):
        return []
    return [Job("alert-deliveries", INTERVAL_S, write_deliveries)]


def write_deliveries(ctx: JobContext) -> list[Columns]:
    dispatcher = alerting.current()
    if dispatcher is None:
        return []
    columns = Columns("alert_deliveries")
    for row in dispatcher.take_rows():
        columns.add(row)
    return [columns]
