"""Hourly totals of requests and DB statements, kept in step with the rows (schema 4).

``action=stats`` sums whole tables: at 10M requests a scan of ``requests`` and of
``db_statements`` took about a second each (benchmarks/reports.py). ``hourly_totals`` holds
the same weighted sums per hour, so a period's totals are its whole hours from here plus the
rows of its partial first and last hours (query_api/queries.py, ``STATS_TOTALS*``).

The sums are exactly those of the rows, whenever they arrived, because every change to the
rows changes the totals *in the same transaction*:

- each insert of a ``requests`` or ``db_statements`` batch appends that batch's sums per hour
  (``StoreSession.insert``, ``otel-perf import``);
- retention, before deleting rows, appends their sums negated (``retention.py``);
- a store migrated to schema 4 gets the sums of the rows it already holds (``schema.py``).

So an hour may have several rows; readers add them up. Maintenance (``compact``) folds each
hour into one row and drops hours that no longer have any row behind them.

Sums of doubles are exact up to rounding order (the raw sums are, too: DuckDB sums in
parallel); counts and weights of 1 are integers and exact.
"""

from __future__ import annotations

TABLE = "hourly_totals"

# (name, type, the sum over a source's rows) per column; ``hour`` first.
_REQUEST_SUMS = (
    ("samples", "BIGINT", "count(*)"),  # request rows (unweighted)
    ("weight", "DOUBLE", "sum(weight)"),
    ("duration_ms_w", "DOUBLE", "sum(duration_ms * weight)"),
    ("error_w", "DOUBLE", "sum(CASE WHEN error THEN weight ELSE 0 END)"),
    ("db_time_ms_w", "DOUBLE", "sum(db_time_ms * weight)"),
    ("cache_time_ms_w", "DOUBLE", "sum(cache_time_ms * weight)"),
    ("memory_usage_mb_w", "DOUBLE", "sum(memory_usage_mb * weight)"),
    ("memory_weight", "DOUBLE", "sum(weight) FILTER (WHERE memory_usage_mb IS NOT NULL)"),
    ("cache_hits_w", "DOUBLE", "sum(cache_hits * weight)"),
    ("cache_misses_w", "DOUBLE", "sum(cache_misses * weight)"),
    ("db_count_w", "DOUBLE", "sum(db_count * weight)"),
)
_STATEMENT_SUMS = (
    ("statement_rows", "BIGINT", "count(*)"),  # db_statements rows (unweighted)
    ("db_slow_w", "DOUBLE", "sum(slow_count * weight)"),
)

COLUMNS = (("hour", "TIMESTAMP"),) + tuple(
    (name, kind) for name, kind, _ in _REQUEST_SUMS + _STATEMENT_SUMS
)
SOURCES = {"requests": _REQUEST_SUMS, "db_statements": _STATEMENT_SUMS}
_NAMES = [name for name, _ in COLUMNS]


def _add(table: str, negate: bool = False) -> str:
    """``INSERT`` of the sums per hour of ``{source}`` rows (a table, a registered batch, a
    Parquet file) matching ``{where}``; the other source's columns stay NULL, which sums
    as nothing."""
    sums = SOURCES[table]
    sign = "-" if negate else ""
    select = ", ".join(f"{sign}{expression} AS {name}" for name, _, expression in sums)
    names = ", ".join(name for name, _, _ in sums)
    return (
        f"INSERT INTO {TABLE} (hour, {names}) "
        f"SELECT date_trunc('hour', timestamp) AS hour, {select} "
        "FROM {source} WHERE {where} GROUP BY hour"
    )


_ADD = {table: _add(table) for table in SOURCES}
_SUBTRACT = {table: _add(table, negate=True) for table in SOURCES}


def add_statement(table: str, source: str, where: str = "true") -> str | None:
    """The statement adding ``source``'s rows of ``table`` to the totals (None: ``table``
    has no totals). Run it in the transaction that inserts those rows."""
    sql = _ADD.get(table)
    return sql.format(source=source, where=where) if sql else None


def subtract_statement(table: str, where: str) -> str | None:
    """The statement taking the rows of ``table`` matching ``where`` out of the totals (None:
    ``table`` has none). Run it in the transaction that deletes them, before the DELETE."""
    sql = _SUBTRACT.get(table)
    return sql.format(source=table, where=where) if sql else None


def backfill_statements() -> list[str]:
    """For the migration to schema 4: the totals of the rows a store already holds."""
    return [add_statement(table, table) for table in SOURCES]


# One row per hour; an hour with no rows behind it (retention took them) goes. Columns are
# summed with ``sum`` so that an hour without, say, memory figures keeps NULL there.
_FOLDED = (
    f"SELECT hour, {', '.join(f'sum({n}) AS {n}' for n in _NAMES[1:])} FROM {TABLE} "
    "GROUP BY hour HAVING coalesce(sum(samples), 0) <> 0 OR coalesce(sum(statement_rows), 0) <> 0"
)
NEEDS_COMPACTION = f"SELECT count(*) > count(DISTINCT hour) FROM {TABLE}"
COMPACT = (
    f"CREATE OR REPLACE TEMP TABLE otel_perf_folded AS {_FOLDED}",
    f"DELETE FROM {TABLE}",
    f"INSERT INTO {TABLE} SELECT * FROM otel_perf_folded",
)


def compact(con) -> bool:
    """Fold the totals into one row per hour (the elected maintenance; one transaction, so a
    reader sees the totals before or after, never half). Rows a writer appends meanwhile are
    not in this transaction's view and stay. True when there was something to fold."""
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
