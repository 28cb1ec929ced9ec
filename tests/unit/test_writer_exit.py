"""A process exits cleanly whatever its store writer is doing: the writer commits what is queued
when the interpreter starts to exit, and one still inside DuckDB after the wait is interrupted.

Each case is a real Python process with a real store in a temp dir; the slow case makes the
writer's attach run a long DuckDB statement on the connection being attached (as a first
attach on a slow disk, or under valgrind, takes longer than the exit's wait). Without the
interrupt that process aborts at exit (exit 134, "terminate called without an active
exception"): CPython 3.11-3.13 end a daemon thread that is inside DuckDB with pthread_exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.unit.test_writer_memory import stored_requests

ROOT = Path(__file__).resolve().parents[2]

# argv: store, "slow" or "idle". One request is submitted through the SDK as an app does;
# nothing shuts the provider or the writer down explicitly: the interpreter's exit must.
SCRIPT = r"""
import sys, threading
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from otel_perf.settings import Settings
from otel_perf.storage import engine, writer as W
from otel_perf.storage.address import parse_address
from processors.perf_processor import PerfSpanProcessor

store, mode = sys.argv[1], sys.argv[2]
attaching = threading.Event()
real_attach = engine.attach

def slow_attach(con, *args, **kwargs):
    attaching.set()
    # ten billion pairs: minutes, unless interrupted
    con.execute(
        "SELECT count(*) FROM range(100000) a, range(100000) b WHERE a.range + b.range < 0"
    ).fetchall()
    return real_attach(con, *args, **kwargs)

if mode == "slow":
    engine.attach = slow_attach
# 1 s, not the default 10: a fresh store's first attach takes about 1 s
settings = Settings(store=store, exit_wait_s=1.0 if mode == "slow" else 10.0)
writer = W.StoreWriter(parse_address(store), settings, {"service.name": "exit"})
provider = TracerProvider(shutdown_on_exit=False)
provider.add_span_processor(PerfSpanProcessor(writer, settings))
attributes = {"http.route": "books/", "http.request.method": "GET"}
with provider.get_tracer("t").start_as_current_span(
    "GET", kind=SpanKind.SERVER, attributes=attributes
):
    pass
if mode == "slow":
    assert attaching.wait(30)
print("exiting", flush=True)
"""


def run(store: str, mode: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, store, mode],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )


def test_a_process_exiting_while_its_writer_is_inside_duckdb_exits_cleanly(tmp_path):
    done = run(str(tmp_path / "store"), "slow")
    assert "exiting" in done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "terminate called" not in done.stderr
    assert "dropped 1 request(s)" in done.stderr  # what it could not store is counted
    assert "still busy 1 s into the process's exit; interrupting it" in done.stderr
    assert "did not stop" not in done.stderr
    assert "cannot use the store" not in done.stderr  # the interrupt is not a store failure


def test_the_exit_commits_what_is_queued_without_any_explicit_shutdown(tmp_path):
    store = str(tmp_path / "store")
    done = run(store, "idle")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "dropped" not in done.stderr and "still busy" not in done.stderr
    assert stored_requests(store) == 1
