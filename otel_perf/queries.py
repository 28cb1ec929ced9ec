"""Named SQL for the CLI's own summaries (the reports' SQL lives in ``query_api``)."""

from query_api.weighted import weighted

ENDPOINT_SUMMARY = """
SELECT endpoint,
       sum(weight)::BIGINT                                    AS requests,
       round(quantile_cont(duration_ms, 0.50), 1)             AS p50_ms,
       round(quantile_cont(duration_ms, 0.95), 1)             AS p95_ms,
       round(quantile_cont(duration_ms, 0.99), 1)             AS p99_ms,
       sum(weight * error::INTEGER)::BIGINT                   AS errors,
       round(sum(weight * db_count) / sum(weight), 2)         AS db_per_request,
       sum(weight * (n_plus_one_count > 0)::INTEGER)::BIGINT  AS with_n_plus_one
FROM requests
GROUP BY endpoint
ORDER BY requests DESC, endpoint
"""

OVERALL_SUMMARY = """
SELECT sum(weight)::BIGINT                                  AS requests,
       round(quantile_cont(duration_ms, 0.50), 1)           AS p50_ms,
       round(quantile_cont(duration_ms, 0.95), 1)           AS p95_ms,
       round(quantile_cont(duration_ms, 0.99), 1)           AS p99_ms,
       sum(weight * error::INTEGER)::BIGINT                 AS errors,
       round(sum(weight * db_count) / sum(weight), 2)       AS db_per_request,
       count(DISTINCT service_instance)                     AS processes
FROM requests
"""

N_PLUS_ONE_FINDINGS = """
SELECT endpoint,
       statement,
       sum(weight)::BIGINT          AS requests,
       max(executions)              AS executions_per_request
FROM n_plus_one
GROUP BY endpoint, statement
ORDER BY requests DESC, endpoint
LIMIT ?
"""

# Weighted twins (query_api/weighted.py): run instead when the store has sampled rows.
ENDPOINT_SUMMARY_WEIGHTED = weighted(ENDPOINT_SUMMARY)
OVERALL_SUMMARY_WEIGHTED = weighted(OVERALL_SUMMARY)
