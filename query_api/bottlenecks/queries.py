"""Named SQL of the bottleneck rules. Windows are [$start, $end) on request start time; the
baseline is the window before. Percentiles are exact over stored rows (weighted by the
``*_WEIGHTED`` twin when the window has sampled rows: query_api/weighted.py)."""

from __future__ import annotations

from query_api.weighted import weighted

# Per endpoint in one window: what high_latency, high_error_rate and degradation judge.
ENDPOINT_WINDOW = """
SELECT endpoint,
       sum(weight) AS requests,
       sum(duration_ms * weight) / sum(weight) AS avg_ms,
       quantile_cont(duration_ms, 0.95) AS p95_ms,
       sum(CASE WHEN error THEN weight ELSE 0 END) / sum(weight) AS error_rate,
       sum(CASE WHEN error THEN weight ELSE 0 END) AS errors,
       list_sort(list(DISTINCT status_code) FILTER (WHERE error)) AS error_statuses,
       max(timestamp) AS last_seen, min(timestamp) AS first_seen
FROM requests
WHERE timestamp >= $start AND timestamp < $end
GROUP BY endpoint
HAVING sum(weight) >= $min_requests
ORDER BY endpoint
"""
ENDPOINT_WINDOW_WEIGHTED = weighted(ENDPOINT_WINDOW)

# The same endpoints' averages in the baseline window (degradation).
ENDPOINT_BASELINE = """
SELECT endpoint, sum(weight) AS requests, sum(duration_ms * weight) / sum(weight) AS avg_ms
FROM requests
WHERE timestamp >= $start AND timestamp < $end
GROUP BY endpoint
HAVING sum(weight) >= $min_requests
"""

# Statements at or over the slow threshold, per fingerprint (slow_db_query).
SLOW_STATEMENTS = """
SELECT fingerprint, any_value(statement) AS statement, any_value(db_system) AS db_system,
       sum(calls * weight) AS calls, sum(slow_count * weight) AS slow_calls,
       sum(total_ms * weight) / sum(calls * weight) AS avg_ms, max(max_ms) AS max_ms,
       list_sort(list(DISTINCT endpoint))[1:5] AS endpoints,
       max(timestamp) AS last_seen, min(timestamp) AS first_seen
FROM db_statements
WHERE timestamp >= $start AND timestamp < $end
GROUP BY fingerprint
HAVING max(max_ms) >= $threshold
ORDER BY fingerprint
"""

# N+1 findings per (endpoint or operation, fingerprint).
N_PLUS_ONE = """
SELECT endpoint, graphql_operation_name, fingerprint, any_value(statement) AS statement,
       any_value(graphql_field_path) AS graphql_field_path, any_value(suggestion) AS suggestion,
       sum(weight) AS requests, max(executions) AS max_executions,
       sum(total_ms * weight) / sum(weight) AS avg_ms,
       max(timestamp) AS last_seen, min(timestamp) AS first_seen
FROM n_plus_one
WHERE timestamp >= $start AND timestamp < $end
GROUP BY endpoint, graphql_operation_name, fingerprint
ORDER BY endpoint, graphql_operation_name, fingerprint
"""

# DB statements per request: the highest count per endpoint (or GraphQL operation, when the
# request ran one) in a window. Counts are deterministic, so a rise is a change of code.
QUERY_COUNTS = """
SELECT coalesce('operation ' || graphql_operation_name, endpoint) AS subject,
       max(db_count) AS max_queries, sum(weight) AS requests,
       arg_max(trace_id, db_count) AS trace_id, max(timestamp) AS last_seen,
       min(timestamp) AS first_seen
FROM requests
WHERE timestamp >= $start AND timestamp < $end AND db_count IS NOT NULL
GROUP BY subject
ORDER BY subject
"""

# The newest host sample in the window (resource_exhaustion).
HOST_RESOURCES = """
SELECT host_name, arg_max(cpu_percent, timestamp) AS cpu_percent,
       arg_max(memory_percent, timestamp) AS memory_percent,
       arg_max(disk_percent, timestamp) AS disk_percent,
       arg_max(disk_free_bytes, timestamp) AS disk_free_bytes,
       arg_max(memory_available_bytes, timestamp) AS memory_available_bytes,
       max(timestamp) AS last_seen, min(timestamp) AS first_seen
FROM system_samples
WHERE timestamp >= $start AND timestamp < $end
GROUP BY host_name
ORDER BY host_name
"""

# Each process's RSS series over the window (memory_leak_suspected), oldest first.
PROCESS_RSS = """
SELECT host_name, service_instance, any_value(pid) AS pid,
       list(epoch(timestamp) ORDER BY timestamp) AS seconds,
       list(rss_bytes ORDER BY timestamp) AS rss_bytes,
       max(timestamp) AS last_seen, min(timestamp) AS first_seen
FROM process_samples
WHERE timestamp >= $start AND timestamp < $end AND rss_bytes IS NOT NULL
GROUP BY host_name, service_instance
HAVING count(*) >= $min_samples
ORDER BY host_name, service_instance
"""
