"""The host sampler: psutil readings turned into ``system_samples`` and ``process_samples`` rows.

Runs as an elected job on one process's writer thread per host (``otel_perf/system``). The
store is read on the writer thread (its connection); psutil is read on a short-lived helper
thread joined with a timeout, so a psutil call that hangs (a stuck network mount under the
data folder, a process in uninterruptible sleep) costs one skipped sample, never the writer.
Whatever psutil refuses (AccessDenied, a zombie) is null in the row and counted.

CPU percentages need two readings: the sampler keeps its own host CPU times and one
``psutil.Process`` per application process across runs; when a reading has no earlier one
(the first sample, a new process) the helper thread takes the first reading, waits
``warmup_s`` and takes the second, so no stored CPU figure is psutil's meaningless first 0.0.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import threading
import time

import psutil

from otel_perf.storage.rows import Columns
from otel_perf.system import queries as Q

_logger = logging.getLogger("otel_perf")

HEARTBEAT_WINDOW = datetime.timedelta(minutes=10)  # heartbeats come every minute
LONGEST_REQUEST = datetime.timedelta(hours=1)  # the request-rate scan margin (HOST_REQUESTS)
PID_REUSE_SLACK_S = 2.0  # create_time precision; a later-born process is another process
MAX_WINDOW_INTERVALS = 10  # a gap longer than this (sampler off): rate over one interval

# What psutil may raise for one reading of a live process: the figure is unknown (null).
_UNREADABLE = (psutil.AccessDenied, psutil.ZombieProcess, OSError)


@dataclasses.dataclass
class ProcessReading:
    instance_id: str
    service_name: str | None
    pid: int
    cpu_percent: float | None  # share of the whole machine, 0-100
    rss_bytes: int | None
    threads: int | None
    open_files: int | None


@dataclasses.dataclass
class Reading:
    cpu_percent: float | None
    memory_percent: float | None
    memory_available_bytes: int | None
    disk_percent: float | None
    disk_free_bytes: int | None
    processes: list[ProcessReading]


def busy_percent(before, after) -> float | None:
    """Host CPU busy % between two ``psutil.cpu_times()`` readings (psutil's own formula:
    guest time is inside user time, iowait is idle)."""
    delta = {f: max(0.0, getattr(after, f) - getattr(before, f)) for f in after._fields}
    total = sum(delta.values()) - delta.get("guest", 0.0) - delta.get("guest_nice", 0.0)
    if total <= 0:
        return None
    busy = total - delta["idle"] - delta.get("iowait", 0.0)
    return min(100.0, max(0.0, 100.0 * busy / total))


def data_folder(address) -> str | None:
    """The local folder whose file system holds the store's data; None for object storage
    (a PostgreSQL-catalog store whose data path is a URL): no disk figures then."""
    folder = address.path if address.kind == "ducklake" else os.path.dirname(address.path)
    return None if "://" in folder else folder


def request_window(
    previous_end: str, end: datetime.datetime, interval_s: float
) -> tuple[datetime.datetime, datetime.datetime]:
    """[start, end) of the request-rate window: from where the previous sample's window ended
    (kept in the election lock, whichever process took it), so consecutive samples neither
    overlap nor leave gaps; one interval when there is no usable previous end."""
    one = end - datetime.timedelta(seconds=interval_s)
    try:
        start = datetime.datetime.fromisoformat(previous_end)
    except ValueError:
        return one, end
    if not end - datetime.timedelta(seconds=interval_s * MAX_WINDOW_INTERVALS) <= start < end:
        return one, end
    return start, end


class SystemSampler:
    def __init__(
        self, timeout_s: float = 5.0, warmup_s: float = 0.5, open_files_budget_s: float = 1.0
    ) -> None:
        self.timeout_s = timeout_s
        self.warmup_s = warmup_s
        self.open_files_budget_s = open_files_budget_s
        self._processes: dict[int, psutil.Process] = {}
        self._cpu_times = None
        self._cpu_count = psutil.cpu_count() or 1
        self._stuck: threading.Thread | None = None
        self._warned: set[str] = set()
        self.samples = 0  # rows of system_samples produced
        self.skipped = 0  # samples skipped because psutil did not answer in time
        self.unreadable = 0  # single psutil figures that were refused (null in the row)

    # -- the job -------------------------------------------------------------------------------
    def run(self, ctx) -> list[Columns]:
        settings = ctx.settings
        interval = settings.system_sample_interval_s
        # Requests reach the store up to a flush interval after they end: count a window that
        # closed a little while ago, so each sample's count is complete.
        lag = datetime.timedelta(seconds=2 * settings.flush_interval_s + 1.0)
        previous = ctx.lock.previous_state if ctx.lock is not None else ""
        start, end = request_window(previous, ctx.now - lag, interval)
        con = ctx.con
        host = ctx.host_name
        instances = [
            dict(zip(("instance_id", "service_name", "pid", "started_at"), row, strict=True))
            for row in con.execute(
                Q.HOST_INSTANCES, {"host": host, "since": ctx.now - HEARTBEAT_WINDOW}
            ).fetchall()
        ]
        requests = con.execute(
            Q.HOST_REQUESTS,
            {"host": host, "start": start, "end": end, "scan_from": start - LONGEST_REQUEST},
        ).fetchone()[0]
        reading = self._read_with_timeout(data_folder(ctx.address), instances)
        if reading is None:
            return []  # the window is not advanced: the next sample's rate covers it
        if ctx.lock is not None:
            ctx.lock.next_state = end.isoformat()
        seconds = (end - start).total_seconds()
        return self.rows(ctx, reading, float(requests) / seconds if seconds > 0 else None)

    def rows(self, ctx, reading: Reading, request_rate: float | None) -> list[Columns]:
        system = Columns("system_samples")
        processes = Columns("process_samples")
        for p in reading.processes:
            processes.add(
                {
                    "timestamp": ctx.now,
                    "host_name": ctx.host_name,
                    "service_name": p.service_name,
                    "service_instance": p.instance_id,
                    "pid": p.pid,
                    "cpu_percent": p.cpu_percent,
                    "rss_bytes": p.rss_bytes,
                    "threads": p.threads,
                    "open_files": p.open_files,
                }
            )

        def total(field: str) -> int | None:
            values = [getattr(p, field) for p in reading.processes]
            known = [v for v in values if v is not None]
            return sum(known) if known else None

        system.add(
            {
                "timestamp": ctx.now,
                "host_name": ctx.host_name,
                "cpu_percent": reading.cpu_percent,
                "memory_percent": reading.memory_percent,
                "memory_available_bytes": reading.memory_available_bytes,
                "disk_percent": reading.disk_percent,
                "disk_free_bytes": reading.disk_free_bytes,
                # The application's processes on this host, summed.
                "process_rss_bytes": total("rss_bytes"),
                "process_threads": total("threads"),
                "process_open_files": total("open_files"),
                "request_rate": request_rate,
                "source": "sampler",
            }
        )
        self.samples += 1
        return [system, processes]

    def _read_with_timeout(self, folder: str | None, instances: list[dict]) -> Reading | None:
        if self._stuck is not None:
            if self._stuck.is_alive():
                self.skipped += 1
                return None
            self._stuck = None
        box: dict = {}

        def target() -> None:
            try:
                box["reading"] = self.read(folder, instances)
            except Exception as exc:  # reported on the writer thread (the job fails, counted)
                box["error"] = exc

        thread = threading.Thread(target=target, name="otel-perf-sampler", daemon=True)
        thread.start()
        thread.join(self.timeout_s)
        if thread.is_alive():
            self._stuck = thread
            self.skipped += 1
            self._warn_once(
                "timeout",
                "otel-perf: system metrics took longer than %.1f s to read; sample skipped",
                self.timeout_s,
            )
            return None
        if "error" in box:
            raise box["error"]
        return box["reading"]

    # -- psutil (helper thread) ----------------------------------------------------------------
    def read(self, folder: str | None, instances: list[dict]) -> Reading:
        """Read the host and the live application processes (blocking; off the writer)."""
        warm_up = self._cpu_times is None
        live: list[tuple[dict, psutil.Process]] = []
        for instance in instances:
            proc, new = self._process(instance["pid"], instance["started_at"])
            if proc is not None:
                live.append((instance, proc))
                warm_up = warm_up or new
        wanted = {proc.pid for _, proc in live}
        for pid in [pid for pid in self._processes if pid not in wanted]:
            del self._processes[pid]
        if warm_up:
            if self._cpu_times is None:
                self._cpu_times = psutil.cpu_times()
            time.sleep(self.warmup_s)
        before, self._cpu_times = self._cpu_times, psutil.cpu_times()
        memory = self._call(psutil.virtual_memory)
        disk = self._call(lambda: psutil.disk_usage(folder)) if folder else None
        deadline = time.monotonic() + self.open_files_budget_s
        processes = []
        for instance, proc in live:
            reading = self._read_process(instance, proc, deadline)
            if reading is not None:
                processes.append(reading)
        return Reading(
            cpu_percent=busy_percent(before, self._cpu_times),
            memory_percent=memory.percent if memory else None,
            memory_available_bytes=memory.available if memory else None,
            disk_percent=disk.percent if disk else None,
            disk_free_bytes=disk.free if disk else None,
            processes=processes,
        )

    def _process(self, pid, started_at) -> tuple[psutil.Process | None, bool]:
        """The cached Process for ``pid`` (new: primed for cpu_percent), or None when the pid
        is dead or now belongs to a process born after the instance started (pid reuse)."""
        if pid is None:
            return None, False
        proc = self._processes.get(pid)
        try:
            if proc is not None and proc.is_running():
                return proc, False
            self._processes.pop(pid, None)
            proc = psutil.Process(pid)
            if started_at is not None:
                started = started_at.replace(tzinfo=datetime.UTC).timestamp()
                if proc.create_time() > started + PID_REUSE_SLACK_S:
                    return None, False
            proc.cpu_percent(None)
        except psutil.NoSuchProcess:
            return None, False
        except _UNREADABLE:
            self.unreadable += 1
            return None, False
        self._processes[pid] = proc
        return proc, True

    def _read_process(self, instance: dict, proc: psutil.Process, deadline: float):
        try:
            with proc.oneshot():
                cpu = self._call(lambda: proc.cpu_percent(None))
                memory = self._call(proc.memory_info)
                threads = self._call(proc.num_threads)
                # open_files walks /proc/<pid>/fd: skipped once this sample's budget is spent.
                files = (
                    self._call(lambda: len(proc.open_files()))
                    if time.monotonic() < deadline
                    else None
                )
        except psutil.NoSuchProcess:
            self._processes.pop(proc.pid, None)
            return None  # ended while being read: no row
        return ProcessReading(
            instance_id=instance["instance_id"],
            service_name=instance["service_name"],
            pid=proc.pid,
            cpu_percent=None if cpu is None else min(100.0, cpu / self._cpu_count),
            rss_bytes=memory.rss if memory else None,
            threads=threads,
            open_files=files,
        )

    def _call(self, read):
        try:
            return read()
        except psutil.NoSuchProcess:
            raise
        except _UNREADABLE as exc:
            self.unreadable += 1
            self._warn_once(type(exc).__name__, "otel-perf: a system metric is unknown: %r", exc)
            return None

    def _warn_once(self, key: str, message: str, *args) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _logger.warning(message, *args)
