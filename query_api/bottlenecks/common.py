"""What every bottleneck rule shares: its windows, severity by how far a threshold is
exceeded, and the recommendation text per kind."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from query_api.alert_rules import Occurrence

# Seed 003's advice, one text per kind (the finding's own suggestion wins where it has one,
# e.g. N+1's select_related/prefetch_related/DataLoader by ORM).
RECOMMENDATIONS = {
    "high_latency": (
        "Profile the endpoint's slowest requests (trace ids in details): look for DB time, "
        "N+1 queries and external calls; cache what is read often; move slow work to a "
        "background job."
    ),
    "high_error_rate": (
        "Investigate the failing requests (status codes in details) in the error tracker or "
        "the traces; check recent deployments and the health of the services it depends on."
    ),
    "slow_db_query": (
        "Run EXPLAIN (ANALYZE) on the statement; add an index on the filtered or joined "
        "columns, select fewer columns or rows, or cache the result."
    ),
    "n_plus_one": (
        "Load the related rows in one query: select_related/prefetch_related (Django), "
        "selectinload/joinedload (SQLAlchemy), or a DataLoader for GraphQL fields."
    ),
    "resource_exhaustion": (
        "Scale out (more instances or workers) or up (more CPU/memory); free disk space or "
        "shorten OTEL_PERF_RETENTION_DAYS; find the endpoints that use the most (the reports' "
        "top endpoints and memory figures)."
    ),
    "performance_degradation": (
        "Compare with the previous deployment and recent changes (code, data volume, "
        "traffic); check DB time and query counts of the endpoint for a new query or a lost "
        "index; scale if traffic grew."
    ),
    "memory_leak_suspected": (
        "Take heap snapshots (tracemalloc) a few minutes apart in that process and compare "
        "them; look for caches or module-level lists that only grow; recycle workers "
        "(gunicorn --max-requests) as a stopgap."
    ),
    "query_budget": (
        "A change added DB queries to this endpoint: compare its statements with the "
        "previous run (db_statements by trace id in details); an added loop over related "
        "objects is the usual cause (eager-load them)."
    ),
}


def windows(settings, now: datetime) -> tuple[dict, dict]:
    """The judged window [now - window, now) and the baseline window before it."""
    current_start = now - timedelta(seconds=settings.bottleneck_window_s)
    baseline_start = current_start - timedelta(seconds=settings.baseline_window_s)
    return (
        {"start": current_start, "end": now},
        {"start": baseline_start, "end": current_start},
    )


def severity_by_ratio(ratio: float) -> str:
    """Seed 003's 'based on how much the threshold is exceeded': at it, warning; at twice
    it, error; at four times, critical."""
    if ratio >= 4:
        return "critical"
    if ratio >= 2:
        return "error"
    return "warning"


def occurrence(
    kind: str,
    subject: str,
    row: dict,
    value: float,
    severity: str,
    message: str,
    details: dict[str, Any],
) -> Occurrence:
    """One evaluation's finding. ``count`` is 1: a bottleneck's occurrences are the
    evaluations in which its condition held (the window's figures are in details)."""
    return Occurrence(
        type=kind,
        subject=subject,
        count=1,
        worst_value=float(value),
        last_seen=row["last_seen"],
        first_seen=row["first_seen"],
        severity=severity,
        message=message,
        details={
            **details,
            "recommendation": details.get("recommendation") or RECOMMENDATIONS[kind],
        },
    )


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)
