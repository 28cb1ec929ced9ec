"""Endpoint rules: high_latency, high_error_rate and performance_degradation (seed 003).

Each rule is a query (``queries.py``) and a pure judgement over its rows, so the thresholds
are tested without a store. Only endpoints with at least ``min_requests`` in a window are
judged: a single slow request is a slow request, not a slow endpoint.
"""

from __future__ import annotations

from datetime import datetime

from query_api.alert_rules import Occurrence
from query_api.bottlenecks import common as C
from query_api.bottlenecks import queries as Q
from query_api.reports.common import fetch_dicts

# Seed 003: an error rate above 20 % is critical whatever the configured threshold.
CRITICAL_ERROR_RATE = 0.20


def high_latency(con, settings, now: datetime) -> list[Occurrence]:
    current, _ = C.windows(settings, now)
    rows = fetch_dicts(con, Q.ENDPOINT_WINDOW, {**current, "min_requests": settings.min_requests})
    return judge_latency(rows, settings)


def judge_latency(rows: list[dict], settings) -> list[Occurrence]:
    found = []
    for row in rows:
        avg_ratio = row["avg_ms"] / settings.max_avg_latency_ms
        p95_ratio = row["p95_ms"] / settings.max_p95_latency_ms
        ratio = max(avg_ratio, p95_ratio)
        if ratio <= 1:
            continue
        which = "average" if avg_ratio >= p95_ratio else "P95"
        value, limit = (
            (row["avg_ms"], settings.max_avg_latency_ms)
            if which == "average"
            else (row["p95_ms"], settings.max_p95_latency_ms)
        )
        found.append(
            C.occurrence(
                "high_latency",
                row["endpoint"],
                row,
                value,
                C.severity_by_ratio(ratio),
                f"{row['endpoint']}: {which} response time {value:.0f} ms is over "
                f"{limit:.0f} ms ({ratio:.1f}x)",
                {
                    "endpoint": row["endpoint"],
                    "requests": int(row["requests"]),
                    "avg_response_time_ms": C.rounded(row["avg_ms"]),
                    "p95_response_time_ms": C.rounded(row["p95_ms"]),
                    "max_avg_latency_ms": settings.max_avg_latency_ms,
                    "max_p95_latency_ms": settings.max_p95_latency_ms,
                    "window_s": settings.bottleneck_window_s,
                },
            )
        )
    return found


def high_error_rate(con, settings, now: datetime) -> list[Occurrence]:
    current, _ = C.windows(settings, now)
    rows = fetch_dicts(con, Q.ENDPOINT_WINDOW, {**current, "min_requests": settings.min_requests})
    return judge_error_rate(rows, settings)


def judge_error_rate(rows: list[dict], settings) -> list[Occurrence]:
    found = []
    for row in rows:
        rate = row["error_rate"]
        if rate <= settings.max_error_rate:
            continue
        severity = "critical" if rate > CRITICAL_ERROR_RATE else "error"
        found.append(
            C.occurrence(
                "high_error_rate",
                row["endpoint"],
                row,
                rate,
                severity,
                f"{row['endpoint']}: {rate:.1%} of {int(row['requests'])} requests failed "
                f"(threshold {settings.max_error_rate:.1%})",
                {
                    "endpoint": row["endpoint"],
                    "requests": int(row["requests"]),
                    "errors": int(row["errors"]),
                    "error_rate": round(rate, 4),
                    "status_codes": [s for s in row["error_statuses"] or [] if s is not None],
                    "max_error_rate": settings.max_error_rate,
                    "window_s": settings.bottleneck_window_s,
                },
            )
        )
    return found


def performance_degradation(con, settings, now: datetime) -> list[Occurrence]:
    current, baseline = C.windows(settings, now)
    minimum = {"min_requests": settings.min_requests}
    rows = fetch_dicts(con, Q.ENDPOINT_WINDOW, {**current, **minimum})
    before = {
        r["endpoint"]: r for r in fetch_dicts(con, Q.ENDPOINT_BASELINE, {**baseline, **minimum})
    }
    return judge_degradation(rows, before, settings)


def judge_degradation(rows: list[dict], baseline: dict[str, dict], settings) -> list[Occurrence]:
    """Current average vs the baseline window's, per endpoint present in both (seed 003:
    > 50 % worse; medium severity → warning, error when twice as slow)."""
    found = []
    for row in rows:
        base = baseline.get(row["endpoint"])
        if base is None or not base["avg_ms"]:
            continue
        ratio = row["avg_ms"] / base["avg_ms"]
        if ratio < settings.degradation_ratio:
            continue
        found.append(
            C.occurrence(
                "performance_degradation",
                row["endpoint"],
                row,
                ratio,
                "error" if ratio >= 2 else "warning",
                f"{row['endpoint']}: average response time {row['avg_ms']:.0f} ms is "
                f"{(ratio - 1):.0%} worse than its baseline {base['avg_ms']:.0f} ms",
                {
                    "endpoint": row["endpoint"],
                    "avg_response_time_ms": C.rounded(row["avg_ms"]),
                    "baseline_avg_response_time_ms": C.rounded(base["avg_ms"]),
                    "ratio": round(ratio, 3),
                    "requests": int(row["requests"]),
                    "baseline_requests": int(base["requests"]),
                    "window_s": settings.bottleneck_window_s,
                    "baseline_window_s": settings.baseline_window_s,
                },
            )
        )
    return found
