"""The per-process background writer: a bounded queue drained into the store by one daemon thread.

Modelled on the SDK's BatchSpanProcessor: ``submit`` is a deque append (drop-and-count when
full), the thread starts lazily on the first submit *in the process that serves requests*
(gunicorn's master and runserver's reloader parent never submit, so they never open the
store), it restarts after fork, commits at least every ``flush_interval_s`` and on shutdown,
and retries lock conflicts with jitter. Anything that goes wrong with the store is logged once
as a warning and counted; the app never sees it.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import datetime
import logging
import os
import socket
import threading
import time
import uuid
import weakref
from typing import Any

from otel_perf.settings import Settings
from otel_perf.storage import flush_lock
from otel_perf.storage.address import StoreAddress
from otel_perf.storage.maintenance import MaintenanceLock
from otel_perf.storage.rows import Batch, Columns, ResourceInfo
from otel_perf.storage.sampling import StoreSampler
from processors.root_fold import fold_deferred

# duckdb is imported on the writer thread, never at import time: this module is imported by
# the configurator in every process, including gunicorn's master, and a process that imported
# duckdb before fork() aborts its forked children at exit ("terminate called without an
# active exception", measured with duckdb 1.5.5).

_logger = logging.getLogger("otel_perf")

MAX_BATCH = 20000  # rows per transaction: few, large transactions are what DuckLake likes
HEARTBEAT_S = 60.0
# DuckDB threads of the writer's connection. A commit is a few dozen small catalog
# statements: with one worker thread per core DuckDB wakes them all for each, and a commit
# of 5 requests cost 120 ms of process CPU against 71 ms with one thread (2,000 requests:
# 165 against 94 ms; same wall time; 2 cores, loaded, 2026-11-25). The writer is background
# work in the app's process: it should not take the app's cores for its maintenance either.
WRITER_THREADS = 1

# Commits after which the writer closes its connection and opens a new one. A DuckLake
# connection keeps something of every commit it makes (duckdb 1.5.5: in its object cache and
# in untagged native memory; about 35 KB per commit of 800 requests in a writer loop on
# 2026-11-25, 43 KB per commit of 10 or 50 requests on 2026-12-06; a .duckdb file's
# connection stays flat; Python's own objects stay flat; DETACH and ATTACH on the same
# connection does not free it, closing it does): an app worker grew about 1 MB a minute for
# as long as it ran. A new connection starts from nothing. Opening one costs about 0.11 s of
# process CPU (0.4 s of wall time) since the extensions' signatures are checked once per
# process (engine.py; 0.4 s and 1.0 s before), and the longest pause it causes the app's
# threads is now tens of ms instead of 120-250 ms. That made renewing three times as often
# affordable: at 43 KB a commit, a worker's malloc'ed memory saws up by about 2 MB between
# renewals instead of 6.5 (computed), renewing about every 100 s at the default flush
# interval (2 s).
SESSION_COMMITS = 50

# A process's exit waits up to ``exit_wait_s`` (OTEL_PERF_EXIT_WAIT_S, 10 s) for its writer to
# commit what is queued. A writer still busy after that (a first attach on a slow disk, a long
# maintenance step) is interrupted: its daemon thread would otherwise be inside DuckDB when the
# interpreter ends daemon threads, and CPython 3.11-3.13 end them with pthread_exit, whose
# unwinding through DuckDB's C++ frames aborts the process ("terminate called without an active
# exception", exit 134). An interrupt takes effect at DuckDB's next check, which an attach or a
# maintenance step reaches late: under valgrind, a first attach was still running 5 s after its
# interrupt. Waiting is the lesser evil (a supervisor's own timeout still applies to a slow exit).
EXIT_INTERRUPT_WAIT_S = 60.0

# Runs when the interpreter starts to exit, before daemon threads stop and before ``atexit``
# (concurrent.futures stops its workers the same way); ``atexit`` where it is missing.
_register_exit = getattr(threading, "_register_atexit", atexit.register)

_writers: weakref.WeakSet[StoreWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_writers):
        writer._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
# Only where no fork hook runs does submit() compare process ids: os.getpid() is a system
# call on current glibc, and submit() runs once per request.
_CHECK_PID = not hasattr(os, "register_at_fork")


class StoreWriter:
    # Roots reach the writer unfolded when the store is their only reader: it folds them
    # (processors.root_fold) before their rows, off the request thread.
    folds_roots = True

    def __init__(
        self, address: StoreAddress, settings: Settings, resource_attributes=None, suppress=None
    ) -> None:
        self.address = address
        self.settings = settings
        self._resource = ResourceInfo(resource_attributes or {})
        self._suppress = suppress
        self._host = socket.gethostname()
        self._lock = threading.Lock()
        self._exit_hook = False  # registered once: a forked child inherits the parent's
        self._reset_state()
        _writers.add(self)

    def _reset_state(self) -> None:
        self._pid = os.getpid()
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._idle = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._shut_down = False
        self._interrupted = False  # at exit: the thread leaves without touching the store
        self._session = None  # a StoreSession, opened on the writer thread
        self._con = None  # the connection the thread uses (or is attaching), to interrupt
        self._next_attach = 0.0
        self._attach_backoff = 1.0
        self._warned: set[str] = set()
        self._maintenance = MaintenanceLock(self.address)
        self._next_maintenance = 0.0
        self._alerts = MaintenanceLock(self.address, name="alerts")
        self._next_alerts = 0.0
        self._next_heartbeat = 0.0
        self._jobs: list | None = None  # loaded on the writer thread (storage/jobs.py)
        self._started_at = time.time()
        # One instance per process. The resource's service.instance.id is created before
        # gunicorn forks, so every worker shares it: the pid tells the workers apart.
        base = self._resource.service_instance or f"{self._host}:{uuid.uuid4().hex[:8]}"
        self._instance_id = f"{base}/{self._pid}"
        self._pending = 0  # items taken from the queue but not yet committed
        self.requests_written = 0
        self.requests_dropped = 0
        self.requests_sampled_out = 0  # OTEL_PERF_STORE_SAMPLE_RATE: not stored, by design
        self._sampler: StoreSampler | None = None
        self.write_errors = 0
        self.job_errors = 0  # background jobs (storage/jobs.py) that raised or could not write
        self.traces_evicted_source = None  # set by the pipeline to the processor

    def _reset_after_fork(self) -> None:
        # The parent's thread, connection and queue do not exist in the child.
        self._lock = threading.Lock()
        self._reset_state()

    # -- hot path ------------------------------------------------------------------------------
    def submit(self, item: Any) -> None:
        if _CHECK_PID and self._pid != os.getpid():
            self._reset_after_fork()
        queue = self._queue
        if len(queue) >= self.settings.queue_size or self._shut_down:
            self.requests_dropped += 1  # after shutdown: a request that ended during the exit
            return
        queue.append(item)
        if self._thread is None:
            self._start()
        elif len(queue) >= MAX_BATCH:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stopping:
                return
            thread = threading.Thread(target=self._run, name="otel-perf-writer", daemon=True)
            self._thread = thread
            thread.start()
            if not self._exit_hook:
                self._exit_hook = True
                with contextlib.suppress(RuntimeError):  # the interpreter is already exiting
                    _register_exit(self._stop_before_exit)

    # -- control ---------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return {
            "store": self.address.describe(),
            "queued": len(self._queue),
            "requests_written": self.requests_written,
            "requests_dropped": self.requests_dropped,
            "requests_sampled_out": self.requests_sampled_out,
            "write_errors": self.write_errors,
            "job_errors": self.job_errors,
        }

    def flush(self, timeout: float = 10.0) -> bool:
        """Commit everything submitted so far; True when it got there within ``timeout``."""
        if self._thread is None or self._pid != os.getpid():
            return not self._queue
        deadline = time.monotonic() + timeout
        with self._idle:
            self._wake.set()
            while self._queue or self._pending:
                remaining = deadline - time.monotonic()
                waiting_to_reattach = self._session is None and self._next_attach > time.monotonic()
                if remaining <= 0 or not self._thread.is_alive() or waiting_to_reattach:
                    return False
                self._idle.wait(min(remaining, 0.1))
                self._wake.set()
        return True

    def shutdown(self, timeout: float = 10.0) -> None:
        if self._pid != os.getpid() or self._shut_down:
            return
        self._shut_down = True
        self.flush(timeout)
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)
        left = len(self._queue)
        if left:
            self._queue.clear()
            self.requests_dropped += left
        if self.requests_dropped:
            _logger.warning(
                "otel-perf: this process dropped %d request(s) it could not store (%s)",
                self.requests_dropped,
                self.address.describe(),
            )

    def _stop_before_exit(self) -> None:
        """The interpreter is exiting: commit what is queued (up to ``exit_wait_s``), then
        interrupt a writer still inside DuckDB, so that no daemon thread is in there when the
        interpreter stops them (see ``EXIT_INTERRUPT_WAIT_S``). What it had not committed is
        counted as dropped."""
        if self._pid != os.getpid():
            return
        wait_s = self.settings.exit_wait_s
        self.shutdown(wait_s)
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        _logger.warning(
            "otel-perf: the store writer is still busy %.0f s into the process's exit; "
            "interrupting it (%s)",
            wait_s,
            self.address.describe(),
        )
        self._interrupted = True
        con = self._con
        if con is not None:
            with contextlib.suppress(Exception):  # closed meanwhile: nothing to interrupt
                con.interrupt()
        thread.join(EXIT_INTERRUPT_WAIT_S)
        if thread.is_alive():
            _logger.warning(
                "otel-perf: the store writer did not stop within %.0f s of its interrupt; the "
                "process may abort as it exits",
                EXIT_INTERRUPT_WAIT_S,
            )

    # -- background thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self.settings.flush_interval_s)
            self._wake.clear()
            stopping = self._stopping
            try:
                if self._suppress is not None:
                    with self._suppress():
                        self._cycle(final=stopping)
                else:
                    self._cycle(final=stopping)
            except Exception as exc:  # the thread must survive anything
                self._warn_once("cycle", "otel-perf: the store writer failed: %s", exc)
            with self._idle:
                self._idle.notify_all()
            if self._interrupted:
                self._drop_session()
                return
            if stopping:
                self._close()
                return

    def _cycle(self, final: bool = False) -> None:
        # A cycle commits what was queued when it began; what arrives meanwhile waits for the
        # next one, unless a full batch is waiting (a backlog) or this is the last cycle.
        # Draining until the queue was empty made a loaded process commit back to back: at
        # 260 requests/s, ten commits a second of a few requests each, every one paying
        # DuckLake's fixed cost (about 26 ms of CPU per commit, benchmarks/ingest.py), which
        # came to 1.2 ms of writer CPU per request.
        queue = self._queue
        budget = len(queue)
        committed = False
        while queue and (budget > 0 or len(queue) >= MAX_BATCH or final):
            if committed and not final:
                # Between the commits of a backlog: the periodic work must not wait for it
                # (in a 120 s soak of the example app, 2 workers, no heartbeat, maintenance,
                # alert or job ran while the queue never emptied).
                self._periodic(final)
            if self._open(force=final) is None:
                return  # the store is unavailable: items wait (bounded) for the next try
            written, ok = self._write_next(MAX_BATCH)
            budget -= written
            if not ok:
                return
            committed = True
        self._periodic(final)

    def _periodic(self, final: bool) -> None:
        """Heartbeat, maintenance, alerts and jobs: each only when due (cheap otherwise)."""
        now = time.monotonic()
        if self._session is not None and (now >= self._next_heartbeat or final):
            self._heartbeat()
        if self._session is not None and now >= self._next_maintenance and not final:
            # Check every minute whether it is due; the lock file says when it last ran.
            self._next_maintenance = now + min(self.settings.maintenance_interval_s, 60.0)
            self._maybe_maintain()
        if self._session is not None and now >= self._next_alerts and not final:
            self._next_alerts = now + self.settings.alert_interval_s
            self._maybe_evaluate_alerts()
        if self._session is not None and not final:
            self._run_jobs(now)
        if self._session is not None and self._session.commits >= SESSION_COMMITS and not final:
            self._drop_session()  # the next cycle opens a fresh one (SESSION_COMMITS)

    def _run_jobs(self, now: float) -> None:
        from otel_perf.storage import jobs as J

        if self._jobs is None:
            self._jobs = J.load_jobs(self.settings)
        for job in self._jobs:
            if now < job.next_due:
                continue
            job.next_due = now + job.interval_s
            if job.elect is None:
                self._job(job)
                continue
            if job.lock is None:
                job.lock = MaintenanceLock(self.address, name=job.elect)
            # The process that ran it last keeps it (a process's own readings, e.g. CPU
            # times, stay continuous); another takes over only once it is overdue by half
            # an interval, so a dead holder is replaced within 1.5 intervals.
            due = job.interval_s * (0.9 if job.held else 1.5)
            try:
                job.held = job.lock.run_if_due(due, lambda job=job: self._job(job))
            except Exception as exc:  # the election itself (file, PostgreSQL): the others go on
                job.held = False
                self._job_failed(job, exc)
            if not job.held:
                job.next_due = now + min(job.interval_s, 5.0)

    def _job(self, job) -> None:
        from otel_perf.storage import jobs as J

        ctx = J.JobContext(
            con=self._session.con,
            settings=self.settings,
            now=datetime.datetime.now(datetime.UTC).replace(tzinfo=None),
            host_name=self._resource.host_name or self._host,
            service_name=self._resource.service_name,
            instance_id=self._instance_id,
            pid=self._pid,
            address=self.address,
            lock=job.lock,
        )
        try:
            result = job.run(ctx)
            if isinstance(result, Columns):
                result = [result]
            tables = [t for t in (result or ()) if len(t)]
            if tables:
                self._session.insert(tables)
            job.runs += 1
        except Exception as exc:  # a job's bug or the store's error must never stop the writer
            self._job_failed(job, exc)

    def _job_failed(self, job, exc: BaseException) -> None:
        job.failures += 1
        self.job_errors += 1
        self._warn_once(f"job-{job.name}", "otel-perf: background job %s failed: %s", job.name, exc)

    def _open(self, force: bool = False):
        if self._session is not None:
            return self._session
        now = time.monotonic()
        if self._interrupted or (now < self._next_attach and not force):
            return None
        from otel_perf.storage import rollup, session  # imports duckdb: on this thread only

        try:
            self._session = session.StoreSession(
                self.address,
                self.settings.inline_row_limit,
                threads=WRITER_THREADS,
                on_connect=self._connected,
                thresholds=rollup.thresholds(self.settings),
            )
        except session.ERRORS as exc:
            if self._interrupted:
                return None
            self._next_attach = now + self._attach_backoff
            self._attach_backoff = min(self._attach_backoff * 2, 30.0)
            self._warn_once(
                "attach",
                "otel-perf: cannot use the store (%s); the app is unaffected, requests are "
                "kept (up to OTEL_PERF_QUEUE_SIZE) or counted as dropped until it can. "
                "Retrying in the background.",
                exc,
            )
            return None
        self._attach_backoff = 1.0
        self._next_maintenance = now + min(self.settings.maintenance_interval_s, 30.0)
        if "attach" in self._warned:
            _logger.warning("otel-perf: the store is usable again (%s)", self.address.describe())
            self._warned.discard("attach")
        return self._session

    def _write(self, items: list) -> bool:
        """Commit ``items``; False (items put back, bounded) when the store failed transiently."""
        from otel_perf.storage import session

        batch = Batch(self.settings.slow_query_ms)
        sampler = self._sampler
        if sampler is None or sampler.settings is not self.settings:  # Django's settings came
            sampler = self._sampler = StoreSampler(self.settings)
        kept = []  # a retry re-reads these only: what was sampled out is counted once
        for item in items:
            try:
                fold_deferred(item, self.settings)
                # Decided here, off the request path: the whole local trace is known.
                weight = sampler.weight(item)
                if not weight:
                    self.requests_sampled_out += 1
                    continue
                kept.append(item)
                batch.add(item, self._resource, self._host, self._instance_id, weight)
            except Exception as exc:
                self.write_errors += 1
                self.requests_dropped += 1
                self._warn_once("row", "otel-perf: could not convert a span to a row: %s", exc)
        try:
            self._session.insert(batch.tables())
        except session.ERRORS as exc:
            self.write_errors += 1
            if session.is_transient(exc):
                # The connection is kept: the transaction was rolled back, and the next one
                # reads the store afresh. Closing a DuckDB instance after a failed DuckLake
                # commit does not free it (duckdb 1.5.5: +3.5 MB of RSS per close, 40 closes
                # of a fresh session; none while the connection was kept), so reopening on
                # each conflict grew a busy worker's RSS (tests/unit/test_writer_memory.py).
                self._requeue(kept)
                self._warn_once("write", "otel-perf: the store is busy (%s); will retry", exc)
            else:
                self._drop_session()
                self.requests_dropped += len(batch.requests)
                self._warn_once(
                    "write",
                    "otel-perf: writing to the store failed (%s); %d "
                    "request(s) dropped and counted",
                    exc,
                    len(batch.requests),
                )
            return False
        self.requests_written += len(batch.requests)
        self._log_slow(batch.slow)
        return True

    def _requeue(self, items: list) -> None:
        queue = self._queue
        queue.extendleft(reversed(items))
        while len(queue) > self.settings.queue_size:
            queue.popleft()
            self.requests_dropped += 1

    def _heartbeat(self) -> None:
        from otel_perf.storage import session

        self._next_heartbeat = time.monotonic() + HEARTBEAT_S
        r = self._resource
        row = Columns("service_instances")
        source = self.traces_evicted_source
        row.add(
            {
                "instance_id": self._instance_id,
                "service_name": r.service_name,
                "service_version": r.service_version,
                "deployment_environment": r.deployment_environment,
                "host_name": r.host_name or self._host,
                "pid": self._pid,
                "started_at": int(self._started_at * 1_000_000),
                "last_seen": int(time.time() * 1_000_000),
                "requests_written": self.requests_written,
                "requests_dropped": self.requests_dropped,
                "traces_evicted": getattr(source, "traces_evicted", 0),
                "write_errors": self.write_errors,
                "requests_sampled_out": self.requests_sampled_out,
            }
        )
        try:
            self._session.insert([row])
        except session.ERRORS as exc:
            self._warn_once("heartbeat", "otel-perf: heartbeat failed: %s", exc)

    def _maybe_maintain(self) -> None:
        from otel_perf.storage import session

        try:
            maintain = self._session.maintain
            self._maintenance.run_if_due(
                self.settings.maintenance_interval_s,
                lambda: maintain(between=self._commit_waiting),
            )
        except session.ERRORS as exc:
            self._warn_once("maintenance", "otel-perf: store maintenance failed: %s", exc)

    def _commit_waiting(self) -> bool:
        """Between maintenance steps: commit what the requests queued while a step ran, so that
        none waits for the whole run (its spans held in memory meanwhile). False when the store
        failed (the maintenance stops)."""
        queue = self._queue
        budget = len(queue)  # what is there now: a busy app must not keep maintenance waiting
        while queue and budget > 0 and self._session is not None:
            written, ok = self._write_next(min(budget, MAX_BATCH))
            budget -= written
            if not ok:
                return False
        return self._session is not None

    def _write_next(self, limit: int) -> tuple[int, bool]:
        """Commit up to ``limit`` items from the head of the queue: (how many, committed)."""
        queue = self._queue
        items = []
        while queue and len(items) < limit:
            items.append(queue.popleft())
        self._pending = len(items)
        try:
            return len(items), self._write(items)
        finally:
            self._pending = 0

    def _maybe_evaluate_alerts(self) -> None:
        from otel_perf.storage import session

        try:
            self._alerts.run_if_due(self.settings.alert_interval_s, self._evaluate_unflushed)
        except session.ERRORS as exc:
            self._warn_once("alerts", "otel-perf: alert evaluation failed: %s", exc)

    def _evaluate_unflushed(self) -> None:
        # Not during another process's checkpoint: it could hide inlined rows from the
        # evaluation's reads (storage/flush_lock.py). Taken only once elected, so the
        # processes that do not evaluate never wait for a checkpoint. A checkpoint waiting
        # for this read while holding the commit lock this evaluation's commit wants is no
        # deadlock: both waits are bounded (flush_lock.FLUSH_WAIT_S, commit_lock.WAIT_S): a
        # skipped checkpoint or an unlocked commit.
        with flush_lock.reading(self.address):
            self._evaluate_alerts()

    def _evaluate_alerts(self) -> None:
        from query_api import alert_evaluator as E
        from query_api.queries import CURRENT_SNAPSHOT

        lock, con = self._alerts, self._session.con
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        # The lock file carries "<snapshot> <when the window rules last ran>" between runs,
        # whichever process runs the job.
        snapshot, _, last_rules = lock.previous_state.partition(" ")
        try:
            last_rules_at = float(last_rules)
        except ValueError:
            last_rules_at = 0.0
        bottlenecks = time.time() - last_rules_at >= self.settings.bottleneck_interval_s
        rules_at = time.time() if bottlenecks else last_rules_at
        window = None
        current = ""
        if self.address.kind == "ducklake":
            current = con.execute(CURRENT_SNAPSHOT).fetchone()[0]
            previous = int(snapshot) if snapshot.isdigit() else None
            window = E.readable_window(con, previous, current)
            if window is None:
                self._warn_once(
                    "alerts-snapshot",
                    "otel-perf: alerts evaluated by time once: snapshot %s has expired",
                    previous if previous is not None else 0,
                )
        lock.next_state = f"{current} {rules_at!r}"
        since = (
            datetime.datetime.fromtimestamp(lock.previous_run, datetime.UTC).replace(tzinfo=None)
            if lock.previous_run
            else None
        )
        versions = E.evaluate(con, self.settings, now, since, window, bottlenecks)
        if versions:
            columns = Columns("alerts")
            for alert in versions:
                columns.add(alert.row())
            self._session.insert([columns])
            from otel_perf import alerting  # opened/resolved -> handlers (never raises)

            alerting.notify(con, self.settings, versions, now)

    def _log_slow(self, rows: list[dict]) -> None:
        if not self.settings.log_slow_requests:
            return
        for row in rows:
            very = row["is_very_slow"]
            s = self.settings
            threshold = s.very_slow_request_ms if very else s.slow_request_ms
            _logger.log(
                logging.ERROR if very else logging.WARNING,
                "otel-perf: slow request %s took %.0f ms (threshold %.0f ms, %d DB queries, "
                "status %s, trace %s)",
                row["endpoint"],
                row["duration_ms"],
                threshold,
                row["db_count"] or 0,
                row["status_code"],
                row["trace_id"].hex(),
            )

    def _warn_once(self, key: str, message: str, *args) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _logger.warning(message, *args)

    def _connected(self, con) -> None:
        self._con = con

    def _drop_session(self) -> None:
        session, self._session = self._session, None
        self._con = None
        if session is not None:
            session.close()

    def _close(self) -> None:
        if self._session is not None:
            self._heartbeat()
        self._drop_session()
