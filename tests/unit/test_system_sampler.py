"""The system sampler against a real DuckLake store in a temp dir and real processes: its
psutil figures are compared with psutil read independently here, its request rate with the
rows written, and its election between two real writers on one store."""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest

from otel_perf.settings import Settings
from otel_perf.storage import open_store, parse_address
from otel_perf.storage.jobs import load_jobs
from otel_perf.storage.rows import Columns
from otel_perf.storage.writer import StoreWriter
from otel_perf.system import election_name
from otel_perf.system.sampler import SystemSampler, busy_percent, data_folder, request_window

HOST = socket.gethostname()
UTC = datetime.UTC

SPIN = "import sys\nprint('ready', flush=True)\nwhile True: pass\n"
HOLD = (
    "import sys, tempfile\n"
    "files = [tempfile.NamedTemporaryFile() for _ in range(3)]\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(UTC).replace(tzinfo=None)


def child(code: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def writer(store: str, **options) -> StoreWriter:
    settings = Settings(store=store, flush_interval_s=0.05, **options)
    w = StoreWriter(parse_address(store), settings, {"service.name": "unit"})
    assert w._open(force=True) is not None
    w._jobs = load_jobs(settings, ["otel_perf.system:jobs"])
    return w


def heartbeat(w: StoreWriter, pid: int, started_at: datetime.datetime, name: str) -> None:
    rows = Columns("service_instances")
    rows.add(
        {
            "instance_id": f"{name}/{pid}",
            "service_name": name,
            "host_name": HOST,
            "pid": pid,
            "started_at": started_at,
            "last_seen": utcnow(),
        }
    )
    w._session.insert([rows])


def lock_path(w: StoreWriter) -> str:
    return w.address.lock_file(election_name(HOST))


def lock_state(w: StoreWriter) -> tuple[float, str]:
    with open(lock_path(w)) as f:
        when, _, state = f.read().partition("\n")
    return float(when), state.strip()


def backdate(w: StoreWriter, seconds: float, state: str | None = None) -> None:
    """Pretend the last sample was ``seconds`` ago (instead of sleeping an interval)."""
    _, old = lock_state(w)
    with open(lock_path(w), "w") as f:
        f.write(f"{time.time() - seconds!r}\n{old if state is None else state}")


def query(store: str, sql: str) -> list[tuple]:
    con = open_store(parse_address(store), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def processes():
    spin, hold = child(SPIN), child(HOLD)
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    yield spin, hold, done
    for p in (spin, hold):
        p.kill()
        p.wait()


def test_samples_the_host_and_the_live_application_processes(tmp_path, processes):
    spin, hold, done = processes
    store = str(tmp_path / "store")
    w = writer(store, system_sample_interval_s=10.0)
    try:
        started = utcnow()
        heartbeat(w, spin.pid, started, "spin")
        heartbeat(w, hold.pid, started, "hold")
        heartbeat(w, done.pid, started, "done")  # exited: no row
        # This process's pid under an instance that started an hour before it: pid reuse.
        me = psutil.Process()
        reused = datetime.datetime.fromtimestamp(me.create_time() - 3600, UTC)
        heartbeat(w, os.getpid(), reused.replace(tzinfo=None), "reused")

        own = {p: psutil.Process(p) for p in (spin.pid, hold.pid)}
        for p in own.values():
            p.cpu_percent(None)
        w._run_jobs(time.monotonic())  # first sample: the sampler warms up by itself
        assert query(store, "SELECT count(*) FROM system_samples") == [(1,)]

        psutil.cpu_percent(None)
        for p in own.values():
            p.cpu_percent(None)
        time.sleep(1.0)  # CPU % is a rate: it needs real time to pass
        backdate(w, 11.0)
        w._run_jobs(time.monotonic() + 11.0)
        host_cpu = psutil.cpu_percent(None)
        cpu = {pid: p.cpu_percent(None) / psutil.cpu_count() for pid, p in own.items()}
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(store)

        samples = query(
            store,
            "SELECT host_name, cpu_percent, memory_percent, memory_available_bytes, disk_percent, "
            "disk_free_bytes, process_rss_bytes, process_threads, process_open_files, source "
            "FROM system_samples ORDER BY timestamp",
        )
        assert len(samples) == 2
        (host, s_cpu, s_mem, s_avail, s_disk, s_free, rss, threads, files, source) = samples[1]
        assert (host, source) == (HOST, "sampler")
        assert abs(s_cpu - host_cpu) <= 20.0
        assert abs(s_mem - memory.percent) <= 5.0
        assert abs(s_avail - memory.available) <= 0.05 * memory.total
        assert abs(s_disk - disk.percent) <= 1.0
        assert abs(s_free - disk.free) <= 200 * 2**20

        rows = {
            r[0]: r[1:]
            for r in query(
                store,
                "SELECT pid, service_name, service_instance, cpu_percent, rss_bytes, threads, "
                "open_files FROM process_samples WHERE timestamp = "
                "(SELECT max(timestamp) FROM process_samples)",
            )
        }
        assert set(rows) == {spin.pid, hold.pid}  # not the exited one, not the reused pid
        for pid, (name, instance, p_cpu, p_rss, p_threads, p_files) in rows.items():
            p = own[pid]
            assert instance == f"{name}/{pid}"
            assert abs(p_cpu - cpu[pid]) <= 15.0
            assert abs(p_rss - p.memory_info().rss) <= 0.1 * p.memory_info().rss
            assert p_threads == p.num_threads()
            assert p_files == len(p.open_files())
        assert rows[hold.pid][5] >= 3
        assert rows[spin.pid][2] > rows[hold.pid][2]  # the spinner burns CPU, the holder sleeps
        assert rss == rows[spin.pid][3] + rows[hold.pid][3]
        assert threads == rows[spin.pid][4] + rows[hold.pid][4]
        assert files == rows[spin.pid][5] + rows[hold.pid][5]
    finally:
        w._drop_session()


def test_request_rate_counts_the_requests_that_ended_since_the_previous_sample(tmp_path):
    store = str(tmp_path / "store")
    w = writer(store, system_sample_interval_s=60.0)
    try:
        heartbeat(w, os.getpid(), utcnow(), "unit")
        start = utcnow() - datetime.timedelta(seconds=50)
        rows = Columns("requests")
        ends = [5, 10, 20, 30, 40]  # seconds after start: inside the window
        for i, end_s in enumerate(ends):
            rows.add(
                {
                    "timestamp": start + datetime.timedelta(seconds=end_s - 1),
                    "duration_ms": 1000.0,
                    "host_name": HOST,
                    "weight": 2.0 if i == 0 else 1.0,  # weighted: sampled storage
                    "endpoint": "GET /x",
                }
            )
        rows.add(  # started in the window, ended before it: the previous sample counted it
            {
                "timestamp": start - datetime.timedelta(seconds=2),
                "duration_ms": 1500.0,
                "host_name": HOST,
                "weight": 1.0,
            }
        )
        rows.add(  # another host's request
            {
                "timestamp": start + datetime.timedelta(seconds=5),
                "duration_ms": 1.0,
                "host_name": "elsewhere",
                "weight": 1.0,
            }
        )
        w._session.insert([rows])
        # The previous sample's window ended at ``start`` (kept in the election lock).
        with open(lock_path(w), "w") as f:
            f.write(f"{time.time() - 61!r}\n{start.isoformat()}")
        w._run_jobs(time.monotonic())
        _, state = lock_state(w)
        end = datetime.datetime.fromisoformat(state)
        assert 0 < (utcnow() - end).total_seconds() < 5  # a window that closed a moment ago
        (rate,) = query(store, "SELECT request_rate FROM system_samples")[0]
        assert rate == pytest.approx(6.0 / (end - start).total_seconds())
    finally:
        w._drop_session()


def test_one_sampler_per_host_between_two_writers(tmp_path):
    store = str(tmp_path / "store")
    a = writer(store, system_sample_interval_s=30.0)
    b = writer(store, system_sample_interval_s=30.0)
    try:
        a._heartbeat()
        b._heartbeat()
        a._run_jobs(time.monotonic())
        b._run_jobs(time.monotonic())
        assert query(store, "SELECT count(*) FROM system_samples") == [(1,)]
        sampler_a = a._jobs[0].run.__self__
        sampler_b = b._jobs[0].run.__self__
        assert (sampler_a.samples, sampler_b.samples) == (1, 0)
        # Both processes are sampled by the one sampler (found from their heartbeats).
        assert query(store, "SELECT count(*) FROM process_samples") == [(2,)]
        backdate(a, 31.0)  # due again: the holder samples, the other keeps out
        b._run_jobs(time.monotonic() + 31)
        a._run_jobs(time.monotonic() + 31)
        assert (sampler_a.samples, sampler_b.samples) == (2, 0)
        backdate(a, 50.0)  # the holder stopped: the other takes over
        b._run_jobs(time.monotonic() + 60)
        assert (sampler_a.samples, sampler_b.samples) == (2, 1)
        assert query(store, "SELECT count(*) FROM system_samples") == [(3,)]
    finally:
        a._drop_session()
        b._drop_session()


def test_the_sampler_can_be_turned_off():
    assert load_jobs(Settings(system_sampler=False), ["otel_perf.system:jobs"]) == []


class _Stuck(SystemSampler):
    """psutil that does not answer (a hung mount under the data folder)."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__(timeout_s=0.2)
        self.release = release

    def read(self, folder, instances):
        self.release.wait(10)
        return super().read(folder, instances)


def test_a_psutil_reading_that_hangs_skips_samples_and_never_the_writer(tmp_path):
    store = str(tmp_path / "store")
    w = writer(store, system_sample_interval_s=1.0)
    release = threading.Event()
    sampler = _Stuck(release)
    w._jobs[0].run = sampler.run
    try:
        began = time.monotonic()
        w._run_jobs(time.monotonic())
        backdate(w, 2.0)
        w._run_jobs(time.monotonic() + 10)  # still stuck: skipped without waiting again
        assert time.monotonic() - began < 2.0
        assert (sampler.skipped, sampler.samples) == (2, 0)
        assert query(store, "SELECT count(*) FROM system_samples") == [(0,)]
        release.set()
        sampler._stuck.join(10)
        backdate(w, 2.0)
        w._run_jobs(time.monotonic() + 20)
        assert sampler.samples == 1 and w.job_errors == 0
    finally:
        release.set()
        w._drop_session()


def test_unreadable_figures_are_null_not_fatal():
    sampler = SystemSampler(warmup_s=0.05)
    missing = "/nonexistent/otel-perf-folder"
    reading = sampler.read(missing, [])
    assert reading.disk_percent is None and reading.disk_free_bytes is None
    assert reading.memory_percent is not None and sampler.unreadable == 1


def test_busy_percent_and_request_window_are_psutils_and_contiguous():
    t = psutil.cpu_times()
    later = type(t)(
        *(
            v + (3.0 if f == "user" else 1.0 if f == "idle" else 0.0)
            for f, v in zip(t._fields, t, strict=True)
        )
    )
    assert busy_percent(t, later) == pytest.approx(75.0)
    assert busy_percent(t, t) is None
    end = datetime.datetime(2026, 1, 1, 12, 0, 0)
    previous = (end - datetime.timedelta(seconds=40)).isoformat()
    assert request_window(previous, end, 15.0) == (end - datetime.timedelta(seconds=40), end)
    one = (end - datetime.timedelta(seconds=15), end)
    assert request_window("", end, 15.0) == one
    assert request_window(end.isoformat(), end, 15.0) == one  # empty window
    assert request_window("2020-01-01T00:00:00", end, 15.0) == one  # the sampler was off


def test_a_duckdb_file_store_samples_the_disk_of_its_folder(tmp_path):
    store = str(tmp_path / "one.duckdb")
    w = writer(store, system_sample_interval_s=30.0)
    try:
        w._heartbeat()
        w._run_jobs(time.monotonic())
    finally:
        w._drop_session()
    disk = psutil.disk_usage(str(tmp_path))
    ((percent, free),) = query(store, "SELECT disk_percent, disk_free_bytes FROM system_samples")
    assert abs(percent - disk.percent) <= 1.0 and abs(free - disk.free) <= 200 * 2**20
    assert query(store, "SELECT pid FROM process_samples") == [(os.getpid(),)]
    assert data_folder(parse_address(store)) == str(tmp_path)
    assert data_folder(parse_address(str(tmp_path / "lake"))) == str(tmp_path / "lake")
    remote = parse_address("ducklake:postgres:dbname=x", data_path="s3://bucket/perf")
    assert data_folder(remote) is None
