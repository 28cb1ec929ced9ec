"""Named SQL of the dashboard's reports (``reports/timeseries.py``).

Figures are defined as in ``queries.py`` (weighted counts and averages, exact percentiles,
weighted by the ``*_WEIGHTED`` twins when the period has sampled rows), so a dashboard panel
and the report it stands beside agree for the same period.
``$endpoint = ''`` / ``$method = ''`` mean "every endpoint" / "every method".
"""

from __future__ import annotations

from query_api.weighted import weighted

_REQUEST_FILTER = (
    "timestamp >= $start AND timestamp < $end"
    " AND ($method = '' OR method = $method)"
    " AND ($endpoint = '' OR endpoint = $endpoint)"
)

_LATENCY = """
    sum(weight) AS count,
    sum(duration_ms * weight) / sum(weight) AS avg_ms,
    quantile_cont(duration_ms, 0.5) AS p50_ms,
    quantile_cont(duration_ms, 0.95) AS p95_ms,
    quantile_cont(duration_ms, 0.99) AS p99_ms,
    max(duration_ms) AS max_ms,
    sum(CASE WHEN error THEN weight ELSE 0 END) / sum(weight) AS error_rate
"""

REQUEST_SERIES = f"""
SELECT time_bucket(to_seconds($bucket_s), timestamp) AS bucket, {_LATENCY}
FROM requests
WHERE {_REQUEST_FILTER}
GROUP BY bucket
ORDER BY bucket
"""

REQUEST_TOTALS = f"""
SELECT {_LATENCY}
FROM requests
WHERE {_REQUEST_FILTER}
"""

SLOWEST_REQUESTS = f"""
SELECT timestamp, trace_id, endpoint, method, path, status_code, duration_ms, db_count,
       db_time_ms, n_plus_one_count, graphql_operation_name, error
FROM requests
WHERE {_REQUEST_FILTER}
ORDER BY duration_ms DESC, timestamp DESC
LIMIT $limit
"""

_OPERATION_FILTER = "timestamp >= $start AND timestamp < $end AND operation_name = $operation"

OPERATION_SERIES = f"""
SELECT time_bucket(to_seconds($bucket_s), timestamp) AS bucket, {_LATENCY}
FROM graphql_operations
WHERE {_OPERATION_FILTER}
GROUP BY bucket
ORDER BY bucket
"""

OPERATION_TOTALS = f"""
SELECT {_LATENCY}
FROM graphql_operations
WHERE {_OPERATION_FILTER}
"""

SLOWEST_OPERATIONS = f"""
SELECT timestamp, trace_id, span_id, endpoint, operation_type, duration_ms, parsing_ms,
       validation_ms, execution_ms, database_ms, database_queries, complexity_score,
       n_plus_one_count, error
FROM graphql_operations
WHERE {_OPERATION_FILTER}
ORDER BY duration_ms DESC, timestamp DESC
LIMIT $limit
"""

# Every operation by name (anonymous ones together), slowest p95 first, with its mean phases.
OPERATIONS = """
SELECT operation_name, any_value(operation_type) AS operation_type,
       sum(weight) AS count,
       sum(duration_ms * weight) / sum(weight) AS avg_ms,
       quantile_cont(duration_ms, 0.95) AS p95_ms,
       max(duration_ms) AS max_ms,
       sum(parsing_ms * weight) / sum(weight) AS parsing_ms,
       sum(validation_ms * weight) / sum(weight) AS validation_ms,
       sum(execution_ms * weight) / sum(weight) AS execution_ms,
       sum(database_ms * weight) / sum(weight) AS database_ms,
       sum(database_queries * weight) / sum(weight) AS avg_db_queries,
       sum(CASE WHEN error THEN weight ELSE 0 END) / sum(weight) AS error_rate,
       sum(CASE WHEN n_plus_one_count > 0 THEN weight ELSE 0 END) AS n_plus_one_operations
FROM graphql_operations
WHERE timestamp >= $start AND timestamp < $end
GROUP BY operation_name
ORDER BY p95_ms DESC, operation_name
LIMIT $top_n
"""

# -- weighted twins (query_api/weighted.py): run instead when the period has sampled rows ----
_BUCKET = "time_bucket(to_seconds($bucket_s), timestamp)"
REQUEST_SERIES_WEIGHTED = weighted(REQUEST_SERIES, partition=_BUCKET)
REQUEST_TOTALS_WEIGHTED = weighted(REQUEST_TOTALS)
OPERATION_SERIES_WEIGHTED = weighted(OPERATION_SERIES, partition=_BUCKET)
OPERATION_TOTALS_WEIGHTED = weighted(OPERATION_TOTALS)
OPERATIONS_WEIGHTED = weighted(OPERATIONS)
