"""The store's schema, versioned, with migrations applied when a writer attaches.

Frequently read facts are real columns (JSON extraction measured about 10x slower than a
column). Ids are compact: trace ids as 16-byte BLOBs, span ids as UBIGINT. Times are UTC
``TIMESTAMP`` (microseconds); durations are milliseconds (``*_ms``), memory MiB (``*_mb``).
DuckLake has no constraints or defaults, so every writer supplies every column.
"""

from __future__ import annotations

from otel_perf.storage import rollup

SCHEMA_VERSION = 6

# Column lists are the single source for the DDL and for the writer's Arrow schemas.
REQUESTS = (
    ("timestamp", "TIMESTAMP"),  # request start, UTC
    ("trace_id", "BLOB"),
    ("span_id", "UBIGINT"),
    ("service_name", "VARCHAR"),
    ("service_instance", "VARCHAR"),
    ("service_version", "VARCHAR"),
    ("deployment_environment", "VARCHAR"),
    ("host_name", "VARCHAR"),
    ("endpoint", "VARCHAR"),  # "METHOD /route" or "METHOD (unmatched)"
    ("method", "VARCHAR"),
    ("route", "VARCHAR"),
    ("path", "VARCHAR"),  # URL path, never the query string
    ("status_code", "SMALLINT"),
    ("error", "BOOLEAN"),  # status >= 500 or an unhandled exception
    ("duration_ms", "DOUBLE"),
    ("db_count", "INTEGER"),
    ("db_time_ms", "DOUBLE"),
    ("db_slow_count", "INTEGER"),
    ("db_slowest_ms", "DOUBLE"),
    ("db_slowest_fingerprint", "BIGINT"),
    ("cache_hits", "INTEGER"),
    ("cache_misses", "INTEGER"),
    ("cache_time_ms", "DOUBLE"),
    ("n_plus_one_count", "INTEGER"),  # number of N+1 findings in this request
    ("is_slow", "BOOLEAN"),
    ("is_very_slow", "BOOLEAN"),
    ("memory_usage_mb", "DOUBLE"),
    ("memory_delta_mb", "DOUBLE"),
    ("peak_memory_mb", "DOUBLE"),
    ("user_id", "VARCHAR"),  # pseudonym unless OTEL_PERF_USER_IDS=raw
    ("tenant", "VARCHAR"),
    ("graphql_operation_name", "VARCHAR"),
    ("graphql_operation_type", "VARCHAR"),
    ("graphql_query_hash", "VARCHAR"),
    ("graphql_complexity", "INTEGER"),
    ("weight", "DOUBLE"),  # 1 when every request is kept; 1/rate under sampling
)

# One row per (request, statement fingerprint): counts and times, never literal values.
DB_STATEMENTS = (
    ("timestamp", "TIMESTAMP"),
    ("trace_id", "BLOB"),
    ("span_id", "UBIGINT"),  # the request's root span
    ("service_name", "VARCHAR"),
    ("endpoint", "VARCHAR"),
    ("fingerprint", "BIGINT"),
    ("statement", "VARCHAR"),  # normalized: literals replaced by ?
    ("db_system", "VARCHAR"),
    ("calls", "INTEGER"),
    ("total_ms", "DOUBLE"),
    ("max_ms", "DOUBLE"),
    ("slow_count", "INTEGER"),
    ("graphql_field_path", "VARCHAR"),
    ("weight", "DOUBLE"),
)

N_PLUS_ONE = (
    ("timestamp", "TIMESTAMP"),
    ("trace_id", "BLOB"),
    ("span_id", "UBIGINT"),
    ("service_name", "VARCHAR"),
    ("endpoint", "VARCHAR"),
    ("fingerprint", "BIGINT"),
    ("statement", "VARCHAR"),
    ("executions", "INTEGER"),
    ("total_ms", "DOUBLE"),
    ("graphql_operation_name", "VARCHAR"),
    ("graphql_field_path", "VARCHAR"),
    ("suggestion", "VARCHAR"),
    ("weight", "DOUBLE"),
)

# Functions recorded with @otel_perf.track outside requests (never mixed into request counts).
OPERATIONS = (
    ("timestamp", "TIMESTAMP"),
    ("trace_id", "BLOB"),
    ("span_id", "UBIGINT"),
    ("service_name", "VARCHAR"),
    ("service_instance", "VARCHAR"),
    ("host_name", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("name", "VARCHAR"),
    ("duration_ms", "DOUBLE"),
    ("error", "BOOLEAN"),
    ("db_count", "INTEGER"),
    ("db_time_ms", "DOUBLE"),
    ("n_plus_one_count", "INTEGER"),
    ("memory_usage_mb", "DOUBLE"),
    ("memory_delta_mb", "DOUBLE"),
    ("weight", "DOUBLE"),
)

# One row per GraphQL operation executed inside a request or tracked operation (schema 2).
# parsing_ms + validation_ms + execution_ms make up duration_ms (the operation span runs from
# the start of parsing to the end of execution; the small gaps between the three are the
# server's own work). database_ms and cache_ms are time inside the operation.
GRAPHQL_OPERATIONS = (
    ("timestamp", "TIMESTAMP"),
    ("trace_id", "BLOB"),
    ("span_id", "UBIGINT"),  # the operation's span
    ("root_span_id", "UBIGINT"),  # the request's (or tracked operation's) root span
    ("service_name", "VARCHAR"),
    ("service_instance", "VARCHAR"),
    ("host_name", "VARCHAR"),
    ("endpoint", "VARCHAR"),
    ("operation_name", "VARCHAR"),
    ("operation_type", "VARCHAR"),  # query | mutation | subscription; null when unparseable
    ("query_hash", "VARCHAR"),  # hash of the normalized signature
    ("operation_id", "VARCHAR"),  # Apollo-compatible operation id
    ("query_text", "VARCHAR"),  # the document, literal values hidden
    ("variables", "VARCHAR"),  # JSON text, redacted by key
    ("complexity_score", "INTEGER"),
    ("depth", "INTEGER"),
    ("alias_count", "INTEGER"),
    ("duration_ms", "DOUBLE"),
    ("parsing_ms", "DOUBLE"),
    ("validation_ms", "DOUBLE"),
    ("execution_ms", "DOUBLE"),
    ("database_ms", "DOUBLE"),
    ("database_queries", "INTEGER"),
    ("cache_ms", "DOUBLE"),
    ("cache_hits", "INTEGER"),
    ("cache_misses", "INTEGER"),
    ("memory_usage_mb", "DOUBLE"),
    ("memory_delta_mb", "DOUBLE"),
    ("error", "BOOLEAN"),  # the response carried GraphQL errors (or the operation raised)
    ("error_count", "INTEGER"),
    ("n_plus_one_count", "INTEGER"),
    ("is_slow", "BOOLEAN"),  # duration_ms >= OTEL_PERF_SLOW_QUERY_MS
    ("weight", "DOUBLE"),
)

# A heartbeat row per process per minute: start time, last seen, and the writer's counters.
SERVICE_INSTANCES = (
    ("instance_id", "VARCHAR"),
    ("service_name", "VARCHAR"),
    ("service_version", "VARCHAR"),
    ("deployment_environment", "VARCHAR"),
    ("host_name", "VARCHAR"),
    ("pid", "INTEGER"),
    ("started_at", "TIMESTAMP"),
    ("last_seen", "TIMESTAMP"),
    ("requests_written", "BIGINT"),
    ("requests_dropped", "BIGINT"),
    ("traces_evicted", "BIGINT"),
    ("write_errors", "BIGINT"),
    # Left out by OTEL_PERF_STORE_SAMPLE_RATE (not lost: their weight is on the kept ones).
    ("requests_sampled_out", "BIGINT"),
)

# Filled by the alert evaluator (query API and alerts issues).
ALERTS = (
    ("id", "VARCHAR"),
    ("type", "VARCHAR"),
    ("severity", "VARCHAR"),
    ("subject", "VARCHAR"),
    ("message", "VARCHAR"),
    ("details", "VARCHAR"),  # JSON text: shown, never filtered on
    ("first_seen", "TIMESTAMP"),
    ("last_seen", "TIMESTAMP"),
    ("occurrences", "INTEGER"),
    ("worst_value", "DOUBLE"),
    ("resolved", "BOOLEAN"),
    ("resolved_at", "TIMESTAMP"),
    # Append-only: each change of an alert is a new row; the newest per id is the alert
    # (no UPDATEs racing between processes, no delete files to compact). Schema 2.
    ("updated_at", "TIMESTAMP"),
)

# Host metrics, one row per host per sampling interval, from the elected sampler of each host
# (or, later, OTLP metrics of remote hosts: ``source``). Disk figures are the data folder's.
SYSTEM_SAMPLES = (
    ("timestamp", "TIMESTAMP"),
    ("host_name", "VARCHAR"),
    ("cpu_percent", "DOUBLE"),
    ("memory_percent", "DOUBLE"),
    ("memory_available_bytes", "BIGINT"),
    ("disk_percent", "DOUBLE"),
    ("disk_free_bytes", "BIGINT"),
    ("process_rss_bytes", "BIGINT"),
    ("process_threads", "INTEGER"),
    ("process_open_files", "INTEGER"),
    ("request_rate", "DOUBLE"),
    ("source", "VARCHAR"),  # "sampler" | "otlp" (schema 3)
)

# One row per application process per sampling interval (schema 3): what the memory-leak rule
# and the per-process view read.
PROCESS_SAMPLES = (
    ("timestamp", "TIMESTAMP"),
    ("host_name", "VARCHAR"),
    ("service_name", "VARCHAR"),
    ("service_instance", "VARCHAR"),
    ("pid", "INTEGER"),
    ("cpu_percent", "DOUBLE"),
    ("rss_bytes", "BIGINT"),
    ("threads", "INTEGER"),
    ("open_files", "INTEGER"),
)

# Database connection pools (SQLAlchemy), one row per pool per process per interval (schema 3).
# Counters (waits, timeouts) are since the previous sample of the same pool.
POOL_SAMPLES = (
    ("timestamp", "TIMESTAMP"),
    ("host_name", "VARCHAR"),
    ("service_name", "VARCHAR"),
    ("service_instance", "VARCHAR"),
    ("pool_name", "VARCHAR"),  # engine URL without credentials
    ("size", "INTEGER"),  # configured pool size
    ("max_overflow", "INTEGER"),
    ("checked_out", "INTEGER"),
    ("overflow", "INTEGER"),
    ("usage", "DOUBLE"),  # checked_out / (size + max_overflow); the peak within the interval
    ("waits", "INTEGER"),
    ("wait_ms_total", "DOUBLE"),
    ("wait_ms_max", "DOUBLE"),
    ("timeouts", "INTEGER"),
)

# What people did to alerts (schema 3): acknowledge one alert, or silence a (type, subject)
# until a time. Append-only like ``alerts``; the newest action per alert / (type, subject) wins.
ALERT_ACTIONS = (
    ("timestamp", "TIMESTAMP"),
    ("action", "VARCHAR"),  # acknowledge | unacknowledge | silence | unsilence
    ("alert_id", "VARCHAR"),  # for (un)acknowledge
    ("alert_type", "VARCHAR"),  # for (un)silence
    ("subject", "VARCHAR"),  # for (un)silence; null: every subject of the type
    ("until", "TIMESTAMP"),  # end of a silence
    ("actor", "VARCHAR"),
    ("note", "VARCHAR"),
)

# Every attempt to deliver an alert to a handler (schema 3), so failures are visible in SQL.
ALERT_DELIVERIES = (
    ("timestamp", "TIMESTAMP"),
    ("alert_id", "VARCHAR"),
    ("alert_type", "VARCHAR"),
    ("severity", "VARCHAR"),
    ("event", "VARCHAR"),  # opened | resolved
    ("handler", "VARCHAR"),  # webhook | slack | email | sentry (+ a name when several)
    ("outcome", "VARCHAR"),  # sent | failed | rate_limited | silenced
    ("attempts", "INTEGER"),
    ("error", "VARCHAR"),
)

# ``otel-perf monitor --save``: one row per interval of the live view (schema 3).
MONITOR_SNAPSHOTS = (
    ("timestamp", "TIMESTAMP"),
    ("window_s", "DOUBLE"),
    ("requests", "BIGINT"),
    ("request_rate", "DOUBLE"),
    ("p50_ms", "DOUBLE"),
    ("p95_ms", "DOUBLE"),
    ("p99_ms", "DOUBLE"),
    ("error_rate", "DOUBLE"),
    ("open_alerts", "INTEGER"),
    ("cpu_percent", "DOUBLE"),
    ("memory_percent", "DOUBLE"),
)

TABLES = {
    "requests": REQUESTS,
    "db_statements": DB_STATEMENTS,
    "n_plus_one": N_PLUS_ONE,
    "operations": OPERATIONS,
    "graphql_operations": GRAPHQL_OPERATIONS,
    "service_instances": SERVICE_INSTANCES,
    "alerts": ALERTS,
    "system_samples": SYSTEM_SAMPLES,
    "process_samples": PROCESS_SAMPLES,
    "pool_samples": POOL_SAMPLES,
    "alert_actions": ALERT_ACTIONS,
    "alert_deliveries": ALERT_DELIVERIES,
    "monitor_snapshots": MONITOR_SNAPSHOTS,
}

SCHEMA_3_TABLES = (
    "process_samples",
    "pool_samples",
    "alert_actions",
    "alert_deliveries",
    "monitor_snapshots",
)


def _create(table: str, columns=None) -> str:
    columns = ", ".join(f'"{name}" {kind}' for name, kind in columns or TABLES[table])
    return f"CREATE TABLE IF NOT EXISTS {table} ({columns})"


# The tables of version 1 that later versions added columns to, as they were.
_SCHEMA_1_COLUMNS = {
    "alerts": ALERTS[:-1],
    "system_samples": SYSTEM_SAMPLES[:-1],
    "service_instances": SERVICE_INSTANCES[:-1],
}

# version -> statements that bring the store from version-1 to version.
MIGRATIONS: dict[int, list[str]] = {
    # Version 1 as it shipped: later columns and tables are added by later versions.
    1: [
        _create(t, _SCHEMA_1_COLUMNS.get(t))
        for t in TABLES
        if t != "graphql_operations" and t not in SCHEMA_3_TABLES
    ],
    2: [
        _create("graphql_operations"),
        'ALTER TABLE alerts ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP',
    ],
    3: [
        *(_create(t) for t in SCHEMA_3_TABLES),
        'ALTER TABLE system_samples ADD COLUMN IF NOT EXISTS "source" VARCHAR',
    ],
    # Hourly totals for the stats report (storage/rollup.py), with the rows already stored.
    4: [_create(rollup.TABLE, rollup.COLUMNS), *rollup.backfill_statements()],
    5: ['ALTER TABLE service_instances ADD COLUMN IF NOT EXISTS "requests_sampled_out" BIGINT'],
    # The GraphQL operations' and pool samples' hourly totals, with the rows already stored.
    6: [
        *(
            f'ALTER TABLE {rollup.TABLE} ADD COLUMN IF NOT EXISTS "{name}" {kind}'
            for name, kind in rollup.SCHEMA_6_COLUMNS
        ),
        *rollup.backfill_statements(rollup.SCHEMA_6_SOURCES),
    ],
}

HAS_META = (
    "SELECT count(*) > 0 FROM duckdb_tables() "
    "WHERE table_name = 'meta' AND database_name = current_database()"
)
CREATE_META = "CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR)"
READ_VERSION = "SELECT max(CAST(value AS INTEGER)) FROM meta WHERE key = 'schema_version'"
WRITE_VERSION = "INSERT INTO meta VALUES ('schema_version', ?)"


class SchemaTooNew(RuntimeError):
    pass


def current_version(con) -> int:
    """The store's schema version (0 for a new store); works on read-only connections."""
    if not con.execute(HAS_META).fetchone()[0]:
        return 0
    row = con.execute(READ_VERSION).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(con) -> int:
    """Apply pending migrations in one transaction; safe when several processes race."""
    from otel_perf.storage.engine import transaction  # duckdb: not at import (pre-fork apps)

    with transaction(con):
        con.execute(CREATE_META)
        version = current_version(con)
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the store has schema version {version}; this otel-perf knows {SCHEMA_VERSION}"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target]:
                con.execute(statement, rollup.parameters(statement))
            con.execute(WRITE_VERSION, [str(target)])
    return SCHEMA_VERSION
