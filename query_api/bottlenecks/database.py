"""Database rules: slow_db_query (per statement fingerprint), n_plus_one (per endpoint or
GraphQL operation and fingerprint) and query_budget (an endpoint or operation whose DB query
count per request rose above its own recent maximum)."""

from __future__ import annotations

from datetime import datetime

from query_api.alert_rules import Occurrence
from query_api.bottlenecks import common as C
from query_api.bottlenecks import queries as Q
from query_api.reports.common import fetch_dicts, fingerprint_hex

# "Based on frequency and duration" (seed 003): a statement slow this often in one window is
# at least an error, however far over the threshold it is.
FREQUENT_SLOW_CALLS = 100


def slow_db_query(con, settings, now: datetime) -> list[Occurrence]:
    current, _ = C.windows(settings, now)
    rows = fetch_dicts(con, Q.SLOW_STATEMENTS, {**current, "threshold": settings.slow_db_ms})
    return judge_slow_statements(rows, settings)


def judge_slow_statements(rows: list[dict], settings) -> list[Occurrence]:
    found = []
    for row in rows:
        ratio = row["max_ms"] / settings.slow_db_ms
        if ratio < 1:
            continue
        severity = C.severity_by_ratio(ratio)
        if row["slow_calls"] >= FREQUENT_SLOW_CALLS and severity == "warning":
            severity = "error"
        fingerprint = fingerprint_hex(row["fingerprint"])
        found.append(
            C.occurrence(
                "slow_db_query",
                fingerprint,
                row,
                row["max_ms"],
                severity,
                f"DB statement {fingerprint} took up to {row['max_ms']:.0f} ms "
                f"({int(row['slow_calls'])} of {int(row['calls'])} calls over "
                f"{settings.slow_db_ms:.0f} ms)",
                {
                    "fingerprint": fingerprint,
                    "statement": row["statement"],
                    "db_system": row["db_system"],
                    "calls": int(row["calls"]),
                    "slow_calls": int(row["slow_calls"]),
                    "avg_ms": C.rounded(row["avg_ms"], 3),
                    "max_ms": C.rounded(row["max_ms"], 3),
                    "endpoints": list(row["endpoints"] or []),
                    "threshold_ms": settings.slow_db_ms,
                    "window_s": settings.bottleneck_window_s,
                },
            )
        )
    return found


def n_plus_one(con, settings, now: datetime) -> list[Occurrence]:
    current, _ = C.windows(settings, now)
    return judge_n_plus_one(fetch_dicts(con, Q.N_PLUS_ONE, current), settings)


def judge_n_plus_one(rows: list[dict], settings) -> list[Occurrence]:
    """Every stored finding is already an N+1 (the processor applied the threshold); seed 003
    rates them medium: warning."""
    found = []
    for row in rows:
        fingerprint = fingerprint_hex(row["fingerprint"])
        where = (
            f"operation {row['graphql_operation_name']}"
            if row["graphql_operation_name"]
            else row["endpoint"]
        )
        path = f" at {row['graphql_field_path']}" if row["graphql_field_path"] else ""
        found.append(
            C.occurrence(
                "n_plus_one",
                f"{where} {fingerprint}",
                row,
                row["max_executions"],
                "warning",
                f"N+1 in {where}{path}: the same statement ran up to "
                f"{int(row['max_executions'])} times per request",
                {
                    "endpoint": row["endpoint"],
                    "graphql_operation_name": row["graphql_operation_name"],
                    "graphql_field_path": row["graphql_field_path"],
                    "fingerprint": fingerprint,
                    "statement": row["statement"],
                    "requests": int(row["requests"]),
                    "max_executions": int(row["max_executions"]),
                    "recommendation": row["suggestion"],
                    "window_s": settings.bottleneck_window_s,
                },
            )
        )
    return found


def query_budget(con, settings, now: datetime) -> list[Occurrence]:
    current, baseline = C.windows(settings, now)
    rows = fetch_dicts(con, Q.QUERY_COUNTS, current)
    before = {r["subject"]: r for r in fetch_dicts(con, Q.QUERY_COUNTS, baseline)}
    return judge_query_budget(rows, before, settings)


def judge_query_budget(rows: list[dict], baseline: dict[str, dict], settings) -> list[Occurrence]:
    """A subject seen in the baseline whose highest query count per request is now above the
    baseline's highest. Only subjects with history are judged: a new endpoint has no budget."""
    found = []
    for row in rows:
        base = baseline.get(row["subject"])
        if base is None or row["max_queries"] <= base["max_queries"]:
            continue
        budget = base["max_queries"]
        ratio = row["max_queries"] / budget if budget else float("inf")
        found.append(
            C.occurrence(
                "query_budget",
                row["subject"],
                row,
                row["max_queries"],
                "error" if ratio >= 2 else "warning",
                f"{row['subject']}: up to {int(row['max_queries'])} DB queries per request, "
                f"above its recent maximum of {int(budget)}",
                {
                    "subject": row["subject"],
                    "max_queries": int(row["max_queries"]),
                    "budget": int(budget),
                    "requests": int(row["requests"]),
                    "trace_id": row["trace_id"].hex() if row["trace_id"] else None,
                    "window_s": settings.bottleneck_window_s,
                    "baseline_window_s": settings.baseline_window_s,
                },
            )
        )
    return found
