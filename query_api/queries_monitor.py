"""SQL of the live monitor and of ``/metrics``, named and parameterised like ``queries.py``.

The Prometheus histograms count requests at or under each bucket bound (``le``): the bounds
are parameters ``$le0..$leN`` (seconds x 1000 = ms), so the statement has one fixed shape.
"""

from __future__ import annotations

# Prometheus' default buckets, in seconds.
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _buckets(column: str, prefix: str) -> str:
    return ",\n    ".join(
        f"coalesce(sum(weight) FILTER (WHERE {column} <= $le{i}), 0) AS {prefix}{i}"
        for i in range(len(BUCKETS_S))
    )


def bucket_params() -> dict[str, float]:
    return {f"le{i}": le * 1000.0 for i, le in enumerate(BUCKETS_S)}


# Totals per (endpoint, method, status) of the requests stored in [$since, $until): what the
# counters and histograms of /metrics are made of (and what retention folds into the base).
# The column order is the order of prometheus.FIELDS.
REQUEST_TOTALS = f"""
SELECT endpoint, method, CAST(status_code AS VARCHAR) AS status,
    sum(weight) AS count,
    coalesce(sum(duration_ms * weight), 0) / 1000.0 AS duration_sum,
    {_buckets("duration_ms", "d")},
    coalesce(sum(db_count * weight), 0) AS db_queries,
    coalesce(sum(db_time_ms * weight), 0) / 1000.0 AS db_time_sum,
    {_buckets("coalesce(db_time_ms, 0)", "q")},
    coalesce(sum(weight) FILTER (WHERE n_plus_one_count > 0), 0) AS n_plus_one
FROM requests
WHERE timestamp >= $since AND timestamp < $until
GROUP BY ALL
"""

# Requests with an N+1 finding among the recent ones (a gauge).
RECENT_N_PLUS_ONE = """
SELECT coalesce(sum(weight) FILTER (WHERE n_plus_one_count > 0), 0)
FROM requests
WHERE timestamp >= $since
"""

# The newest system sample of any host (the monitor's system line).
LATEST_SYSTEM_SAMPLE = """
SELECT timestamp, host_name, cpu_percent, memory_percent, disk_percent, process_rss_bytes
FROM system_samples
ORDER BY timestamp DESC, host_name
LIMIT 1
"""

# Open alerts, most severe and newest first (the monitor's alert panel).
OPEN_ALERTS_TOP = """
WITH current AS (
    SELECT * FROM alerts
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, occurrences DESC) = 1
)
SELECT type, severity, subject, message, last_seen
FROM current
WHERE NOT resolved
ORDER BY CASE severity WHEN 'critical' THEN 4 WHEN 'error' THEN 3 WHEN 'warning' THEN 2
         ELSE 1 END DESC, last_seen DESC, id
LIMIT $limit
"""

INSERT_SNAPSHOT_COLUMNS = (
    "timestamp",
    "window_s",
    "requests",
    "request_rate",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "error_rate",
    "open_alerts",
    "cpu_percent",
    "memory_percent",
)
