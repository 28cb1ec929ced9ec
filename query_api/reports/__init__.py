"""Reports: pure functions ``(connection, Params, Settings, now) -> dict`` over the store.

``now`` is a naive UTC datetime passed in (clocks are injected, never read inside a report).
Every figure comes from stored rows; one that cannot be known is None (JSON null).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from otel_perf.settings import Settings
from query_api.params import Params
from query_api.reports import (
    alerts,
    analyze,
    endpoints,
    forecast,
    full_report,
    overview,
    requests,
    slow_queries,
    stats,
    timeseries,
)

Report = Callable[[Any, Params, Settings, datetime], dict]

# The spec's actions (/graphql/performance/?action=...).
SPEC_ACTIONS: dict[str, Report] = {
    "stats": stats.report,
    "alerts": alerts.report,
    "slow_queries": slow_queries.report,
}

# The further reports (/api/v1/performance/<name>), seeds 001/003/004.
REST_REPORTS: dict[str, Report] = {
    "summary": overview.summary,
    "endpoints": endpoints.report,
    "endpoint_detail": endpoints.detail,
    "slow_requests": requests.slow_requests,
    "database": requests.database,
    "users": requests.users,
    "system_metrics": overview.system_metrics,
    "health": overview.health,
    "forecast": forecast.report,
    "metrics": overview.metrics,
    "report": full_report.report,
    "alerts": alerts.recent,
    "analyze": analyze.report,
    # The dashboard's (timeseries.py).
    "timeseries": timeseries.report,
    "operations": timeseries.operations,
    "operation_detail": timeseries.operation_detail,
}
