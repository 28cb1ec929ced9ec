"""Background jobs on the writer thread (storage/jobs.py): two real StoreWriters on one real
DuckLake store in a temp dir, driven cycle by cycle (their threads never start)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from otel_perf.settings import Settings
from otel_perf.storage import open_store, parse_address
from otel_perf.storage.jobs import Job, load_jobs
from otel_perf.storage.rows import Columns
from otel_perf.storage.writer import StoreWriter


def writer(store: str, jobs: list[Job]) -> StoreWriter:
    w = StoreWriter(parse_address(store), Settings(store=store), {"service.name": "unit"})
    assert w._open(force=True) is not None
    w._jobs = jobs
    return w


def snapshot(window_s: float) -> Columns:
    rows = Columns("monitor_snapshots")
    rows.add({"window_s": window_s, "requests": 1})
    return rows


def stored(store: str) -> list[float]:
    con = open_store(parse_address(store), read_only=True)
    try:
        return sorted(
            r[0] for r in con.execute("SELECT window_s FROM monitor_snapshots").fetchall()
        )
    finally:
        con.close()


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / "store")


@pytest.fixture
def two():
    made = []

    def make(store, a_jobs, b_jobs):
        made.extend([writer(store, a_jobs), writer(store, b_jobs)])
        return made[-2], made[-1]

    yield make
    for w in made:
        w._drop_session()


def test_an_elected_job_runs_in_one_writer_at_a_time_and_once_per_interval(store, two):
    started, release = threading.Event(), threading.Event()
    calls = {"a": 0, "b": 0}

    def run_a(ctx):
        calls["a"] += 1
        assert ctx.lock is not None and ctx.lock.previous_run == 0.0
        started.set()
        assert release.wait(10)
        return snapshot(1.0)  # a single Columns is accepted as well as a list

    def run_b(ctx):
        calls["b"] += 1
        return [snapshot(2.0)]

    job_a = Job("elected", 3600.0, run_a, elect="unit-elected")
    job_b = Job("elected", 3600.0, run_b, elect="unit-elected")
    a, b = two(store, [job_a], [job_b])
    thread = threading.Thread(target=a._run_jobs, args=(time.monotonic(),))
    thread.start()
    assert started.wait(10)
    b._run_jobs(time.monotonic())  # while A holds the lock
    release.set()
    thread.join(10)
    assert calls == {"a": 1, "b": 0}
    assert job_a.held and not job_b.held
    # B looks again soon (a dead holder must be replaced) but the job ran within its interval.
    assert job_b.next_due - time.monotonic() <= 5.0
    b._run_jobs(time.monotonic() + 10)
    a._run_jobs(time.monotonic() + 10)
    assert calls == {"a": 1, "b": 0}
    assert stored(store) == [1.0]
    assert (job_a.runs, job_a.failures, a.job_errors, b.job_errors) == (1, 0, 0, 0)


def test_a_stale_holder_is_replaced(store, two):
    job_a = Job("elected", 60.0, lambda ctx: snapshot(1.0), elect="unit-stale")
    job_b = Job("elected", 60.0, lambda ctx: snapshot(2.0), elect="unit-stale")
    a, b = two(store, [job_a], [job_b])
    a._run_jobs(time.monotonic())
    b._run_jobs(time.monotonic())
    assert stored(store) == [1.0]
    path = a.address.lock_file("unit-stale")

    def last_run(seconds_ago: float) -> None:
        with open(path, "w") as f:
            f.write(f"{time.time() - seconds_ago!r}\n")

    last_run(80.0)  # overdue, but by less than half an interval: A keeps it
    b._run_jobs(time.monotonic() + 60)
    assert stored(store) == [1.0]
    last_run(100.0)  # A stopped running it: B takes over
    b._run_jobs(time.monotonic() + 120)
    assert stored(store) == [1.0, 2.0]
    assert job_b.held


def test_an_unelected_job_runs_in_every_writer(store, two):
    a, b = two(
        store,
        [Job("mine", 60.0, lambda ctx: snapshot(1.0))],
        [Job("mine", 60.0, lambda ctx: snapshot(2.0))],
    )
    a._run_jobs(time.monotonic())
    b._run_jobs(time.monotonic())
    assert stored(store) == [1.0, 2.0]
    a._run_jobs(time.monotonic())  # not due again before its interval
    assert stored(store) == [1.0, 2.0]


def test_a_raising_job_is_counted_and_logged_once_and_the_writer_goes_on(store, two, caplog):
    def boom(ctx):
        raise ValueError("broken job")

    broken = Job("broken", 1.0, boom)
    bad_rows = Job("bad-rows", 1.0, lambda ctx: [object()])  # not Columns: fails on insert
    after = Job("after", 1.0, lambda ctx: snapshot(3.0))
    a, _ = two(store, [broken, bad_rows, after], [])
    with caplog.at_level(logging.WARNING, logger="otel_perf"):
        a._run_jobs(time.monotonic())
        a._run_jobs(time.monotonic() + 2)
    assert (broken.failures, bad_rows.failures, after.runs) == (2, 2, 2)
    assert a.job_errors == 4 and a.stats()["job_errors"] == 4
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("otel-perf: background job broken failed: broken job") == 1
    assert sum("background job bad-rows failed" in m for m in messages) == 1
    assert stored(store) == [3.0, 3.0]
    # The writer still writes requests' neighbours: its heartbeat.
    a._heartbeat()
    con = open_store(a.address, read_only=True)
    assert con.execute("SELECT count(*) FROM service_instances").fetchone()[0] == 1
    con.close()


def test_a_broken_provider_is_skipped(caplog):
    with caplog.at_level(logging.WARNING, logger="otel_perf"):
        jobs = load_jobs(Settings(), ["no.such.module:jobs", "otel_perf.system:jobs"])
    assert [j.name for j in jobs] == ["system-sampler"]
    assert "no.such.module:jobs failed" in caplog.text
    assert load_jobs(Settings(system_sampler=False), ["otel_perf.system:jobs"]) == []
