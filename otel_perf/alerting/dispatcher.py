"""Sending alert events to the handlers from background threads, never from the caller.

One *lane* per handler: its own bounded queue, daemon thread, token bucket and counters, so a
handler that is slow, down or rate limited delays nobody else. A delivery is: the rate limit
(one token per delivery, retries included), then up to ``1 + retries`` attempts with
exponential backoff between them (``backoff_s``, doubled each time, at most 60 s), retried only
when the handler says another attempt may succeed (5xx, timeout, connection error). Its final
outcome becomes one ``alert_deliveries`` row (with the number of attempts and the last error),
kept here until the writer's job takes them (``take_rows``), and one count.

Clocks are injected: ``clock`` (monotonic, for the rate limit), ``wall`` (naive UTC, for
rows) and ``sleep`` (the backoff wait; by default it wakes early on shutdown).
"""

from __future__ import annotations

import collections
import datetime
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from otel_perf.alerting.events import AlertEvent
from otel_perf.alerting.handlers import DeliveryError, Handler
from otel_perf.alerting.ratelimit import TokenBucket

_logger = logging.getLogger("otel_perf")

OUTCOMES = ("sent", "failed", "rate_limited", "silenced", "dropped")
MAX_BACKOFF_S = 60.0
MAX_ROWS = 10000  # outcome rows waiting for the writer; beyond it the oldest are dropped


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _suppressed():
    # Our own HTTP/SMTP calls must not become spans of the app being monitored.
    try:
        from opentelemetry.instrumentation.utils import suppress_instrumentation

        return suppress_instrumentation()
    except Exception:  # pragma: no cover - the instrumentation package is a dependency
        import contextlib

        return contextlib.nullcontext()


class _Lane:
    def __init__(self, dispatcher: Dispatcher, handler: Handler) -> None:
        self.dispatcher = dispatcher
        self.handler = handler
        self.bucket = TokenBucket(dispatcher.rate_limit, clock=dispatcher.clock)
        self.queue: collections.deque[AlertEvent] = collections.deque()
        self.ready = threading.Condition(threading.Lock())
        self.busy = False
        self.thread: threading.Thread | None = None
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.counts["attempts"] = 0
        self.warned = False

    def put(self, event: AlertEvent) -> bool:
        with self.ready:
            if len(self.queue) >= self.dispatcher.queue_size:
                return False
            self.queue.append(event)
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self.run, name=f"otel-perf-alerts-{self.handler.name}", daemon=True
                )
                self.thread.start()
            self.ready.notify()
        return True

    def run(self) -> None:
        stop = self.dispatcher.stopping
        while True:
            with self.ready:
                while not self.queue and not stop.is_set():
                    self.ready.wait(1.0)
                if not self.queue:
                    return  # stopping, nothing left
                event = self.queue.popleft()
                self.busy = True
            try:
                with _suppressed():
                    self.deliver(event)
            except Exception as exc:  # a handler's bug must not end the lane
                self.dispatcher.record(event, self, "failed", 0, f"internal: {exc!r}")
            finally:
                with self.ready:
                    self.busy = False
                    self.ready.notify_all()

    def deliver(self, event: AlertEvent) -> None:
        d = self.dispatcher
        if not self.bucket.take():
            d.record(event, self, "rate_limited", 0, None)
            return
        delay = d.backoff_s
        error: str | None = None
        attempt = 0
        for attempt in range(1, d.retries + 2):
            self.counts["attempts"] += 1
            try:
                self.handler.send(event)
            except DeliveryError as exc:
                error = str(exc)
                if not exc.retry or attempt > d.retries or d.stopping.is_set():
                    break
                d.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
                continue
            d.record(event, self, "sent", attempt, None)
            return
        d.record(event, self, "failed", attempt, error)
        if not self.warned:
            self.warned = True
            _logger.warning(
                "otel-perf: alert delivery to %s failed (%s); failures are counted and "
                "recorded in the alert_deliveries table",
                self.handler.name,
                error,
            )


class Dispatcher:
    def __init__(
        self,
        handlers: list[Handler],
        retries: int = 3,
        backoff_s: float = 1.0,
        rate_limit: int = 30,
        queue_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime.datetime] = utcnow,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.retries = retries
        self.backoff_s = backoff_s
        self.rate_limit = rate_limit
        self.queue_size = queue_size
        self.clock = clock
        self.wall = wall
        self.stopping = threading.Event()
        self.sleep = sleep if sleep is not None else self.stopping.wait
        self._rows: collections.deque[dict] = collections.deque()
        self._rows_lock = threading.Lock()
        self.rows_dropped = 0
        self.lanes = [_Lane(self, h) for h in handlers]

    @classmethod
    def from_settings(cls, settings, handlers: list[Handler], **kwargs) -> Dispatcher:
        s = settings
        return cls(
            handlers,
            retries=s.alert_delivery_retries,
            backoff_s=s.alert_delivery_backoff_s,
            rate_limit=s.alert_delivery_rate_limit,
            queue_size=s.alert_delivery_queue_size,
            **kwargs,
        )

    # -- called by the evaluator's thread: cheap, never blocks on a handler -----------------
    def submit(self, event: AlertEvent, silenced: bool = False) -> None:
        """Queue ``event`` for every handler whose minimum severity it reaches; a silenced one
        is only recorded (``silenced``) for those handlers."""
        for lane in self.lanes:
            if not lane.handler.accepts(event):
                continue
            if silenced:
                self.record(event, lane, "silenced", 0, None)
            elif self.stopping.is_set() or not lane.put(event):
                self.record(event, lane, "dropped", 0, "the delivery queue is full")

    def record(
        self, event: AlertEvent, lane: _Lane, outcome: str, attempts: int, error: str | None
    ) -> None:
        row = {
            "timestamp": self.wall(),
            "alert_id": event.id,
            "alert_type": event.type,
            "severity": event.severity,
            "event": event.event,
            "handler": lane.handler.name,
            "outcome": outcome,
            "attempts": attempts,
            "error": error,
        }
        with self._rows_lock:  # lanes and the evaluator's thread record concurrently
            lane.counts[outcome] += 1
            self._rows.append(row)
            while len(self._rows) > MAX_ROWS:
                self._rows.popleft()
                self.rows_dropped += 1

    def take_rows(self) -> list[dict]:
        with self._rows_lock:
            rows = list(self._rows)
            self._rows.clear()
        return rows

    def stats(self) -> dict[str, dict[str, int]]:
        return {lane.handler.name: dict(lane.counts) for lane in self.lanes}

    # -- control ------------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event has been delivered or given up; True if so."""
        deadline = time.monotonic() + timeout
        for lane in self.lanes:
            with lane.ready:
                while lane.queue or lane.busy:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    lane.ready.wait(min(remaining, 0.05))
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self.stopping.set()
        for lane in self.lanes:
            with lane.ready:
                lane.ready.notify_all()
            if lane.thread is not None:
                lane.thread.join(timeout)
