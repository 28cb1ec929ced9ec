"""Hourly totals of requests, DB statements (schema 4), GraphQL operations and connection pool
samples (schema 6), kept in step with the rows.

``action=stats`` sums whole tables: at 10M requests a scan of ``requests`` and of
``db_statements`` took about a second each (benchmarks/reports.py), and the GraphQL figures
over a million operations 39 ms of the report's 88 (2026-12-06). ``hourly_totals`` holds the
same weighted sums per hour, so a period's totals are its whole hours from here plus the rows
of its partial first and last hours (query_api/queries.py, ``STATS_TOTALS*``).

The sums are exactly those of the rows, whenever they arrived, because every change to the
rows changes the totals *in the same transaction*:

- each insert of a ``requests`` or ``db_statements`` batch appends that batch's sums per hour
  (``StoreSession.insert``, ``otel-perf import``);
- retention, before deleting rows, appends their sums negated (``retention.py``);
- a store migrated to schema 4 gets the sums of the rows it already holds (``schema.py``).

So an hour may have several rows; readers add them up. Maintenance (``compact``) folds each
hour into one row and drops hours that no longer have any row behind them.

Two GraphQL figures are not plain sums:

- the slow and high-complexity counts depend on thresholds (``OTEL_PERF_SLOW_QUERY_MS``,
  ``OTEL_PERF_GRAPHQL_MAX_COMPLEXITY``). Each row keeps the thresholds it counted with, rows of
  different thresholds are never folded together, and a reader whose thresholds differ from
  any row's counts those two over the rows instead (query_api/reports/stats.py);
- the highest complexity is a maximum, which a subtraction cannot undo. Retention deletes the
  oldest rows first, so only the hour of its bound keeps part of its rows: in the same
  transaction it clears the maxima up to that hour and appends that hour's maximum over the
  rows left (``MAX_AFTER_RETENTION``).

Sums of doubles are exact up to rounding order (the raw sums are, too: DuckDB sums in
parallel); counts and weights of 1 are integers and exact.
"""

from __future__ import annotations

import functools

TABLE = "hourly_totals"

# (name, type, the expression over a source's rows, how rows combine) per column; ``hour``
# first. "sum" columns are negated when rows leave; "max" columns are left out then.
SUM, MAX = "sum", "max"
_REQUEST_SUMS = (
    ("samples", "BIGINT", "count(*)", SUM),  # request rows (unweighted)
    ("weight", "DOUBLE", "sum(weight)", SUM),
    ("duration_ms_w", "DOUBLE", "sum(duration_ms * weight)", SUM),
    ("error_w", "DOUBLE", "sum(CASE WHEN error THEN weight ELSE 0 END)", SUM),
    ("db_time_ms_w", "DOUBLE", "sum(db_time_ms * weight)", SUM),
    ("cache_time_ms_w", "DOUBLE", "sum(cache_time_ms * weight)", SUM),
    ("memory_usage_mb_w", "DOUBLE", "sum(memory_usage_mb * weight)", SUM),
    ("memory_weight", "DOUBLE", "sum(weight) FILTER (WHERE memory_usage_mb IS NOT NULL)", SUM),
    ("cache_hits_w", "DOUBLE", "sum(cache_hits * weight)", SUM),
    ("cache_misses_w", "DOUBLE", "sum(cache_misses * weight)", SUM),
    ("db_count_w", "DOUBLE", "sum(db_count * weight)", SUM),
)
_STATEMENT_SUMS = (
    ("statement_rows", "BIGINT", "count(*)", SUM),  # db_statements rows (unweighted)
    ("db_slow_w", "DOUBLE", "sum(slow_count * weight)", SUM),
)
# Schema 6. ``$slow_ms`` and ``$max_complexity``: the thresholds (``thresholds()``).
_OPERATION_SUMS = (
    ("op_samples", "BIGINT", "count(*)", SUM),  # graphql_operations rows (unweighted)
    ("op_weight", "DOUBLE", "sum(weight)", SUM),
    ("op_duration_ms_w", "DOUBLE", "sum(duration_ms * weight)", SUM),
    ("op_complexity_w", "DOUBLE", "sum(complexity_score * weight)", SUM),
    (
        "op_complexity_weight",
        "DOUBLE",
        "sum(weight) FILTER (WHERE complexity_score IS NOT NULL)",
        SUM,
    ),
    ("op_slow_w", "DOUBLE", "sum(weight) FILTER (WHERE duration_ms >= $slow_ms)", SUM),
    (
        "op_high_complexity_w",
        "DOUBLE",
        "sum(weight) FILTER (WHERE complexity_score > $max_complexity)",
        SUM,
    ),
    ("op_complexity_max", "INTEGER", "max(complexity_score)", MAX),
)
# Schema 6: SQLAlchemy pool samples, for stats' connection_pool_usage (their mean usage). With
# no pool instrumented the table is empty, and reading it still cost 31 ms of the report's 82
# at 10M requests (DuckLake's lookups, 2026-12-06).
_POOL_SUMS = (
    ("pool_rows", "BIGINT", "count(*)", SUM),  # pool_samples rows
    ("pool_usage_n", "BIGINT", "count(usage)", SUM),
    ("pool_usage_sum", "DOUBLE", "sum(usage)", SUM),
)
# Schema 6: the thresholds every row (of any source) was counted with. Never negated; rows
# are folded per hour *and* thresholds.
KEYS = (
    ("op_slow_ms", "DOUBLE", "CAST($slow_ms AS DOUBLE)"),
    ("op_complexity_limit", "INTEGER", "CAST($max_complexity AS INTEGER)"),
)

SOURCES = {
    "requests": _REQUEST_SUMS,
    "db_statements": _STATEMENT_SUMS,
    "graphql_operations": _OPERATION_SUMS,
    "pool_samples": _POOL_SUMS,
}
# Each source's row count (an hour whose counts are all 0 has no rows behind it).
ROW_COUNTS = {table: sums[0][0] for table, sums in SOURCES.items()}
COLUMNS = (
    (("hour", "TIMESTAMP"),)
    + tuple((name, kind) for sums in SOURCES.values() for name, kind, _, _ in sums)
    + tuple((name, kind) for name, kind, _ in KEYS)
)
# What schema 4 created; schema 6 added the rest (storage/schema.py).
SCHEMA_4_SOURCES = ("requests", "db_statements")
SCHEMA_6_SOURCES = ("graphql_operations", "pool_samples")
SCHEMA_6_COLUMNS = tuple(
    (name, kind) for table in SCHEMA_6_SOURCES for name, kind, _, _ in SOURCES[table]
) + tuple((name, kind) for name, kind, _ in KEYS)
_ALL = [column for sums in SOURCES.values() for column in sums]
_KEY_NAMES = [name for name, _, _ in KEYS]
_KEY_SELECT = ", ".join(f"{expression} AS {name}" for name, _, expression in KEYS)


def thresholds(settings=None) -> dict:
    """The thresholds rows are counted with: ``settings``' (default: this process's)."""
    if settings is None:
        from otel_perf.settings import get_settings

        settings = get_settings()
    return {"slow_ms": settings.slow_query_ms, "max_complexity": settings.graphql_max_complexity}


def parameters(sql: str, values: dict | None = None) -> dict:
    """The named parameters ``sql`` uses, from ``values`` and the thresholds (DuckDB rejects
    a parameter the statement does not use)."""
    every = {**thresholds(), **(values or {})}
    return {k: v for k, v in every.items() if f"${k}" in sql}


def _add(table: str, negate: bool = False) -> str:
    """``INSERT`` of the sums per hour of ``{source}`` rows (a table, a registered batch, a
    Parquet file) matching ``{where}``, with the thresholds; the other sources' columns stay
    NULL, which sums as nothing."""
    columns = [c for c in SOURCES[table] if not (negate and c[3] == MAX)]
    select = ", ".join(
        f"{'-' if negate and how == SUM else ''}{expression} AS {name}"
        for name, _, expression, how in columns
    )
    names = ", ".join([name for name, _, _, _ in columns] + _KEY_NAMES)
    return (
        f"INSERT INTO {TABLE} (hour, {names}) "
        f"SELECT date_trunc('hour', timestamp) AS hour, {select}, {_KEY_SELECT} "
        "FROM {source} WHERE {where} GROUP BY hour"
    )


def select_sums(table: str) -> str:
    """The select list of ``table``'s sums and the thresholds over its rows (for reading the
    rows of a partial hour as the totals would hold them)."""
    sums = ", ".join(f"{expression} AS {name}" for name, _, expression, _ in SOURCES[table])
    return f"{sums}, {_KEY_SELECT}"


_ADD = {table: _add(table) for table in SOURCES}
_SUBTRACT = {table: _add(table, negate=True) for table in SOURCES}


def add_statement(table: str, source: str, where: str = "true") -> str | None:
    """The statement adding ``source``'s rows of ``table`` to the totals (None: ``table``
    has no totals). Run it in the transaction that inserts those rows, with ``parameters``."""
    sql = _ADD.get(table)
    return sql.format(source=source, where=where) if sql else None


def subtract_statement(table: str, where: str) -> str | None:
    """The statement taking the rows of ``table`` matching ``where`` out of the totals (None:
    ``table`` has none). Run it in the transaction that deletes them, before the DELETE."""
    sql = _SUBTRACT.get(table)
    return sql.format(source=table, where=where) if sql else None


@functools.cache
def add_batches_statement(tables: tuple[str, ...]) -> str | None:
    """One ``INSERT`` of the totals of a writer's batches, one row per hour: ``tables[i]``'s
    batch registered as ``otel_perf_batch_{i}`` (None: no table has totals). One statement
    rather than one per table: each DuckLake statement that inlines rows costs the writer
    ~10 ms of CPU (2026-12-06, /tmp/diag/insert_cpu.py: a 260-request commit took 82 ms with
    a statement per table, 54 without totals)."""
    parts = [
        f"SELECT date_trunc('hour', timestamp) AS hour, {select_sums(table)} "
        f"FROM otel_perf_batch_{i} GROUP BY hour"
        for i, table in enumerate(tables)
        if table in SOURCES
    ]
    if not parts:
        return None
    columns = [c for table in SOURCES if table in tables for c in SOURCES[table]]
    folded = ", ".join(_fold(name, how) for name, _, _, how in columns)
    return (
        f"INSERT INTO {TABLE} BY NAME SELECT {_GROUP}, {folded} FROM ("
        + " UNION ALL BY NAME ".join(parts)
        + f") GROUP BY {_GROUP}"
    )


def backfill_statements(tables=SCHEMA_4_SOURCES) -> list[str]:
    """For a migration: the totals of the rows of ``tables`` a store already holds."""
    return [add_statement(table, table) for table in tables]


# After retention deleted the operations before ``$bound`` (see the module docstring): hours
# up to the bound's lose their maximum, and the bound's hour gets the one of its rows left.
MAX_AFTER_RETENTION = (
    f"UPDATE {TABLE} SET op_complexity_max = NULL "
    "WHERE hour <= date_trunc('hour', $bound) AND op_complexity_max IS NOT NULL",
    f"INSERT INTO {TABLE} (hour, op_complexity_max, {', '.join(_KEY_NAMES)}) "
    f"SELECT date_trunc('hour', timestamp) AS hour, max(complexity_score), {_KEY_SELECT} "
    "FROM graphql_operations WHERE timestamp >= date_trunc('hour', $bound) "
    "AND timestamp < date_trunc('hour', $bound) + INTERVAL 1 HOUR GROUP BY hour",
)


# One row per hour and thresholds; an hour with no rows behind it (retention took them) goes.
# Sums are summed with ``sum`` so that an hour without, say, memory figures keeps NULL there.
def _fold(name: str, how: str) -> str:
    return f"max({name}) AS {name}" if how == MAX else f"sum({name}) AS {name}"


_GROUP = ", ".join(["hour", *_KEY_NAMES])
_FOLDED = (
    f"SELECT {_GROUP}, "
    + ", ".join(_fold(name, how) for name, _, _, how in _ALL)
    + f" FROM {TABLE} GROUP BY {_GROUP} HAVING "
    + " OR ".join(
        [f"coalesce(sum({n}), 0) <> 0" for n in ROW_COUNTS.values()]
        + ["max(op_complexity_max) IS NOT NULL"]
    )
)
NEEDS_COMPACTION = f"SELECT count(*) > count(DISTINCT ({_GROUP})) FROM {TABLE}"
COMPACT = (
    f"CREATE OR REPLACE TEMP TABLE otel_perf_folded AS {_FOLDED}",
    f"DELETE FROM {TABLE}",
    f"INSERT INTO {TABLE} BY NAME SELECT * FROM otel_perf_folded",
)


def compact(con) -> bool:
    """Fold the totals into one row per hour and thresholds (the elected maintenance; one
    transaction, so a reader sees the totals before or after, never half). Rows a writer
    appends meanwhile are not in this transaction's view and stay. True when there was
    something to fold."""
    if not con.execute(NEEDS_COMPACTION).fetchone()[0]:
        return False
    from otel_perf.storage.engine import transaction

    try:
        with transaction(con):
            for statement in COMPACT:
                con.execute(statement)
    finally:
        try:
            con.execute("DROP TABLE IF EXISTS temp.otel_perf_folded")
        except Exception:
            pass
    return True
