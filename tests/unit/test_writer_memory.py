"""The writer under contention and sustained load: what keeps an app worker's RSS flat.

Real DuckLake stores in temp dirs, real requests from the real processor, and a real second
process holding the SQLite catalog's write lock (locks of one process never conflict with
its own, so the conflict has to come from outside).

Why these behaviours matter for memory (duckdb 1.5.5; storage/commit_lock.py and the
writer's comments): a failed DuckLake commit leaves its rows allocated on the connection, and
closing that connection does not free it. So writers take turns to commit, keep their
connection across a conflict, and still run their periodic jobs while the queue never empties.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_perf.settings import Settings
from otel_perf.storage import commit_lock, open_store, parse_address
from otel_perf.storage import session as S
from otel_perf.storage.jobs import Job
from otel_perf.storage.writer import StoreWriter
from processors.perf_processor import PerfSpanProcessor

# Holds the catalog's write lock from another process while told to ("lock" / "unlock").
LOCKER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
for line in sys.stdin:
    con.execute("BEGIN EXCLUSIVE" if line.startswith("lock") else "ROLLBACK")
    print("ok", flush=True)
"""


class Collect:
    """The processor's sink: keeps what it submits, to hand to the writer under test."""

    def __init__(self) -> None:
        self.items: list = []

    def submit(self, item) -> None:
        self.items.append(item)

    def flush(self, timeout: float = 10.0) -> bool:
        return True

    def shutdown(self, timeout: float = 10.0) -> None:
        pass


def requests(n: int) -> list:
    sink = Collect()
    provider = TracerProvider()
    provider.add_span_processor(PerfSpanProcessor(sink, Settings()))
    tracer = provider.get_tracer("unit")
    for i in range(n):
        attributes = {"http.route": f"books/{i % 3}/", "http.request.method": "GET"}
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes=attributes):
            with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as span:
                span.set_attribute("db.statement", 'SELECT "id" FROM "book" WHERE "id" = %s')
                span.set_attribute("db.system", "sqlite")
    provider.shutdown()
    assert len(sink.items) == n
    return sink.items


def stored_requests(store: str) -> int:
    con = open_store(parse_address(store), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM requests").fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def writer(tmp_path):
    store = str(tmp_path / "store")
    w = StoreWriter(parse_address(store), Settings(store=store), {"service.name": "unit"})
    assert w._open(force=True) is not None
    w._jobs = []  # no host sampler etc.: each test sets the jobs it looks at
    yield w
    w._drop_session()


@pytest.fixture
def locker(writer):
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, writer.address.catalog_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def tell(command: str) -> None:
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ok"

    yield tell
    proc.stdin.close()
    proc.wait(10)


def test_a_commit_refused_by_a_locked_catalog_keeps_the_connection_and_stores_it_later(
    writer, locker, monkeypatch
):
    # Fewer, shorter retries than in production: the outcome is the same, the test faster.
    quick = functools.partial(S.with_retries, attempts=2, first_delay=0.01)
    monkeypatch.setattr(S, "with_retries", quick)
    items = requests(5)
    session = writer._session
    locker("lock")
    try:
        assert writer._write(items) is False
    finally:
        locker("unlock")
    assert writer.write_errors == 1
    assert writer._session is session  # not closed and reopened
    assert list(writer._queue) == items  # put back, in order, for the next cycle
    writer._cycle()
    assert not writer._queue
    assert writer._session is session
    assert (writer.requests_written, writer.requests_dropped) == (5, 0)
    writer._drop_session()
    assert stored_requests(writer.address.path) == 5


def arriving_during_commits(writer, batches: list[list]) -> list[int]:
    """Make each commit of ``writer`` see the next of ``batches`` arrive while it runs (as
    under sustained load); returns the size of every commit."""
    commits = []
    write = writer._write

    def write_while_requests_arrive(items):
        commits.append(len(items))
        ok = write(items)
        if batches:
            writer._queue.extend(batches.pop())
        return ok

    writer._write = write_while_requests_arrive
    return commits


def test_a_cycle_commits_what_was_queued_and_leaves_what_arrives_for_the_next(writer):
    """Under sustained load the queue refills while a commit runs. Draining it to empty meant
    commits back to back, each of a few requests and each paying DuckLake's fixed commit
    cost: one commit per cycle (per flush interval) instead, unless a backlog builds up."""
    commits = arriving_during_commits(writer, [requests(3) for _ in range(4)])
    writer._queue.extend(requests(3))
    writer._cycle()
    assert commits == [3] and len(writer._queue) == 3  # the arrivals wait for the next cycle
    writer._cycle()
    assert commits == [3, 3] and len(writer._queue) == 3
    writer._cycle(final=True)  # shutting down: everything goes
    assert commits == [3, 3, 3, 3, 3] and not writer._queue
    assert (writer.requests_written, writer.requests_dropped) == (15, 0)


def test_periodic_work_runs_between_the_commits_of_a_backlog(writer, monkeypatch):
    """A backlog (full batches waiting) is committed in one cycle: jobs and heartbeats must
    still run between its commits, not only once it is gone."""
    from otel_perf.storage import writer as W

    monkeypatch.setattr(W, "MAX_BATCH", 3)  # a full batch: 3 requests
    seen = []  # requests written when the job ran

    def probe(ctx):
        seen.append(writer.requests_written)

    writer._jobs = [Job("probe", 0.0, probe)]
    commits = arriving_during_commits(writer, [requests(3) for _ in range(2)])
    writer._queue.extend(requests(9))
    writer._cycle()
    # 9 queued: three commits of 3; each arrival of 3 during them is a full batch too.
    assert commits == [3, 3, 3, 3, 3] and not writer._queue
    assert writer.requests_written == 15
    assert seen[:2] == [3, 6]  # after the first commits, with requests still waiting
    writer._drop_session()
    con = open_store(writer.address, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM requests").fetchone()[0] == 15
        # The heartbeat is due on the first cycle: written after the first commit.
        assert con.execute("SELECT count(*) FROM service_instances").fetchone()[0] >= 1
    finally:
        con.close()


def test_writers_of_one_store_take_turns_to_commit(writer):
    """While another committer holds the store's commit lock, an insert waits for it instead
    of failing against the catalog (a failed DuckLake commit leaks what it carried)."""
    lock = commit_lock.path_for(writer.address)
    assert lock is not None and lock.startswith(writer.address.path)
    items = requests(3)
    done = threading.Event()

    def write() -> None:
        writer._write(items)
        done.set()

    with commit_lock.held(lock) as got:
        assert got
        thread = threading.Thread(target=write)
        thread.start()
        assert not done.wait(0.5)  # waiting for the lock, nothing committed
        assert writer.requests_written == 0
    assert done.wait(30)
    thread.join()
    assert (writer.requests_written, writer.write_errors) == (3, 0)


def test_a_holder_stuck_past_the_wait_is_not_waited_for(tmp_path):
    path = str(tmp_path / "commit.lock")
    with commit_lock.held(path) as first:
        with commit_lock.held(path, wait_s=0.05) as second:
            assert (first, second) == (True, False)
    with commit_lock.held(path, wait_s=0.05) as again:
        assert again  # released when the holder left


def test_only_a_sqlite_catalog_store_takes_the_commit_lock(tmp_path):
    assert commit_lock.path_for(parse_address(str(tmp_path / "s"))) is not None
    assert commit_lock.path_for(parse_address(str(tmp_path / "s.duckdb"))) is None


def test_the_writer_renews_its_connection_after_so_many_commits(writer, monkeypatch):
    # A DuckLake connection keeps something of every commit (writer.SESSION_COMMITS): the
    # writer closes it after that many and opens a new one, losing nothing meanwhile.
    from otel_perf.storage import writer as W

    monkeypatch.setattr(W, "SESSION_COMMITS", 2)
    writer._next_heartbeat = writer._next_alerts = float("inf")  # only the requests commit here
    first = writer._session
    sessions = []
    for batch in (requests(3), requests(4), requests(5)):
        writer._queue.extend(batch)  # as submit() does, without starting the writer's thread
        writer._cycle()
        sessions.append(writer._session)
    # After its second commit the session is closed; the third cycle opens a new one.
    assert sessions[0] is first and first.commits == 2
    assert sessions[1] is None
    assert sessions[2] is not None and sessions[2] is not first and sessions[2].commits == 1
    assert (writer.requests_written, writer.requests_dropped) == (12, 0)
    writer._drop_session()
    assert stored_requests(writer.address.path) == 12


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_with_a_writer_of_its_own(tmp_path):
    # The fork hook resets every writer in the child (submit() no longer asks for the process
    # id on each request): the parent's queue, thread and connection are not the child's.
    store = str(tmp_path / "store")
    w = StoreWriter(parse_address(store), Settings(store=store), {"service.name": "unit"})
    w._queue.append("the parent's request")
    w._thread = threading.current_thread()  # stands for the parent's writer thread
    pid = os.fork()
    if pid == 0:
        ok = not w._queue and w._thread is None and w._pid == os.getpid()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert list(w._queue) == ["the parent's request"]
