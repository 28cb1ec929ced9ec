"""Every SQL statement the reports run, named and parameterised (``$name`` parameters).

Time filters are half-open: ``$start <= timestamp < $end``; the reports always pass both
bounds (open ends become far-away dates), so each statement has one shape and one plan.
Weighted figures use ``weight`` (1 while every request is stored; 1/rate under sampling).
"""

import functools

from otel_perf.storage import rollup as _rollup
from query_api.weighted import weighted, written_twin

# -- stats ------------------------------------------------------------------------------------
# REQUEST_OVERVIEW and SLOW_DB_STATEMENTS: stats' request and DB figures straight from the rows.
# The report reads them from the hourly totals (STATS_TOTALS*, below); these are the reference
# the tests hold the totals to.
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

# Stats' request, DB statement, GraphQL operation and pool totals of [$start, $end): its whole
# hours [$a, $b) from the hourly totals (otel_perf/storage/rollup.py), the partial hours at
# either end from the rows, with the very sums the totals hold. Same figures as
# REQUEST_OVERVIEW + SLOW_DB_STATEMENTS + OPERATION_OVERVIEW + POOL_USAGE (tested), without
# reading every row. The GraphQL slow and high-complexity counts hold only when every total
# counted them with the reader's thresholds ($slow_ms, $max_complexity): ``op_thresholds_match``
# says so (else the report counts them over the rows).
#
# ``stats_totals(first, last, sources)``: the variant that reads the rows of the first partial
# hour [$start, $a) and/or of the last [$b, $end), of the ``sources`` tables only: the report
# asks the totals first which tables have rows in those hours (EDGE_ROWS). Each table read
# costs even when it finds no row: on a SQLite-catalog DuckLake, 14-46 ms per table at 10M
# requests, most for an empty table whose rows would be inlined (2026-12-06). Each edge is its
# own range: DuckDB skips row groups by their timestamp bounds for a range, not for an OR of
# two (measured on a 1M-request .duckdb file: 8 ms against 39 ms for the same rows).
# Divisions go through ``nullif``: hours whose rows retention deleted add up to 0, and 0 / 0 is
# NaN in DuckDB.
_ROLLUP_EDGES = ("timestamp >= $start AND timestamp < $a", "timestamp >= $b AND timestamp < $end")

# Rows per source table in the hours the partial edges touch: [$f1, $f2) and [$l1, $l2).
EDGE_ROWS = (
    "SELECT "
    + ", ".join(f"coalesce(sum({column}), 0) AS {table}" for table, column in
                _rollup.ROW_COUNTS.items())
    + f" FROM {_rollup.TABLE} WHERE (hour >= $f1 AND hour < $f2) OR (hour >= $l1 AND hour < $l2)"
)  # fmt: skip


@functools.cache
def stats_totals(first: bool, last: bool, sources: tuple[str, ...] = tuple(_rollup.SOURCES)) -> str:
    names = [name for name, _ in _rollup.COLUMNS[1:]]
    parts = [f"SELECT {', '.join(names)} FROM {_rollup.TABLE} WHERE hour >= $a AND hour < $b"]
    edges = [edge for edge, read in zip(_ROLLUP_EDGES, (first, last), strict=True) if read]
    for table in sources:
        select = _rollup.select_sums(table)
        parts += [f"SELECT {select} FROM {table} WHERE {edge}" for edge in edges]
    return (
        "WITH parts AS (\n    "
        + "\n    UNION ALL BY NAME\n    ".join(parts)
        + """
)
SELECT
    sum(weight) AS total,
    sum(duration_ms_w) / nullif(sum(weight), 0) AS avg_ms,
    sum(error_w) / nullif(sum(weight), 0) AS error_rate,
    sum(db_time_ms_w) / nullif(sum(weight), 0) AS avg_db_ms,
    sum(cache_time_ms_w) / nullif(sum(weight), 0) AS avg_cache_ms,
    sum(memory_usage_mb_w) / nullif(sum(memory_weight), 0) AS avg_memory_mb,
    sum(cache_hits_w) AS cache_hits,
    sum(cache_misses_w) AS cache_misses,
    sum(db_count_w) / nullif(sum(weight), 0) AS avg_queries,
    coalesce(sum(db_slow_w), 0) AS slow_db,
    sum(op_weight) AS op_total,
    sum(op_duration_ms_w) / nullif(sum(op_weight), 0) AS op_avg_ms,
    sum(op_complexity_w) / nullif(sum(op_complexity_weight), 0) AS op_avg_complexity,
    max(op_complexity_max) AS op_max_complexity,
    coalesce(sum(op_high_complexity_w), 0) AS op_high_complexity,
    coalesce(sum(op_slow_w), 0) AS op_slow,
    coalesce(
        bool_and(op_slow_ms = $slow_ms AND op_complexity_limit = $max_complexity)
            FILTER (WHERE op_samples IS NOT NULL),
        true
    ) AS op_thresholds_match,
    sum(pool_usage_sum) / nullif(sum(pool_usage_n), 0) AS pool_usage,
    coalesce(sum(pool_usage_n), 0) AS pool_samples
FROM parts
"""
    )


# Both trend windows ([$start, $middle) and [$middle, $end)) in one read: a row per window
# that has requests, ``current`` telling which.
TREND_WINDOWS = """
SELECT
    timestamp >= $middle AS current,
    count(*) AS samples,
    sum(duration_ms * weight) / sum(weight) AS avg_ms,
    sum(CASE WHEN error THEN weight ELSE 0 END) / sum(weight) AS error_rate,
    sum(memory_usage_mb * weight) / sum(weight) FILTER (WHERE memory_usage_mb IS NOT NULL)
        AS avg_memory_mb,
    count(memory_usage_mb) AS memory_samples
FROM requests
WHERE timestamp >= $start AND timestamp < $end
GROUP BY current
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
       worst_value, resolved, resolved_at, count(*) OVER () AS total
FROM current
WHERE last_seen >= $start AND last_seen < $end AND """
    + _SEVERITY_RANK
    + """ >= $min_severity
ORDER BY last_seen DESC, id
LIMIT $limit OFFSET $offset
"""
)

# Only when the page is empty (offset past the end): the page query carries the total
# otherwise, which saves a second read of the table (measured: about 40 ms on DuckLake).
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
# The page and the summary in one statement: the summary's figures on every row, and one row
# of NULL page columns when the page is empty. Two forms, by store kind:
#
# - DuckLake (SLOW_OPERATIONS): one read of the table, as DuckLake costs each table read a few
#   ms before any row (about 3 ms on a 10M store against 0.4 ms for its Parquet file read
#   directly, 2026-12-06). ``slow`` is read twice, so DuckDB
#   materialises it: every column of every slow operation.
# - a plain .duckdb file (SLOW_OPERATIONS_TWO_READS): the summary reads three narrow columns,
#   and the page is a plain top-N, which DuckDB answers by row id, fetching the wide columns
#   (document text, variables) of the page's rows only. The file is opened per request, so its
#   blocks are read afresh each time, and materialising the wide columns of every slow
#   operation cost more than the second read: at 10M requests (1M operations, 29,538 slow),
#   48 ms against 59 ms per query, medians of 7, and the report's p95 123 ms with the one-read
#   form (benchmarks.reports, 2026-12-06). On DuckLake the two reads cost 57 ms against 38.
_SLOW_WHERE = "timestamp >= $start AND timestamp < $end AND duration_ms >= $slow_ms"
_SLOW_COLUMNS = """span_id, operation_name, query_hash, duration_ms, complexity_score,
           database_queries, memory_usage_mb, cache_hits, cache_misses, timestamp, query_text,
           variables, parsing_ms, validation_ms, execution_ms, database_ms, cache_ms,
           operation_type, error, n_plus_one_count, endpoint"""
_SLOW_SUMMARY = """SELECT count(*) AS rows, sum(weight) AS total,
           sum(duration_ms * weight) / sum(weight) AS avg_ms, max(duration_ms) AS slowest_ms"""
_SLOW_ORDER = "duration_ms DESC, timestamp DESC, span_id"

SLOW_OPERATIONS = f"""
WITH slow AS (
    SELECT * FROM graphql_operations
    WHERE {_SLOW_WHERE}
), summary AS (
    {_SLOW_SUMMARY}
    FROM slow
), page AS (
    SELECT {_SLOW_COLUMNS}
    FROM slow
    ORDER BY {_SLOW_ORDER}
    LIMIT $limit OFFSET $offset
)
SELECT * FROM summary LEFT JOIN page ON true
ORDER BY page.duration_ms DESC, page.timestamp DESC, page.span_id
"""

# "ducklake" or "duckdb": the kind of store the cursor reads.
STORE_TYPE = "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"

SLOW_OPERATIONS_TWO_READS = f"""
WITH summary AS (
    {_SLOW_SUMMARY}
    FROM graphql_operations
    WHERE {_SLOW_WHERE}
), page AS (
    SELECT {_SLOW_COLUMNS}
    FROM graphql_operations
    WHERE {_SLOW_WHERE}
    ORDER BY {_SLOW_ORDER}
    LIMIT $limit OFFSET $offset
)
SELECT * FROM summary LEFT JOIN page ON true
ORDER BY page.duration_ms DESC, page.timestamp DESC, page.span_id
"""

# -- alert evaluation (the elected process) ---------------------------------------------------
# Each statement exists in two forms. On a DuckLake store, evaluation reads exactly the rows
# inserted between two catalog snapshots (``ducklake_table_insertions``), so a row committed
# late by a busy worker is still evaluated once. On a plain .duckdb file (one process) it reads
# the rows that *ended* (start + duration) in (since, until], "until" trailing the clock by a
# settling time for rows still in the writer's queue.
_ENDED = "timestamp + to_microseconds(CAST(duration_ms * 1000 AS BIGINT))"
_BY_TIME = f"{_ENDED} > $since AND {_ENDED} <= $until"


def _inserted(table: str) -> str:
    return f"ducklake_table_insertions('perf', 'main', '{table}', $from_snapshot, $to_snapshot)"


def _both(template: str, table: str) -> tuple[str, str]:
    """(by time window, by snapshot range) forms of one occurrence query."""
    return (
        template.format(source=table, window=_BY_TIME, ended=_ENDED),
        template.format(source=_inserted(table), window="true", ended=_ENDED),
    )


OCCURRENCES_SLOW_QUERY = _both(
    """
SELECT query_hash, any_value(operation_name) AS operation_name, count(*) AS count,
       max(duration_ms) AS worst, min({ended}) AS first_seen, max({ended}) AS last_seen
FROM {source}
WHERE {window} AND duration_ms >= $threshold
GROUP BY query_hash
ORDER BY query_hash
""",
    "graphql_operations",
)

OCCURRENCES_HIGH_COMPLEXITY = _both(
    """
SELECT query_hash, any_value(operation_name) AS operation_name, count(*) AS count,
       max(complexity_score) AS worst, min({ended}) AS first_seen, max({ended}) AS last_seen
FROM {source}
WHERE {window} AND complexity_score > $threshold
GROUP BY query_hash
ORDER BY query_hash
""",
    "graphql_operations",
)

# The process's peak during a request: its RSS at the start plus the peak growth.
OCCURRENCES_MEMORY = _both(
    """
SELECT service_instance, count(*) AS count, max(memory_usage_mb) AS worst,
       max(memory_usage_mb - memory_delta_mb + peak_memory_mb) AS peak,
       min({ended}) AS first_seen, max({ended}) AS last_seen
FROM {source}
WHERE {window} AND memory_usage_mb >= $threshold
GROUP BY service_instance
ORDER BY service_instance
""",
    "requests",
)

CURRENT_SNAPSHOT = "SELECT id FROM ducklake_current_snapshot('perf')"
# How many snapshots of [$first, $last] maintenance has not expired (ids are consecutive).
SNAPSHOTS_KEPT = """
SELECT count(*) FROM ducklake_snapshots('perf') WHERE snapshot_id BETWEEN $first AND $last
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

# -- REST reports (seeds 001/003/004) ----------------------------------------------------------
# Percentiles are exact (quantile_cont) over the stored rows. A statement with percentiles has
# a weighted twin (``*_WEIGHTED``, query_api/weighted.py) that the reports run instead when the
# period holds sampled rows (OTEL_PERF_STORE_SAMPLE_RATE < 1).
_REQUEST_FIGURES = """
    sum(weight) AS count,
    sum(duration_ms * weight) / sum(weight) AS avg_ms,
    min(duration_ms) AS min_ms,
    max(duration_ms) AS max_ms,
    quantile_cont(duration_ms, 0.5) AS p50_ms,
    quantile_cont(duration_ms, 0.95) AS p95_ms,
    quantile_cont(duration_ms, 0.99) AS p99_ms,
    sum(CASE WHEN error THEN weight ELSE 0 END) / sum(weight) AS error_rate,
    sum(CASE WHEN status_code BETWEEN 400 AND 499 THEN weight ELSE 0 END) / sum(weight)
        AS client_error_rate,
    sum(db_count * weight) / sum(weight) AS avg_db_queries,
    sum(db_time_ms * weight) / sum(weight) AS avg_db_time_ms,
    sum(CASE WHEN is_slow THEN weight ELSE 0 END) AS slow_requests,
    sum(CASE WHEN n_plus_one_count > 0 THEN weight ELSE 0 END) AS n_plus_one_requests,
    sum(cache_hits * weight) AS cache_hits,
    sum(cache_misses * weight) AS cache_misses
"""

_REQUEST_WINDOW = "timestamp >= $start AND timestamp < $end AND ($method = '' OR method = $method)"

REQUEST_FIGURES = f"""
SELECT {_REQUEST_FIGURES}
FROM requests
WHERE {_REQUEST_WINDOW}
"""

ENDPOINT_FIGURES = f"""
SELECT endpoint, any_value(method) AS method, any_value(route) AS route, {_REQUEST_FIGURES}
FROM requests
WHERE {_REQUEST_WINDOW}
GROUP BY endpoint
ORDER BY count DESC, endpoint
LIMIT $top_n
"""

ONE_ENDPOINT_FIGURES = f"""
SELECT {_REQUEST_FIGURES}
FROM requests
WHERE {_REQUEST_WINDOW} AND endpoint = $endpoint
"""

ENDPOINT_TIME_SERIES = f"""
SELECT time_bucket(to_seconds($bucket_s), timestamp) AS bucket,
       sum(weight) AS count,
       sum(duration_ms * weight) / sum(weight) AS avg_ms,
       quantile_cont(duration_ms, 0.95) AS p95_ms,
       sum(CASE WHEN error THEN weight ELSE 0 END) / sum(weight) AS error_rate
FROM requests
WHERE {_REQUEST_WINDOW} AND endpoint = $endpoint
GROUP BY bucket
ORDER BY bucket
"""

SLOW_REQUESTS_PAGE = """
SELECT timestamp, trace_id, span_id, endpoint, method, path, status_code, duration_ms,
       db_count, db_time_ms, n_plus_one_count, memory_delta_mb, user_id,
       graphql_operation_name, is_very_slow
FROM requests
WHERE timestamp >= $start AND timestamp < $end AND is_slow
ORDER BY duration_ms DESC, timestamp DESC
LIMIT $limit OFFSET $offset
"""

SLOW_REQUESTS_COUNT = """
SELECT count(*) FROM requests WHERE timestamp >= $start AND timestamp < $end AND is_slow
"""

# Statements by total time. ``requests``: the requests that ran one, by trace. Under store
# sampling the twin below weighs each request once instead.
TOP_STATEMENTS = """
SELECT fingerprint, any_value(statement) AS statement, any_value(db_system) AS db_system,
       sum(calls * weight) AS calls, sum(total_ms * weight) AS total_ms, max(max_ms) AS max_ms,
       sum(slow_count * weight) AS slow_count, count(DISTINCT trace_id) AS requests,
       list_sort(list(DISTINCT endpoint))[1:5] AS endpoints
FROM db_statements
WHERE timestamp >= $start AND timestamp < $end
GROUP BY fingerprint
ORDER BY total_ms DESC, fingerprint
LIMIT $limit
"""

# A request can have several rows of one fingerprint (other statement texts, other GraphQL
# fields): one row per (fingerprint, request) first, so that ``requests`` sums each request's
# weight once (docs/sampling.md). Only for sampled periods: on 10M requests (26M statement
# rows) it took 21-33 s against 7-8 s for the plain statement (2026-11-25).
TOP_STATEMENTS_WEIGHTED = written_twin(
    TOP_STATEMENTS,
    """
WITH per_request AS (
    SELECT fingerprint, any_value(statement) AS statement, any_value(db_system) AS db_system,
           sum(calls * weight) AS calls, sum(total_ms * weight) AS total_ms,
           max(max_ms) AS max_ms, sum(slow_count * weight) AS slow_count,
           any_value(weight) AS weight, any_value(endpoint) AS endpoint
    FROM db_statements
    WHERE timestamp >= $start AND timestamp < $end
    GROUP BY fingerprint, trace_id, span_id
)
SELECT fingerprint, any_value(statement) AS statement, any_value(db_system) AS db_system,
       sum(calls) AS calls, sum(total_ms) AS total_ms, max(max_ms) AS max_ms,
       sum(slow_count) AS slow_count, sum(weight) AS requests,
       list_sort(list(DISTINCT endpoint))[1:5] AS endpoints
FROM per_request
GROUP BY fingerprint
ORDER BY total_ms DESC, fingerprint
LIMIT $limit
""",
    "db_statements",
)

N_PLUS_ONE_FINDINGS = """
SELECT fingerprint, any_value(statement) AS statement, endpoint, graphql_operation_name,
       graphql_field_path, sum(weight) AS requests, max(executions) AS max_executions,
       sum(total_ms * weight) AS total_ms, any_value(suggestion) AS suggestion,
       max(timestamp) AS last_seen
FROM n_plus_one
WHERE timestamp >= $start AND timestamp < $end
GROUP BY fingerprint, endpoint, graphql_operation_name, graphql_field_path
ORDER BY requests DESC, total_ms DESC, fingerprint
LIMIT $limit
"""

DB_TOTALS = """
SELECT coalesce(sum(calls * weight), 0) AS statements, coalesce(sum(total_ms * weight), 0)
       AS total_ms, coalesce(sum(slow_count * weight), 0) AS slow_statements
FROM db_statements
WHERE timestamp >= $start AND timestamp < $end
"""

USER_FIGURES = """
SELECT user_id, sum(weight) AS count, sum(duration_ms * weight) / sum(weight) AS avg_ms,
       quantile_cont(duration_ms, 0.95) AS p95_ms,
       sum(CASE WHEN error THEN weight ELSE 0 END) / sum(weight) AS error_rate,
       sum(db_count * weight) / sum(weight) AS avg_db_queries, max(timestamp) AS last_seen
FROM requests
WHERE timestamp >= $start AND timestamp < $end AND user_id IS NOT NULL
GROUP BY user_id
ORDER BY count DESC, user_id
LIMIT $top_n
"""

USER_TOTALS = """
SELECT count(DISTINCT user_id) AS users,
       coalesce(sum(weight) FILTER (WHERE user_id IS NULL), 0) AS anonymous_requests
FROM requests
WHERE timestamp >= $start AND timestamp < $end
"""


LATEST_SYSTEM_SAMPLES = """
SELECT host_name, arg_max(cpu_percent, timestamp) AS cpu_percent,
       arg_max(memory_percent, timestamp) AS memory_percent,
       arg_max(disk_percent, timestamp) AS disk_percent, max(timestamp) AS timestamp
FROM system_samples
WHERE timestamp >= $since
GROUP BY host_name
ORDER BY host_name
"""

OPEN_ALERT_COUNTS = (
    _CURRENT_ALERTS
    + """
SELECT severity, count(*) AS count FROM current WHERE NOT resolved GROUP BY severity
"""
)

GRAPHQL_FIGURES = """
SELECT sum(weight) AS count, sum(duration_ms * weight) / sum(weight) AS avg_ms,
       quantile_cont(duration_ms, 0.95) AS p95_ms,
       sum(CASE WHEN error THEN weight ELSE 0 END) / sum(weight) AS error_rate
FROM graphql_operations
WHERE timestamp >= $start AND timestamp < $end
"""


# -- weighted twins (query_api/weighted.py): run instead when the period has sampled rows ----
REQUEST_FIGURES_WEIGHTED = weighted(REQUEST_FIGURES)
ENDPOINT_FIGURES_WEIGHTED = weighted(ENDPOINT_FIGURES)
ONE_ENDPOINT_FIGURES_WEIGHTED = weighted(ONE_ENDPOINT_FIGURES)
ENDPOINT_TIME_SERIES_WEIGHTED = weighted(
    ENDPOINT_TIME_SERIES, partition="time_bucket(to_seconds($bucket_s), timestamp)"
)
USER_FIGURES_WEIGHTED = weighted(USER_FIGURES)
GRAPHQL_FIGURES_WEIGHTED = weighted(GRAPHQL_FIGURES)
