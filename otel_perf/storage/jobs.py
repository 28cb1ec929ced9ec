"""Periodic background jobs that run on each process's writer thread, never on a request.

A job is a name, an interval and a function ``run(ctx) -> rows`` that returns ``Columns`` to
insert (or nothing). A job with ``elect`` set runs in one process at a time, at most once per
interval, coordinated by a :class:`MaintenanceLock` of that name (``sampler-<host>`` gives one
sampler per host; ``delivery`` one per store); without ``elect`` it runs in every process
(e.g. each process's own connection pools).

Providers are listed by dotted name in ``PROVIDERS`` so that this module imports nothing
heavy: each is ``module:function`` with ``function(settings) -> list[Job]``, called once on
the writer thread. A failing provider or job is logged once and counted; the writer goes on.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import logging
from collections.abc import Callable
from typing import Any

_logger = logging.getLogger("otel_perf")

# module:function -> list[Job]; each module owns its settings and its rows.
PROVIDERS: list[str] = [
    "otel_perf.system:jobs",
    "otel_perf.alerting.jobs:provide",
    "processors.sqlalchemy_pool:jobs",
]


@dataclasses.dataclass
class JobContext:
    con: Any  # the writer's duckdb connection (the store attached as the default database)
    settings: Any
    now: datetime.datetime  # naive UTC, like the store's timestamps
    host_name: str
    service_name: str | None
    instance_id: str
    pid: int
    address: Any  # StoreAddress
    lock: Any = None  # the MaintenanceLock for elected jobs: previous_run/state, next_state


@dataclasses.dataclass
class Job:
    name: str
    interval_s: float
    run: Callable[[JobContext], Any]  # returns an iterable of Columns, or None
    elect: str | None = None  # lock name; None: every process runs it
    next_due: float = 0.0  # monotonic time of the next check (set by the writer)
    lock: Any = None
    held: bool = True  # this process ran it last (elected jobs stay where they are)
    runs: int = 0  # completed runs in this process
    failures: int = 0  # runs that raised or could not write (logged once per job)


def load_jobs(settings, providers: list[str] | None = None) -> list[Job]:
    jobs: list[Job] = []
    for name in PROVIDERS if providers is None else providers:
        module_name, _, function = name.partition(":")
        try:
            provider = getattr(importlib.import_module(module_name), function)
            jobs.extend(provider(settings) or ())
        except Exception as exc:  # a broken provider must not stop the writer
            _logger.warning("otel-perf: background job provider %s failed: %s", name, exc)
    return jobs
