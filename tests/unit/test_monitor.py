"""The monitor's data (a pure function of the store) against figures computed here with numpy,
and its loop with an injected clock (no sleeping), writing --save rows to a real store."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import numpy as np
import pytest
from rich.console import Console

from otel_perf.commands.monitor import run_monitor, snapshot, snapshot_row
from otel_perf.settings import Settings
from otel_perf.storage import open_store, parse_address
from otel_perf.storage.rows import Columns
from otel_perf.storage.session import StoreSession
from tests.unit.test_retention import row_for

NOW = datetime(2026, 3, 1, 12, 0, 0)
DURATIONS = [12.0, 15.0, 20.0, 35.0, 50.0, 80.0, 120.0, 300.0, 700.0, 1500.0]
STATUSES = [200, 200, 200, 200, 500, 200, 404, 200, 503, 200]


def fill(store: str, now: datetime = NOW) -> None:
    requests, alerts, system = Columns("requests"), Columns("alerts"), Columns("system_samples")
    for i, (ms, status) in enumerate(zip(DURATIONS, STATUSES, strict=True)):
        endpoint = "GET /books/" if i % 3 else "POST /orders/"
        requests.add(
            {
                **row_for("requests", now - timedelta(seconds=1 + i), i),
                "endpoint": endpoint,
                "method": endpoint.split()[0],
                "duration_ms": ms,
                "status_code": status,
                "error": status >= 500,
            }
        )
    # Outside the 30 s window: must not count.
    requests.add({**row_for("requests", now - timedelta(seconds=45), 99), "duration_ms": 9999.0})
    alerts.add({**row_for("alerts", now, 1), "id": "a1", "severity": "error", "resolved": False})
    alerts.add({**row_for("alerts", now, 2), "id": "a2", "severity": "warning", "resolved": True})
    for age, cpu in ((60, 10.0), (5, 42.5)):
        system.add(
            {
                **row_for("system_samples", now - timedelta(seconds=age), 0),
                "host_name": "web-1",
                "cpu_percent": cpu,
                "memory_percent": 61.0,
                "disk_percent": 30.0,
            }
        )
    session = StoreSession(parse_address(store))
    try:
        session.insert([requests, alerts, system])
    finally:
        session.close()


def test_should_compute_the_snapshot_of_the_last_interval(tmp_path):
    store = str(tmp_path / "lake")
    fill(store)
    con = open_store(parse_address(store), read_only=True)
    try:
        snap = snapshot(con, Settings(store=store), NOW, 30.0)
    finally:
        con.close()
    assert snap["requests"] == 10
    assert snap["request_rate"] == pytest.approx(10 / 30.0, abs=1e-3)
    for q, key in ((50, "p50_ms"), (95, "p95_ms"), (99, "p99_ms")):
        assert snap[key] == pytest.approx(np.percentile(DURATIONS, q), abs=1e-3)
    assert snap["errors"] == 2 and snap["error_rate"] == pytest.approx(0.2)
    assert [(e["endpoint"], e["count"]) for e in snap["top_endpoints"]] == [
        ("GET /books/", 6),
        ("POST /orders/", 4),
    ]
    assert snap["open_alerts"] == 1 and snap["alerts"][0]["severity"] == "error"
    assert snap["system"]["cpu_percent"] == 42.5  # the newest sample
    row = snapshot_row(snap)
    assert row["cpu_percent"] == 42.5 and row["memory_percent"] == 61.0
    assert row["open_alerts"] == 1 and row["window_s"] == 30.0


def test_should_show_nothing_made_up_on_an_empty_window(tmp_path):
    store = str(tmp_path / "lake")
    fill(store)
    con = open_store(parse_address(store), read_only=True)
    try:
        snap = snapshot(con, Settings(store=store), NOW + timedelta(hours=1), 30.0)
    finally:
        con.close()
    assert snap["requests"] == 0 and snap["request_rate"] == 0
    assert snap["p50_ms"] is None and snap["error_rate"] is None
    assert snap["top_endpoints"] == []


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_should_save_one_snapshot_per_interval(tmp_path):
    store = str(tmp_path / "lake")
    fill(store, now=datetime.utcnow())
    out = io.StringIO()
    clock = FakeClock()
    console = Console(file=out, width=120, force_terminal=False)
    code = run_monitor(store, 2.0, 5.0, True, console, Settings(store=store), clock, clock.sleep)
    assert code == 0
    assert clock.slept == [2.0, 2.0, 1.0]  # ticks at 2, 4 and the end (5)
    con = open_store(parse_address(store), read_only=True)
    try:
        rows = con.execute("SELECT window_s, requests FROM monitor_snapshots").fetchall()
    finally:
        con.close()
    assert len(rows) == 3 and {w for w, _ in rows} == {2.0}
    assert out.getvalue().count("otel-perf monitor") == 3
    assert "Top endpoints" in out.getvalue()


def test_should_exit_cleanly_on_ctrl_c(tmp_path):
    store = str(tmp_path / "lake")
    fill(store)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    assert run_monitor(store, 1.0, 0, False, console, Settings(store=store), sleep=interrupt) == 0
    assert "monitor stopped" in out.getvalue()


def test_should_stop_on_ctrl_c_while_it_opens_a_cursor(tmp_path, monkeypatch):
    """DuckDB turns a Ctrl-C during a statement into InterruptException: while the reader set
    its cursor up (USE, BEGIN) it became "store unavailable" and the monitor went on."""
    import duckdb

    from query_api.store import StoreReader

    store = str(tmp_path / "lake")
    fill(store)

    class Interrupted:
        def cursor(self):
            raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

        def close(self):
            pass

    monkeypatch.setattr(StoreReader, "_shared", lambda self: Interrupted())
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        assert len(sleeps) < 3, "the monitor went on after Ctrl-C"

    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    assert run_monitor(store, 1.0, 0, False, console, Settings(store=store), sleep=sleep) == 0
    assert "monitor stopped" in out.getvalue() and "unavailable" not in out.getvalue()
