"""The one table of the API: every route with its report, parameters, access and cache lifetime.

Parameter validation (``parsing``), the OpenAPI document (``openapi``), both surfaces' URL
patterns and the docs all read this table, so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses

SPEC_PREFIX = "/graphql/performance/"
REST_PREFIX = "/api/v1/performance/"

SEVERITY_ALIASES = {"low": "info", "medium": "warning", "high": "error"}  # seed 003 -> spec
SEVERITIES = ("info", "warning", "error", "critical")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
FORMATS = ("json", "summary", "detailed", "markdown")

MAX_OFFSET = 1_000_000_000  # bounded so that no value overflows the store's integers
MAX_HOURS = 24 * 366.0
MAX_MINUTES = 60 * MAX_HOURS
MAX_DAYS_AHEAD = 3660.0
ACTIONS = ("stats", "alerts", "slow_queries")  # the spec's, in its order


@dataclasses.dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int" | "float" | "datetime" | "choice" | "method"
    description: str
    default: object = None
    minimum: float | None = None
    maximum: float | None = None  # None with kind int/float: settings.api_max_limit
    choices: tuple[str, ...] = ()


PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        Param("action", "choice", "Action to perform", "stats", choices=ACTIONS),
        Param("limit", "int", "Maximum number of results to return", 50, 0, None),
        Param("offset", "int", "Number of results to skip", 0, 0, MAX_OFFSET),
        Param(
            "start_date", "datetime", "Start of the period, inclusive (ISO 8601; UTC if no zone)"
        ),
        Param("end_date", "datetime", "End of the period, exclusive (ISO 8601; UTC if no zone)"),
        Param("top_n", "int", "Number of entries to return", 10, 1, None),
        Param("hours", "float", "Look-back window in hours", 24.0, 0.001, MAX_HOURS),
        Param("minutes", "float", "Look-back window in minutes", 60.0, 0.01, MAX_MINUTES),
        Param("method", "method", "HTTP method of the endpoint", None, choices=METHODS),
        Param(
            "severity",
            "choice",
            "At least this severe (low/medium/high are seed 003's words for info/warning/error)",
            None,
            choices=SEVERITIES + tuple(SEVERITY_ALIASES),
        ),
        Param("format", "choice", "Shape of the report", "json", choices=FORMATS),
        Param("days", "float", "Days ahead the forecast projects", 30.0, 0.01, MAX_DAYS_AHEAD),
    )
}

DATES = ("start_date", "end_date")


@dataclasses.dataclass(frozen=True)
class Route:
    report: str  # the name in the registry (SPEC_ACTIONS or REST_REPORTS)
    path: str  # under REST_PREFIX; "" for the spec endpoint
    params: tuple[str, ...]
    ttl: int  # seconds a result is served from the cache; 0: never cached
    summary: str
    access: str = "read"  # "public" | "read" | "admin"
    method: str = "GET"
    spec: bool = False  # one of the spec's actions (SPEC_ACTIONS)
    path_param: bool = False  # takes the endpoint from the URL path


SPEC_PARAMS = ("action", "limit", "offset", *DATES)

# The spec's actions, all at SPEC_PREFIX?action=...; cache lifetimes are the spec's.
SPEC_ROUTES: dict[str, Route] = {
    r.report: r
    for r in (
        Route("stats", "", SPEC_PARAMS, 60, "Performance statistics", spec=True),
        Route("alerts", "", SPEC_PARAMS, 30, "Performance alerts", spec=True),
        Route("slow_queries", "", SPEC_PARAMS, 120, "Slowest GraphQL operations", spec=True),
    )
}
assert tuple(SPEC_ROUTES) == ACTIONS

# The further reports (seeds 001/003). Lifetimes: a minute for overviews (like stats), 30 s
# for what an operator watches live (alerts, metrics), 2 min for heavy whole-period reports,
# 10 s for the health check that load balancers and dashboards poll.
REST_ROUTES: tuple[Route, ...] = (
    Route("summary", "summary", ("hours", *DATES), 60, "Performance summary"),
    Route("endpoints", "endpoints", ("top_n", "hours", "method", *DATES), 60, "Endpoints"),
    Route(
        "endpoint_detail",
        "endpoints/{path}",
        ("method", "hours", *DATES),
        60,
        "One endpoint in detail ('GET /route' or '/route' with ?method=)",
        path_param=True,
    ),
    Route(
        "endpoint_detail",
        "analyze/endpoint/{path}",
        ("method", "hours", *DATES),
        60,
        "One endpoint in detail (seed 003's address)",
        path_param=True,
    ),
    Route(
        "slow_requests", "slow-requests", ("limit", "offset", "hours", *DATES), 60, "Slow requests"
    ),
    Route("database", "database", ("minutes", "limit", *DATES), 60, "Database statements"),
    Route("users", "users", ("top_n", "hours", *DATES), 120, "Performance by user"),
    Route("system_metrics", "system-metrics", ("hours", *DATES), 60, "System metrics"),
    Route("health", "health", (), 10, "Service health", access="public"),
    Route(
        "forecast",
        "forecast",
        ("hours", "days", *DATES),
        120,
        "Capacity forecast: request rate, CPU and memory trends projected days ahead",
    ),
    Route("metrics", "metrics", ("minutes",), 30, "Current performance metrics"),
    Route("report", "report", ("hours", "format", *DATES), 120, "Full performance report"),
    Route(
        "alerts",
        "alerts",
        ("hours", "severity", "limit", "offset", *DATES),
        30,
        "Alerts, at least ?severity= severe",
    ),
    # The dashboard's reports (query_api/reports/timeseries.py).
    Route(
        "timeseries",
        "timeseries",
        ("hours", "method", *DATES),
        30,
        "Latency percentiles, request rate and error rate over time, with the slowest requests",
    ),
    Route(
        "timeseries",
        "timeseries/{path}",
        ("method", "hours", *DATES),
        30,
        "One endpoint over time ('GET /route'), with its slowest requests",
        path_param=True,
    ),
    Route(
        "operations",
        "operations",
        ("top_n", "hours", *DATES),
        60,
        "GraphQL operations by name, slowest p95 first, with their phase breakdown",
    ),
    Route(
        "operation_detail",
        "operations/{path}",
        ("hours", *DATES),
        30,
        "One GraphQL operation by name over time, with its slowest executions",
        path_param=True,
    ),
    Route(
        "analyze",
        "analyze",
        ("hours", *DATES),
        0,
        "Run the bottleneck analysis now",
        access="admin",
        method="POST",
    ),
    # Acknowledge and silence (otel_perf/alerting/api.py, docs/alerting.md): reports named
    # alert_*; their parameters (?note=, ?type=, ?subject=, ?minutes=/hours=/until=) are read
    # there. Writes, never cached.
    Route(
        "alert_acknowledge",
        "alerts/acknowledge/{path}",
        (),
        0,
        "Acknowledge the alert with this id (?note=)",
        access="admin",
        method="POST",
        path_param=True,
    ),
    Route(
        "alert_unacknowledge",
        "alerts/unacknowledge/{path}",
        (),
        0,
        "Withdraw the acknowledgement of the alert with this id",
        access="admin",
        method="POST",
        path_param=True,
    ),
    Route(
        "alert_silence",
        "alerts/silence",
        (),
        0,
        "Silence ?type= (and ?subject=; all when absent) for ?minutes=/?hours= or ?until=",
        access="admin",
        method="POST",
    ),
    Route(
        "alert_unsilence",
        "alerts/unsilence",
        (),
        0,
        "Lift the silence of ?type= (and ?subject=)",
        access="admin",
        method="POST",
    ),
    Route("alert_silences", "alerts/silences", (), 0, "The silences in force", access="admin"),
)

# Not reports: what a surface answers outside the table, still through the shared flow (rate
# limit, envelope, access log). UNMATCHED names a path (or a method) that no route serves in
# the access log: "unknown", never the path itself (a token pasted into a URL stays out of it).
UNMATCHED = Route("unknown", "", (), 0, "A path or method that no route serves")
OPENAPI = Route("openapi", "openapi.json", (), 0, "The OpenAPI document", access="public")
