"""Named SQL over ``pool_samples`` (SQLAlchemy connection pools, processors/sqlalchemy_pool.py).

Each row is one pool of one process over one sampling interval: ``usage`` is the interval's
peak checked-out count over pool_size + max_overflow (null for unbounded pools); waits, wait
times and timeouts are the interval's. Windows are [$start, $end) on the sample time.
"""

from __future__ import annotations

# stats' connection_pool_usage: the mean of the sampled usage, every bounded pool of every
# process in the period (each sample is its interval's peak). The report reads it from the
# hourly totals (queries.STATS_TOTALS); this is the reference the tests hold them to.
POOL_USAGE = """
SELECT avg(usage) AS usage, count(*) AS samples
FROM pool_samples
WHERE timestamp >= $start AND timestamp < $end AND usage IS NOT NULL
"""

# The database report's pool section: one row per pool (its name: the engine URL without
# credentials), over every process that has it.
POOL_SUMMARY = """
SELECT pool_name,
       count(DISTINCT service_instance) AS processes,
       count(*) AS samples,
       max(size) AS size,
       max(max_overflow) AS max_overflow,
       avg(usage) AS avg_usage,
       max(usage) AS peak_usage,
       count(*) FILTER (WHERE usage >= 1.0) AS exhausted_samples,
       sum(waits) AS waits,
       sum(wait_ms_total) AS wait_ms_total,
       max(wait_ms_max) AS wait_ms_max,
       sum(timeouts) AS timeouts,
       arg_max(checked_out, timestamp) AS last_checked_out,
       max(timestamp) AS last_seen
FROM pool_samples
WHERE timestamp >= $start AND timestamp < $end
GROUP BY pool_name
ORDER BY peak_usage DESC NULLS LAST, pool_name
LIMIT $limit
"""

# pool_exhausted: pools whose usage reached 1.0 in the window (every checkout slot taken).
POOL_EXHAUSTION = """
SELECT pool_name,
       count(*) FILTER (WHERE usage >= 1.0) AS exhausted_samples,
       count(*) AS samples,
       max(size) AS size,
       max(max_overflow) AS max_overflow,
       sum(waits) AS waits,
       max(wait_ms_max) AS wait_ms_max,
       sum(timeouts) AS timeouts,
       list_sort(list(DISTINCT service_instance) FILTER (WHERE usage >= 1.0))[1:5] AS instances,
       min(timestamp) FILTER (WHERE usage >= 1.0) AS first_seen,
       max(timestamp) FILTER (WHERE usage >= 1.0) AS last_seen
FROM pool_samples
WHERE timestamp >= $start AND timestamp < $end AND usage IS NOT NULL
GROUP BY pool_name
HAVING max(usage) >= 1.0
ORDER BY pool_name
"""

# pool_long_wait: pools where a checkout waited at least $threshold ms for a connection.
POOL_LONG_WAITS = """
SELECT pool_name,
       max(wait_ms_max) AS wait_ms_max,
       sum(waits) AS waits,
       sum(wait_ms_total) / nullif(sum(waits), 0) AS avg_wait_ms,
       sum(timeouts) AS timeouts,
       max(size) AS size,
       max(max_overflow) AS max_overflow,
       list_sort(list(DISTINCT service_instance) FILTER (WHERE wait_ms_max >= $threshold))[1:5]
           AS instances,
       min(timestamp) FILTER (WHERE wait_ms_max >= $threshold) AS first_seen,
       max(timestamp) FILTER (WHERE wait_ms_max >= $threshold) AS last_seen
FROM pool_samples
WHERE timestamp >= $start AND timestamp < $end
GROUP BY pool_name
HAVING max(wait_ms_max) >= $threshold
ORDER BY pool_name
"""

# otel-perf demo --app fastapi: each pool over the run (every process).
DEMO_POOLS = """
SELECT pool_name, count(DISTINCT service_instance) AS processes, max(size) AS size,
       max(max_overflow) AS max_overflow, round(max(usage), 2) AS peak_usage,
       sum(waits) AS waits, round(max(wait_ms_max), 1) AS max_wait_ms, sum(timeouts) AS timeouts
FROM pool_samples
GROUP BY pool_name
ORDER BY pool_name
"""
