"""The live monitor in a real pseudo-terminal (pexpect) beside the running example app: the
view shows the app's endpoints, ``--save`` writes one row per interval, Ctrl-C exits cleanly;
the Django command ``monitor_performance`` likewise."""

from __future__ import annotations

import contextlib
import sys
import threading

import pexpect
import pytest

from tests.e2e.conftest import APP_DIR, interruptible, query, wait_for_rows

pytestmark = pytest.mark.e2e


def spawn(args: list[str], env: dict, cwd=None) -> pexpect.spawn:
    return pexpect.spawn(
        args[0],
        args[1:],
        env={**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
        cwd=cwd,
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 120),
        preexec_fn=interruptible,
    )


@contextlib.contextmanager
def traffic(app, every_s: float = 0.1):
    """Requests to the app while the monitor runs (each interval shows the last one only)."""
    stop = threading.Event()

    def loop():
        while not stop.wait(every_s):
            app.get("/books/")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def test_monitor_live_view_saves_snapshots_and_stops_on_ctrl_c(make_app):
    with make_app(server="gunicorn", workers=1) as app, traffic(app):
        for _ in range(6):
            assert app.get("/books/") == 200
        assert wait_for_rows(app.store, 6) >= 6
        cli = [sys.executable, "-m", "otel_perf.cli", "monitor", "--store", app.store]

        child = spawn([*cli, "--interval", "1", "--duration", "3", "--save"], app.env)
        child.expect("otel-perf monitor")
        child.expect("GET /books/")  # the app's endpoint, rendered by rich
        child.expect("saved 3 snapshots")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, child.before
        rows = query(app.store, "SELECT window_s, requests FROM monitor_snapshots")
        assert len(rows) == 3 and {w for w, _ in rows} == {1.0}
        assert all(n is not None for _, n in rows)

        forever = spawn([*cli, "--interval", "0.3", "--duration", "0"], app.env)
        forever.expect("Top endpoints")
        forever.sendintr()  # Ctrl-C from the terminal
        forever.expect("monitor stopped")
        forever.expect(pexpect.EOF)
        forever.close()
        assert forever.exitstatus == 0
        assert "Traceback" not in (forever.before or "")

        django = spawn(
            [sys.executable, "manage.py", "monitor_performance", "--interval", "0.8"]
            + ["--duration", "1.6", "--save"],
            {k: v for k, v in app.env.items() if not k.startswith("OTEL_") or k.endswith("STORE")},
            cwd=str(APP_DIR),
        )
        django.expect("GET /books/")
        django.expect("saved 2 snapshots")
        django.expect(pexpect.EOF)
        django.close()
        assert django.exitstatus == 0, django.before
        assert query(app.store, "SELECT count(*) FROM monitor_snapshots")[0][0] == 5
