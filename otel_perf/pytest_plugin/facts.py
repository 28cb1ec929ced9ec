"""Pure functions: one test's observations → its facts (JSON-able) and the messages it earns."""

from __future__ import annotations

from processors.facts import fingerprint_hex, suggestion, summarize_db
from processors.sql_fingerprint import fingerprint_cached

_NS_PER_MS = 1_000_000.0


def build_facts(recording, n_plus_one_threshold: int, slow_db_ms: float) -> dict:
    """Counts over the whole test; N+1 findings per request (and per test body): a test that
    calls one endpoint five times has not found an N+1."""
    slow_ns = int(slow_db_ms * _NS_PER_MS)
    entries = list(recording.db)
    meta = list(recording.db_meta)
    summary = summarize_db(entries, slow_ns, n_plus_one_threshold)
    by_scope: dict[int, list[int]] = {}
    for index, (_site, scope) in enumerate(meta):
        by_scope.setdefault(scope, []).append(index)
    findings = []
    for scope, indices in by_scope.items():
        scoped = summarize_db([entries[i] for i in indices], slow_ns, n_plus_one_threshold)
        for group in scoped.n_plus_one:
            location = next(
                (
                    meta[i][0]
                    for i in indices
                    if fingerprint_cached(entries[i][2])[0] == group.fingerprint
                ),
                None,
            )
            field_path = group.graphql_field_path
            findings.append(
                {
                    "fingerprint": fingerprint_hex(group.fingerprint),
                    "statement": group.statement,
                    "count": group.calls,
                    "endpoint": recording.endpoints.get(scope) if scope else None,
                    "graphql_field_path": field_path,
                    "location": location,
                    "suggestion": suggestion(field_path),
                }
            )
    operations = [
        {k: v for k, v in op.items() if k != "scope"}
        | {"endpoint": recording.endpoints.get(op["scope"])}
        for op in recording.operations
    ]
    complexities = [op["complexity"] for op in operations if op["complexity"] is not None]
    return {
        "queries": summary.count,
        "db_time_ms": round(summary.time_ms, 3),
        "statements": [
            {
                "fingerprint": fingerprint_hex(g.fingerprint),
                "statement": g.statement,
                "count": g.calls,
                "time_ms": round(g.total_ns / _NS_PER_MS, 3),
            }
            for g in summary.groups
        ],
        "n_plus_one": findings,
        "operations": operations,
        "graphql_complexity": max(complexities) if complexities else None,
        "requests": sorted(set(recording.endpoints.values())),
        "internal_errors": recording.internal_errors,
    }


def n_plus_one_message(nodeid: str, finding: dict) -> str:
    if finding["graphql_field_path"]:
        where = f"GraphQL field {finding['graphql_field_path']}"
        if finding["endpoint"]:
            where += f" ({finding['endpoint']})"
    elif finding["endpoint"]:
        where = f"request {finding['endpoint']}"
    else:
        where = "the test body (no request)"
    return "\n".join(
        (
            f"otel-perf: N+1 query in {nodeid}: the same statement ran {finding['count']} times "
            f"in {where}",
            f"  statement:   {finding['statement']}",
            f"  fingerprint: {finding['fingerprint']}",
            f"  issued at:   {finding['location'] or 'unknown'}",
            f"  fix:         {finding['suggestion']}",
            "  (waive with @pytest.mark.perf(allow_n_plus_one=True))",
        )
    )


def limit_problems(facts: dict, limits: dict, source: str, tolerance: float = 1.0) -> list[str]:
    """What exceeds ``limits`` (keys max_queries, max_complexity, max_db_time_ms)."""
    problems = []
    max_queries = limits.get("max_queries")
    if max_queries is not None and facts["queries"] > max_queries:
        problems.append(f"{facts['queries']} DB queries, over {source} of {max_queries}")
    max_complexity = limits.get("max_complexity")
    complexity = facts["graphql_complexity"]
    if max_complexity is not None and complexity is not None and complexity > max_complexity:
        problems.append(f"GraphQL complexity {complexity}, over {source} of {max_complexity}")
    max_time = limits.get("max_db_time_ms")
    if max_time is not None and facts["db_time_ms"] > max_time * tolerance:
        allowed = f"{max_time} ms" + (f" x {tolerance:g}" if tolerance != 1.0 else "")
        problems.append(f"DB time {facts['db_time_ms']:.3f} ms, over {source} of {allowed}")
    return problems
