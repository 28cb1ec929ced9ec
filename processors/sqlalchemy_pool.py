"""SQLAlchemy connection-pool usage: O(1) observations on the request path, one sample per pool
per interval written by each process's store writer (``pool_samples``).

    SQLAlchemyPoolInstrumentor().instrument()   # opentelemetry-instrument does this

How pools are found without user code: the ``sqlalchemy_pool`` ``opentelemetry_instrumentor``
entry point runs before the app is imported and wraps ``Engine.__init__``, so every engine
created afterwards (``create_engine``, and the sync core of ``create_async_engine``) lands in a
weak set. An engine names its pool (its URL without credentials) and ``engine.pool`` follows
``dispose()``, which replaces the pool. Engines created before instrumentation (or pools built
without an engine) are not sampled. ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=sqlalchemy_pool``
turns it off.

What runs on the request path, per checkout, all O(1) and without I/O:
- a class-level ``checkout`` listener on ``Pool`` keeps the peak of ``pool.checkedout()``;
- a class-level ``connect`` listener counts new DBAPI connections;
- ``QueuePool._do_get`` (the only place a checkout blocks) is wrapped: when the pool is at
  its limit (checked out >= pool_size + max_overflow) the call is timed as a *wait*, and a
  ``sqlalchemy.exc.TimeoutError`` out of it counts as a *timeout* (a timed-out wait is a wait).

Only the QueuePool family (QueuePool, AsyncAdaptedQueuePool: SQLAlchemy's defaults) has a
capacity; NullPool, StaticPool and SingletonThreadPool are not sampled. With
``max_overflow=-1`` (unbounded) nothing waits and usage is null.

Sampling (``sample_pools``) runs on the writer thread: usage is the *peak* checked-out count
since the previous sample over ``pool_size + max_overflow``; waits, wait time and timeouts
are since the previous sample. The peak starts each interval at the count then checked out.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Collection

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

_logger = logging.getLogger("otel_perf")

_ATTR = "_otel_perf_pool_stats"
_engines: weakref.WeakSet = weakref.WeakSet()
_state = {"instrumented": False, "errors": 0}


class PoolStats:
    """What one pool has seen since the previous sample (the peak) or ever (the counters)."""

    __slots__ = ("peak", "checkouts", "connects", "waits", "wait_ns", "wait_max_ns", "timeouts")

    def __init__(self) -> None:
        self.peak = 0
        self.checkouts = 0
        self.connects = 0
        self.waits = 0
        self.wait_ns = 0
        self.wait_max_ns = 0
        self.timeouts = 0


# One lock for all pools: taken only by a checkout that waited (rare) and by the sampler.
_lock = threading.Lock()


def stats_of(pool) -> PoolStats:
    stats = pool.__dict__.get(_ATTR)
    if stats is None:
        # setdefault is atomic: two threads racing on a pool's first checkout share one object.
        stats = pool.__dict__.setdefault(_ATTR, PoolStats())
    return stats


def capacity(pool) -> int | None:
    """pool_size + max_overflow; None when the pool has no bound (or is not a QueuePool)."""
    max_overflow = getattr(pool, "_max_overflow", -1)
    size = pool.size() if hasattr(pool, "size") else 0
    if max_overflow < 0 or size <= 0:
        return None
    return size + max_overflow


# -- request path ---------------------------------------------------------------------------
def _on_checkout(_dbapi_connection, _record, proxy) -> None:
    try:
        pool = proxy._pool
        stats = pool.__dict__.get(_ATTR) or stats_of(pool)
        stats.checkouts += 1
        queue = pool.__dict__.get("_pool")  # QueuePool's queue; other pools have none
        if queue is not None:
            # pool.checkedout() without the queue's lock (it costs more than all the rest):
            # a momentary reading is what a peak needs.
            qsize = getattr(queue, "_qsize", None) or queue.qsize
            n = queue.maxsize - qsize() + pool._overflow
            if n > stats.peak:
                stats.peak = n
    except Exception:  # never break the host app
        _state["errors"] += 1


def _on_connect(_dbapi_connection, record) -> None:
    try:
        pool = getattr(record, "_ConnectionRecord__pool", None)
        if pool is not None:
            stats_of(pool).connects += 1
    except Exception:
        _state["errors"] += 1


def _timed_do_get(wrapped, pool, args, kwargs):
    # The common case costs two attribute reads: a pool that may still open an overflow
    # connection never blocks. Only at the limit is the queue asked whether one is idle.
    try:
        max_overflow = pool._max_overflow
        exhausted = max_overflow > -1 and pool._overflow >= max_overflow and pool._pool.qsize() == 0
    except Exception:
        _state["errors"] += 1
        exhausted = False
    if not exhausted:
        return wrapped(*args, **kwargs)
    start = time.perf_counter_ns()
    timed_out = False
    try:
        return wrapped(*args, **kwargs)
    except Exception as exc:
        timed_out = _is_pool_timeout(exc)
        raise
    finally:
        _record_wait(pool, time.perf_counter_ns() - start, timed_out)


def _is_pool_timeout(exc: BaseException) -> bool:
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return isinstance(exc, PoolTimeout)


def _record_wait(pool, waited_ns: int, timed_out: bool) -> None:
    try:
        stats = stats_of(pool)
        with _lock:
            stats.waits += 1
            stats.wait_ns += waited_ns
            if waited_ns > stats.wait_max_ns:
                stats.wait_max_ns = waited_ns
            if timed_out:
                stats.timeouts += 1
    except Exception:
        _state["errors"] += 1


def _register_engine(wrapped, engine, args, kwargs):
    result = wrapped(*args, **kwargs)
    try:
        _engines.add(engine)
    except Exception:
        _state["errors"] += 1
    return result


# -- sampling (writer thread) -------------------------------------------------------------------
def pool_name(engine) -> str:
    """The engine's URL without user, password or query (which may carry secrets)."""
    from sqlalchemy.engine import URL

    url = engine.url
    name = URL.create(url.drivername, host=url.host, port=url.port, database=url.database)
    name = name.render_as_string(hide_password=True)
    return f"{name} (async)" if getattr(engine.dialect, "is_async", False) else name


def sample_pools(engines=None) -> list[dict]:
    """One row per sampleable pool (the pool_samples columns this module owns), resetting the
    interval's peak and counters."""
    rows = []
    seen: set[int] = set()
    for engine in list(_engines if engines is None else engines):
        pool = engine.pool
        if id(pool) in seen or not hasattr(pool, "checkedout"):
            continue
        seen.add(id(pool))
        limit = capacity(pool)
        stats = stats_of(pool)
        checked_out = pool.checkedout()
        with _lock:
            peak = max(stats.peak, checked_out)
            stats.peak = checked_out
            waits, wait_ns, wait_max_ns, timeouts = (
                stats.waits,
                stats.wait_ns,
                stats.wait_max_ns,
                stats.timeouts,
            )
            stats.waits = stats.wait_ns = stats.wait_max_ns = stats.timeouts = 0
        max_overflow = getattr(pool, "_max_overflow", -1)
        rows.append(
            {
                "pool_name": pool_name(engine),
                "size": pool.size(),
                "max_overflow": max_overflow,
                "checked_out": checked_out,
                "overflow": max(pool.overflow(), 0),
                "usage": None if limit is None else peak / limit,
                "waits": waits,
                "wait_ms_total": wait_ns / 1e6,
                "wait_ms_max": wait_max_ns / 1e6,
                "timeouts": timeouts,
            }
        )
    return rows


def jobs(settings) -> list:
    """The store writer's job provider (otel_perf.storage.jobs.PROVIDERS): every process
    samples its own pools; nothing when the instrumentor did not run here."""
    from otel_perf.storage.jobs import Job

    if not _state["instrumented"]:
        return []
    return [Job("pool_samples", settings.pool_sample_interval_s, run_job)]


def run_job(ctx) -> list:
    from otel_perf.storage.rows import Columns

    columns = Columns("pool_samples")
    for row in sample_pools():
        columns.add(
            {
                **row,
                "timestamp": ctx.now,
                "host_name": ctx.host_name,
                "service_name": ctx.service_name,
                "service_instance": ctx.instance_id,
            }
        )
    return [columns]


# -- the instrumentor ---------------------------------------------------------------------------
class SQLAlchemyPoolInstrumentor(BaseInstrumentor):
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("sqlalchemy >= 1.4, < 2.1",)

    def _instrument(self, **kwargs) -> None:
        # opentelemetry-instrument checks otel-perf's requirements, not this one's: an app
        # without SQLAlchemy reaches this point and must start as usual.
        try:
            from otel_perf.settings import get_settings

            if not get_settings().enabled:
                return
            from sqlalchemy import event
            from sqlalchemy.engine.base import Engine
            from sqlalchemy.pool import Pool, QueuePool
            from wrapt import wrap_function_wrapper
        except ImportError as exc:
            _logger.debug("otel-perf: no SQLAlchemy pools to observe: %s", exc)
            return
        try:
            wrap_function_wrapper(Engine, "__init__", _register_engine)
            wrap_function_wrapper(QueuePool, "_do_get", _timed_do_get)
            event.listen(Pool, "checkout", _on_checkout)
            event.listen(Pool, "connect", _on_connect)
            _state["instrumented"] = True
        except Exception as exc:  # a SQLAlchemy that moved things: no pool figures, app fine
            _logger.warning("otel-perf: could not observe SQLAlchemy pools: %s", exc)

    def _uninstrument(self, **kwargs) -> None:
        if not _state["instrumented"]:
            return
        from opentelemetry.instrumentation.utils import unwrap
        from sqlalchemy import event
        from sqlalchemy.engine.base import Engine
        from sqlalchemy.pool import Pool, QueuePool

        unwrap(Engine, "__init__")
        unwrap(QueuePool, "_do_get")
        event.remove(Pool, "checkout", _on_checkout)
        event.remove(Pool, "connect", _on_connect)
        _state["instrumented"] = False
