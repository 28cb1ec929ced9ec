"""``otel-perf monitor``: a live terminal view of the store while the app runs (seed 001).

``--interval`` seconds between refreshes (default 60; fractions allowed), ``--duration`` seconds
in all (default 60; 0 runs until Ctrl-C), ``--save`` appends each interval's snapshot to
``monitor_snapshots``. The same as Django's ``python manage.py monitor_performance``.

The view's data is :func:`snapshot`, a pure function of a store connection and a time; the
figures come from the report functions and their named SQL (``query_api``). The store is read
through a read-only attachment (a DuckLake store is read while the app writes it); each saved
snapshot goes through its own short-lived :class:`StoreSession`.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from otel_perf.cli import add_store

TOP_ENDPOINTS = 5
TOP_ALERTS = 5


# -- the data -----------------------------------------------------------------------------------
def snapshot(con, settings, now: datetime, window_s: float) -> dict:
    """What the monitor shows for the ``window_s`` seconds before ``now`` (naive UTC)."""
    from query_api import queries as Q
    from query_api import queries_monitor as QM
    from query_api.params import Params
    from query_api.reports import overview
    from query_api.reports.common import LATEST, count, fetch_dict, fetch_dicts, r

    params = Params(minutes=window_s / 60.0)
    figures = overview.metrics(con, params, settings, now)
    window = {"start": now - timedelta(seconds=window_s), "end": LATEST, "method": ""}
    top = fetch_dicts(con, Q.ENDPOINT_FIGURES, {**window, "top_n": TOP_ENDPOINTS})
    alert_counts = overview.open_alert_counts(con)
    alerts = fetch_dicts(con, QM.OPEN_ALERTS_TOP, {"limit": TOP_ALERTS})
    system = fetch_dict(con, QM.LATEST_SYSTEM_SAMPLE, {})
    requests = figures["requests"]
    return {
        "timestamp": now,
        "window_s": float(window_s),
        "requests": requests,
        "request_rate": r(requests / window_s, 3) if window_s > 0 else None,
        "p50_ms": figures["p50_response_time_ms"],
        "p95_ms": figures["p95_response_time_ms"],
        "p99_ms": figures["p99_response_time_ms"],
        "avg_ms": figures["avg_response_time_ms"],
        "error_rate": figures["error_rate"],
        "errors": count((figures["error_rate"] or 0) * requests),
        "client_error_rate": figures["client_error_rate"],
        "top_endpoints": [
            {
                "endpoint": row["endpoint"],
                "count": count(row["count"]),
                "p95_ms": r(row["p95_ms"]),
                "error_rate": r(row["error_rate"], 4),
            }
            for row in top
        ],
        "open_alerts": sum(alert_counts.values()),
        "alerts_by_severity": alert_counts,
        "alerts": alerts,
        "system": system if system.get("timestamp") is not None else None,
    }


def snapshot_row(snap: dict) -> dict:
    """The ``monitor_snapshots`` row of a snapshot."""
    system = snap["system"] or {}
    return {
        "timestamp": snap["timestamp"],
        "window_s": snap["window_s"],
        "requests": snap["requests"],
        "request_rate": snap["request_rate"],
        "p50_ms": snap["p50_ms"],
        "p95_ms": snap["p95_ms"],
        "p99_ms": snap["p99_ms"],
        "error_rate": snap["error_rate"],
        "open_alerts": snap["open_alerts"],
        "cpu_percent": system.get("cpu_percent"),
        "memory_percent": system.get("memory_percent"),
    }


def save_snapshot(address, snap: dict) -> None:
    from otel_perf.storage.rows import Columns
    from otel_perf.storage.session import StoreSession

    columns = Columns("monitor_snapshots")
    columns.add(snapshot_row(snap))
    session = StoreSession(address)
    try:
        session.insert([columns])
    finally:
        session.close()


# -- the view -----------------------------------------------------------------------------------
def _ms(value) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _pct(rate) -> str:
    return "-" if rate is None else f"{rate * 100:.2f} %"


def render(snap: dict, store: str, status: str = ""):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    when = snap["timestamp"].strftime("%Y-%m-%d %H:%M:%S")
    head = Text.assemble(
        ("otel-perf monitor", "bold"),
        f"  {store}  {when}Z  last {snap['window_s']:g} s",
        (f"  {status}" if status else "", "dim"),
    )
    overview = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for name in ("requests", "req/s", "p50", "p95", "p99", "errors", "error rate", "alerts"):
        overview.add_column(name, justify="right")
    overview.add_row(
        str(snap["requests"]),
        "-" if snap["request_rate"] is None else f"{snap['request_rate']:.2f}",
        _ms(snap["p50_ms"]),
        _ms(snap["p95_ms"]),
        _ms(snap["p99_ms"]),
        str(snap["errors"]),
        _pct(snap["error_rate"]),
        str(snap["open_alerts"]),
    )
    endpoints = Table(title="Top endpoints", title_justify="left", box=None, pad_edge=False)
    for name, justify in (("endpoint", "left"), ("count", "right"), ("p95", "right")):
        endpoints.add_column(name, justify=justify)
    endpoints.add_column("error rate", justify="right")
    for e in snap["top_endpoints"]:
        endpoints.add_row(e["endpoint"], str(e["count"]), _ms(e["p95_ms"]), _pct(e["error_rate"]))
    if not snap["top_endpoints"]:
        endpoints.add_row("(no requests in this interval)", "", "", "")
    parts = [head, overview, endpoints]
    alerts = Table(title="Open alerts", title_justify="left", box=None, pad_edge=False)
    for name in ("severity", "type", "subject", "message"):
        alerts.add_column(name)
    for a in snap["alerts"]:
        alerts.add_row(a["severity"], a["type"], a["subject"] or "", a["message"] or "")
    if not snap["alerts"]:
        alerts.add_row("none", "", "", "")
    parts.append(alerts)
    s = snap["system"]
    if s is None:
        parts.append(Text("System: no samples"))
    else:
        parts.append(
            Text(
                f"System ({s['host_name']}, {s['timestamp']:%H:%M:%S}Z): "
                f"CPU {_num(s['cpu_percent'])} %  memory {_num(s['memory_percent'])} %  "
                f"disk {_num(s['disk_percent'])} %"
            )
        )
    return Group(*parts)


def _num(value) -> str:
    return "-" if value is None else f"{value:.1f}"


# -- the loop -----------------------------------------------------------------------------------
def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def run_monitor(
    store: str,
    interval: float = 60.0,
    duration: float = 60.0,
    save: bool = False,
    console=None,
    settings=None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Refresh every ``interval`` s for ``duration`` s (0: until Ctrl-C); 0 on a clean exit."""
    from rich.console import Console
    from rich.live import Live

    from otel_perf.settings import load_settings
    from otel_perf.storage import StoreUnavailable
    from query_api.store import StoreReader

    console = console or Console()
    settings = settings or load_settings()
    reader = StoreReader(store)
    ticks = math.inf if duration <= 0 else max(1, math.ceil(duration / interval - 1e-9))
    start = clock()
    saved = 0

    def take() -> tuple[dict | None, str]:
        try:
            with reader.cursor() as con:
                return snapshot(con, settings, _utcnow(), interval), ""
        except StoreUnavailable as exc:
            return None, f"store unavailable: {exc}"

    def view(snap, status):
        if snap is None:
            from rich.text import Text

            return Text(f"otel-perf monitor  {store}  {status}")
        return render(snap, store, status)

    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    try:
        if live is not None:
            live.start()
            snap, status = take()
            live.update(view(snap, status or "waiting for the first interval"), refresh=True)
        tick = 0
        while tick < ticks:
            tick += 1
            due = start + (interval * tick if duration <= 0 else min(interval * tick, duration))
            remaining = due - clock()
            if remaining > 0:
                sleep(remaining)
            snap, status = take()
            if snap is not None and save:
                try:
                    save_snapshot(reader.address, snap)
                    saved += 1
                    status = f"saved {saved} snapshot{'s' if saved != 1 else ''}"
                except Exception as exc:  # the view goes on; the reason is shown
                    if _interrupted(exc):
                        raise
                    status = f"not saved: {exc}"
            if live is not None:
                live.update(view(snap, status), refresh=True)
            else:
                console.print(view(snap, status))
    except (KeyboardInterrupt, Exception) as exc:
        if not _interrupted(exc):
            raise
        if live is not None:
            live.stop()
            live = None
        console.print("otel-perf: monitor stopped")
        return 0
    finally:
        if live is not None:
            live.stop()
        reader.close()
    return 0


def _interrupted(exc: BaseException) -> bool:
    """Ctrl-C: Python's KeyboardInterrupt, or DuckDB's interrupted query when the signal
    arrived while a statement ran (an InterruptException, or a RuntimeError from a cursor)."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    return type(exc).__name__ == "InterruptException" or "interrupted" in str(exc).lower()


def _positive_seconds(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0 seconds")
    return value


def _duration(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0 seconds (0: until Ctrl-C)")
    return value


def add_options(add_argument) -> None:
    """The options (shared with the Django command ``monitor_performance``)."""
    add_argument(
        "--interval",
        type=_positive_seconds,
        default=60.0,
        help="seconds between refreshes, each showing the last interval (default 60)",
    )
    add_argument(
        "--duration",
        type=_duration,
        default=60.0,
        help="seconds to monitor in all (default 60; 0 runs until Ctrl-C)",
    )
    add_argument(
        "--save",
        action="store_true",
        help="append each interval's snapshot to the monitor_snapshots table",
    )


def cmd_monitor(args: argparse.Namespace) -> int:
    return run_monitor(args.store, args.interval, args.duration, args.save)


def register(sub) -> None:
    monitor = sub.add_parser("monitor", help="a live view of the store in the terminal")
    add_options(monitor.add_argument)
    add_store(monitor)
    monitor.set_defaults(func=cmd_monitor)
