"""Connection-pool rules over ``pool_samples`` (seed 004's connection pool monitoring):

- ``pool_exhausted``: a pool's usage reached 1.0 in the window (every connection it may open
  was checked out). Warning when nobody had to wait, error when checkouts waited, critical
  when a checkout timed out. The value is the share of the window's samples at 1.0.
- ``pool_long_wait``: a checkout waited at least OTEL_PERF_POOL_MAX_WAIT_MS for a free
  connection; severity by how far over (warning, error at 2x, critical at 4x).

Subjects are pool names (the engine URL without credentials), over every process.
"""

from __future__ import annotations

from datetime import datetime

from query_api import queries_pool as Q
from query_api.alert_rules import Occurrence
from query_api.bottlenecks import common as C
from query_api.reports.common import fetch_dicts

EXHAUSTED_ADVICE = (
    "Every connection of the pool was in use: requests queue for a connection (up to "
    "pool_timeout, then fail). Find what holds connections long (slow statements, work done "
    "while a session is open, sessions not closed), then raise pool_size/max_overflow within "
    "what the database's max_connections allows across all processes."
)
WAIT_ADVICE = (
    "Checkouts waited for a free connection: shorten the time each request holds one (close "
    "sessions early, no slow calls inside a transaction), fix slow statements, or enlarge the "
    "pool if the database can take more connections."
)


def pool_exhausted(con, settings, now: datetime) -> list[Occurrence]:
    current, _ = C.windows(settings, now)
    return judge_exhaustion(fetch_dicts(con, Q.POOL_EXHAUSTION, current), settings)


def judge_exhaustion(rows: list[dict], settings) -> list[Occurrence]:
    found = []
    for row in rows:
        if row["timeouts"]:
            severity = "critical"
        elif row["waits"]:
            severity = "error"
        else:
            severity = "warning"
        share = row["exhausted_samples"] / row["samples"]
        found.append(
            C.occurrence(
                "pool_exhausted",
                row["pool_name"],
                row,
                share,
                severity,
                f"Connection pool {row['pool_name']} was exhausted "
                f"({row['exhausted_samples']} of {row['samples']} samples at "
                f"{row['size']}+{row['max_overflow']} connections; {int(row['waits'])} waits, "
                f"{int(row['timeouts'])} timeouts)",
                {
                    "pool": row["pool_name"],
                    "size": row["size"],
                    "max_overflow": row["max_overflow"],
                    "exhausted_samples": row["exhausted_samples"],
                    "samples": row["samples"],
                    "waits": int(row["waits"]),
                    "max_wait_ms": C.rounded(row["wait_ms_max"], 3),
                    "timeouts": int(row["timeouts"]),
                    "instances": list(row["instances"] or []),
                    "window_s": settings.bottleneck_window_s,
                    "recommendation": EXHAUSTED_ADVICE,
                },
            )
        )
    return found


def pool_long_wait(con, settings, now: datetime) -> list[Occurrence]:
    current, _ = C.windows(settings, now)
    rows = fetch_dicts(con, Q.POOL_LONG_WAITS, {**current, "threshold": settings.pool_max_wait_ms})
    return judge_waits(rows, settings)


def judge_waits(rows: list[dict], settings) -> list[Occurrence]:
    found = []
    for row in rows:
        ratio = row["wait_ms_max"] / settings.pool_max_wait_ms
        if ratio < 1:
            continue
        found.append(
            C.occurrence(
                "pool_long_wait",
                row["pool_name"],
                row,
                row["wait_ms_max"],
                C.severity_by_ratio(ratio),
                f"A checkout from {row['pool_name']} waited {row['wait_ms_max']:.0f} ms for a "
                f"connection (threshold {settings.pool_max_wait_ms:.0f} ms)",
                {
                    "pool": row["pool_name"],
                    "max_wait_ms": C.rounded(row["wait_ms_max"], 3),
                    "avg_wait_ms": C.rounded(row["avg_wait_ms"], 3),
                    "waits": int(row["waits"]),
                    "timeouts": int(row["timeouts"]),
                    "size": row["size"],
                    "max_overflow": row["max_overflow"],
                    "instances": list(row["instances"] or []),
                    "threshold_ms": settings.pool_max_wait_ms,
                    "window_s": settings.bottleneck_window_s,
                    "recommendation": WAIT_ADVICE,
                },
            )
        )
    return found
