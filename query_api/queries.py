"""Every SQL statement the reports run, named and parameterised (``$name`` parameters).

Time filters are half-open: ``$start <= timestamp < $end``; the reports always pass both
bounds (open ends become far-away dates), so each statement has one shape and one plan.
Weighted figures use ``weight`` (1 while every request is stored; 1/rate under sampling).
"""

# -- stats ------------------------------------------------------------------------------------
REQUEST_OVERVIEW = """
SELECT
    sum(weight) AS total,
    sum(duration_ms * weight) / sum(weight) AS avg_ms,
    sum(CASE WHEN error THEN weight ELSE 0 END) / sum(weight) AS error_rate,
    sum(db_time_ms * weight) / sum(weight) AS avg_db_ms,
    sum(cache_time_ms * weight) / sum(weight) AS avg_cache_ms,
    sum(memory_usage_mb * weight) / sum(weight) FILTER (WHERE memory_usage_mb IS NOT NULL)
        AS avg_memory_mb,
    sum(cache_hits * weight) AS cache_hits,
    sum(cache_misses * weight) AS cache_misses,
    sum(db_count * weight) / sum(weight) AS avg_queries
FROM requests
WHERE timestamp >= $start AND timestamp < $end
"""

SLOW_DB_STATEMENTS = """
SELECT coalesce(sum(slow_count * weight), 0)
FROM db_statements
WHERE timestamp >= $start AND timestamp < $end
"""

OPERATION_OVERVIEW = """
SELECT
    sum(weight) AS total,
    sum(duration_ms * weight) / sum(weight) AS avg_ms,
    sum(complexity_score * weight) / sum(weight) FILTER (WHERE complexity_score IS NOT NULL)
        AS avg_complexity,
    max(complexity_score) AS max_complexity,
    coalesce(sum(weight) FILTER (WHERE complexity_score > $max_complexity), 0) AS high_complexity,
    coalesce(sum(weight) FILTER (WHERE duration_ms >= $slow_ms), 0) AS slow
FROM graphql_operations
WHERE timestamp >= $start AND timestamp < $end
"""

# Instances that sent a heartbeat since $live_since, with their start time.
LIVE_INSTANCES = """
SELECT instance_id, min(started_at) AS started_at
FROM service_instances
GROUP BY instance_id
HAVING max(last_seen) >= $live_since
"""

# One trend window: request count, mean duration, error rate and mean memory.
TREND_WINDOW = """
SELECT
    count(*) AS samples,
    sum(duration_ms * weight) / sum(weight) AS avg_ms,
    sum(CASE WHEN error THEN weight ELSE 0 END) / sum(weight) AS error_rate,
    sum(memory_usage_mb * weight) / sum(weight) FILTER (WHERE memory_usage_mb IS NOT NULL)
        AS avg_memory_mb,
    count(memory_usage_mb) AS memory_samples
FROM requests
WHERE timestamp >= $start AND timestamp < $end
"""

# -- alerts -----------------------------------------------------------------------------------
_SEVERITY_RANK = (
    "CASE severity WHEN 'info' THEN 1 WHEN 'warning' THEN 2 WHEN 'error' THEN 3 "
    "WHEN 'critical' THEN 4 ELSE 0 END"
)

# The newest row of each alert is the alert (the table is append-only).
_CURRENT_ALERTS = """
WITH current AS (
    SELECT * FROM alerts
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, occurrences DESC) = 1
)
"""

ALERTS_PAGE = (
    _CURRENT_ALERTS
    + """
SELECT id, type, severity, subject, message, details, first_seen, last_seen, occurrences,
       worst_value, resolved, resolved_at
FROM current
WHERE last_seen >= $start AND last_seen < $end AND """
    + _SEVERITY_RANK
    + """ >= $min_severity
ORDER BY last_seen DESC, id
LIMIT $limit OFFSET $offset
"""
)

ALERTS_COUNT = (
    _CURRENT_ALERTS
    + """
SELECT count(*)
FROM current
WHERE last_seen >= $start AND last_seen < $end AND """
    + _SEVERITY_RANK
    + """ >= $min_severity
"""
)

# -- slow_queries -----------------------------------------------------------------------------
SLOW_OPERATIONS_PAGE = """
SELECT span_id, operation_name, query_hash, duration_ms, complexity_score, database_queries,
       memory_usage_mb, cache_hits, cache_misses, timestamp, query_text, variables,
       parsing_ms, validation_ms, execution_ms, database_ms, cache_ms, operation_type,
       error, n_plus_one_count, endpoint
FROM graphql_operations
WHERE timestamp >= $start AND timestamp < $end AND duration_ms >= $slow_ms
ORDER BY duration_ms DESC, timestamp DESC, span_id
LIMIT $limit OFFSET $offset
"""

SLOW_OPERATIONS_SUMMARY = """
SELECT count(*) AS rows, sum(weight) AS total,
       sum(duration_ms * weight) / sum(weight) AS avg_ms, max(duration_ms) AS slowest_ms
FROM graphql_operations
WHERE timestamp >= $start AND timestamp < $end AND duration_ms >= $slow_ms
"""

# -- alert evaluation (the elected process) ---------------------------------------------------
# Occurrences are selected by when they *ended* (start + duration), in (since, until]: a row
# is written after its request ends, so "until" trails the clock by a settling time.
_ENDED = "timestamp + to_microseconds(CAST(duration_ms * 1000 AS BIGINT))"

OCCURRENCES_SLOW_QUERY = f"""
SELECT query_hash, any_value(operation_name) AS operation_name, count(*) AS count,
       max(duration_ms) AS worst, min({_ENDED}) AS first_seen, max({_ENDED}) AS last_seen
FROM graphql_operations
WHERE {_ENDED} > $since AND {_ENDED} <= $until AND duration_ms >= $threshold
GROUP BY query_hash
ORDER BY query_hash
"""

OCCURRENCES_HIGH_COMPLEXITY = f"""
SELECT query_hash, any_value(operation_name) AS operation_name, count(*) AS count,
       max(complexity_score) AS worst, min({_ENDED}) AS first_seen, max({_ENDED}) AS last_seen
FROM graphql_operations
WHERE {_ENDED} > $since AND {_ENDED} <= $until AND complexity_score > $threshold
GROUP BY query_hash
ORDER BY query_hash
"""

# The process's peak during a request: its RSS at the start plus the peak growth.
OCCURRENCES_MEMORY = f"""
SELECT service_instance, count(*) AS count, max(memory_usage_mb) AS worst,
       max(memory_usage_mb - memory_delta_mb + peak_memory_mb) AS peak,
       min({_ENDED}) AS first_seen, max({_ENDED}) AS last_seen
FROM requests
WHERE {_ENDED} > $since AND {_ENDED} <= $until AND memory_usage_mb >= $threshold
GROUP BY service_instance
ORDER BY service_instance
"""

OPEN_ALERTS = (
    _CURRENT_ALERTS
    + """
SELECT id, type, severity, subject, message, details, first_seen, last_seen, occurrences,
       worst_value, resolved, resolved_at, updated_at
FROM current
WHERE NOT resolved
"""
)
