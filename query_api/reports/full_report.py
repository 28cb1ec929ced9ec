"""The full performance report (seed 003): summary, endpoints, database, GraphQL, system,
bottlenecks, trends, alerts and recommendations, as JSON or Markdown. Recommendations are
rules over the report's own figures (pure, below), each naming the figure that triggered
it; bottlenecks are the rules of ``query_api/bottlenecks`` over the same period."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from otel_perf.settings import Settings
from query_api.params import Params
from query_api.reports import alerts, analyze, endpoints, overview, requests, slow_queries, stats


def report(con, params: Params, settings: Settings, now: datetime) -> dict:
    summary = overview.summary(con, params, settings, now)
    if params.format == "summary":
        return {"format": "summary", "summary": summary}
    minutes = dataclasses.replace(params, minutes=params.hours * 60.0, limit=10)
    body = {
        "format": params.format,
        "period": summary["period"],
        "summary": summary,
        "endpoints": endpoints.report(con, dataclasses.replace(params, top_n=10), settings, now)[
            "endpoints"
        ],
        "database": requests.database(con, minutes, settings, now),
        "slow_graphql_operations": slow_queries.report(
            con, dataclasses.replace(params, limit=10, offset=0), settings, now
        ),
        "alerts": alerts.recent(
            con, dataclasses.replace(params, limit=20, offset=0), settings, now
        )["alerts"],
        "system": overview.system_metrics(con, params, settings, now),
        "bottlenecks": analyze.report(con, params, settings, now)["bottlenecks"],
        "trends": stats.recent_trends(con, min(params.end, now) if params.end else now),
    }
    body["recommendations"] = recommendations(body, settings)
    if params.format == "markdown":
        return {"format": "markdown", "content": markdown(body)}
    return body


def recommendations(body: dict, settings: Settings) -> list[dict]:
    found: list[dict] = []
    for finding in body["database"]["n_plus_one"]:
        where = finding["graphql_field_path"] or finding["endpoint"]
        found.append(
            {
                "category": "database",
                "severity": "high",
                "subject": where,
                "message": f"N+1: {finding['statement']} ran up to "
                f"{finding['max_executions']} times per request in {where}. "
                + (finding["suggestion"] or ""),
            }
        )
    for endpoint in body["endpoints"]:
        if endpoint["p95_ms"] is not None and endpoint["p95_ms"] >= settings.slow_request_ms:
            found.append(
                {
                    "category": "latency",
                    "severity": "medium",
                    "subject": endpoint["endpoint"],
                    "message": f"{endpoint['endpoint']}: p95 {endpoint['p95_ms']} ms is over the "
                    f"slow threshold ({settings.slow_request_ms:g} ms); look at its slow requests "
                    "and its DB time.",
                }
            )
        if (endpoint["error_rate"] or 0) >= 0.05:
            found.append(
                {
                    "category": "errors",
                    "severity": "high",
                    "subject": endpoint["endpoint"],
                    "message": f"{endpoint['endpoint']}: {endpoint['error_rate_percent']} % of "
                    "requests fail (5xx or unhandled exceptions).",
                }
            )
        if (endpoint["avg_db_queries"] or 0) > settings.max_queries_per_request:
            found.append(
                {
                    "category": "database",
                    "severity": "medium",
                    "subject": endpoint["endpoint"],
                    "message": f"{endpoint['endpoint']}: {endpoint['avg_db_queries']} queries per "
                    f"request on average (limit {settings.max_queries_per_request}).",
                }
            )
        rate = endpoint["cache_hit_rate"]
        if rate is not None and rate < 0.5:
            found.append(
                {
                    "category": "cache",
                    "severity": "low",
                    "subject": endpoint["endpoint"],
                    "message": f"{endpoint['endpoint']}: cache hit rate {rate:.0%}; check keys "
                    "and expiry.",
                }
            )
    for operation in body["slow_graphql_operations"]["slow_queries"]:
        score = operation["complexity_score"]
        if score is not None and score > settings.graphql_max_complexity:
            found.append(
                {
                    "category": "graphql",
                    "severity": "medium",
                    "subject": operation["operation_name"] or operation["query_hash"],
                    "message": f"GraphQL {operation['operation_name']}: complexity {score} over "
                    f"{settings.graphql_max_complexity}; paginate lists (first/limit) or split it.",
                }
            )
    return found


def markdown(body: dict) -> str:
    s = body["summary"]
    lines = [
        "# Performance report",
        "",
        f"Period: {body['period']['start'] or 'beginning'} to {body['period']['end']}",
        "",
        f"- Status: **{s['status']}** (health score {s['health_score']})",
        f"- Requests: {s['total_requests']}, average {s['avg_response_time_ms']} ms, "
        f"p95 {s['p95_response_time_ms']} ms, errors {s['error_rate_percent']} %",
        f"- Slow requests: {s['slow_requests']}; open alerts: {s['open_alerts']}",
        "",
        "## Endpoints",
        "",
        "| Endpoint | Requests | Avg ms | p95 ms | Error % | DB queries |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{e['endpoint']}` | {e['count']} | {e['avg_ms']} | {e['p95_ms']} | "
        f"{e['error_rate_percent']} | {e['avg_db_queries']} |"
        for e in body["endpoints"]
    ]
    lines += ["", "## Bottlenecks", ""]
    lines += [
        f"- [{b['severity']}] {b['type']}: {b['message']}. {b['recommendation']}"
        for b in body["bottlenecks"]
    ] or ["- none"]
    lines += ["", "## Recommendations", ""]
    lines += [f"- [{r['severity']}] {r['message']}" for r in body["recommendations"]] or ["- none"]
    return "\n".join(lines) + "\n"
