"""Retention: delete what is older than ``OTEL_PERF_RETENTION_DAYS`` from every time-stamped table.

Deletes run in small transactions (at most ``BATCH_ROWS`` rows each, oldest first), each one
committed on its own with the writers' retry policy, so a writer waiting on the catalog waits
for one small commit, never for the whole cleanup. The maintenance job bounds the work of one
run (``max_batches``) and the next run goes on where it stopped; ``otel-perf cleanup`` has no
bound. DuckLake's ``CHECKPOINT`` (maintenance) then rewrites the files that carry deletes and,
once no reader can need them (``KEEP_SNAPSHOTS``), removes the old files from disk.

What "older" means per table is in ``TIME_COLUMNS``. Two exceptions keep rows a reader still
needs: the newest row of an alert that is still open (the alert would otherwise vanish while
its condition holds) and an ``alert_actions`` silence that has not expired yet.

Before request rows are deleted, their totals are folded into the Prometheus base
(``query_api.prometheus.fold``) so that the ``/metrics`` counters never go backwards.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from otel_perf.storage import rollup
from otel_perf.storage.address import StoreAddress

_logger = logging.getLogger("otel_perf")

BATCH_ROWS = 50_000

# table -> the expression that dates a row (naive UTC TIMESTAMP).
TIME_COLUMNS: dict[str, str] = {
    "requests": "timestamp",
    "db_statements": "timestamp",
    "n_plus_one": "timestamp",
    "operations": "timestamp",
    "graphql_operations": "timestamp",
    "service_instances": "last_seen",
    "alerts": "coalesce(updated_at, last_seen)",
    "system_samples": "timestamp",
    "process_samples": "timestamp",
    "pool_samples": "timestamp",
    "alert_actions": "timestamp",
    "alert_deliveries": "timestamp",
    "monitor_snapshots": "timestamp",
}

# Rows kept although old (see the module docstring). Table names and expressions are ours.
_KEEP: dict[str, str] = {
    "alerts": (
        "NOT resolved AND coalesce(updated_at, last_seen) >= (SELECT max(coalesce(a.updated_at, "
        "a.last_seen)) FROM alerts a WHERE a.id = alerts.id)"
    ),
    "alert_actions": "action = 'silence' AND coalesce(until >= $now, false)",
}


def _deletable(table: str) -> str:
    keep = _KEEP.get(table)
    base = f"{TIME_COLUMNS[table]} < $bound"
    return f"{base} AND NOT ({keep})" if keep else base


# Named statements per table (identifiers are ours, values are parameters).
COUNT_OLD = {t: f"SELECT count(*) FROM {t} WHERE {_deletable(t)}" for t in TIME_COLUMNS}
# The time below which the next batch lies: the BATCH_ROWS-th deletable row's time.
NEXT_BOUND = {
    t: f"SELECT {TIME_COLUMNS[t]} AS row_time FROM {t} WHERE {_deletable(t)} "
    f"ORDER BY row_time LIMIT 1 OFFSET $batch"
    for t in TIME_COLUMNS
}
DELETE_OLD = {t: f"DELETE FROM {t} WHERE {_deletable(t)}" for t in TIME_COLUMNS}
DELETE_OLD_INCLUSIVE = {
    t: DELETE_OLD[t].replace(f"{TIME_COLUMNS[t]} < $bound", f"{TIME_COLUMNS[t]} <= $bound", 1)
    for t in TIME_COLUMNS
}
# Deleted rows leave the hourly totals in the same transaction (storage/rollup.py).
SUBTRACT_OLD = {
    t: (
        rollup.subtract_statement(t, _deletable(t)),
        rollup.subtract_statement(t, DELETE_OLD_INCLUSIVE[t].partition(" WHERE ")[2]),
    )
    for t in rollup.SOURCES
}
HAS_TABLE = (
    "SELECT count(*) > 0 FROM duckdb_tables() WHERE database_name = current_database() "
    "AND table_name = ?"
)


@dataclasses.dataclass
class CleanupResult:
    cutoff: datetime
    deleted: dict[str, int]  # table -> rows deleted (or, on a dry run, that would be)
    complete: bool = True  # False when max_batches stopped it early
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def cutoff_for(days: float, now: datetime) -> datetime:
    return now - timedelta(days=days)


def _params(sql: str, values: dict) -> dict:
    # DuckDB rejects named parameters a statement does not use.
    return {k: v for k, v in values.items() if f"${k}" in sql}


def _run(con, sql: str, values: dict, retry: Callable | None):
    def once():
        return con.execute(sql, _params(sql, values)).fetchall()

    return retry(once) if retry else once()


def cleanup(
    con,
    older_than_days: float,
    now: datetime | None = None,
    dry_run: bool = False,
    batch_rows: int = BATCH_ROWS,
    max_batches: int | None = None,
    retry: Callable | None = None,
    address: StoreAddress | None = None,
) -> CleanupResult:
    """Delete (or, with ``dry_run``, count) every row older than ``now - older_than_days``.

    ``con`` has the store attached as its default database, outside any transaction.
    ``retry(action)`` wraps each small transaction (the writer's ``with_retries``).
    ``address`` locates the Prometheus base, folded before request rows go.
    """
    now = now or utcnow()
    cutoff = cutoff_for(older_than_days, now)
    result = CleanupResult(cutoff=cutoff, deleted={}, dry_run=dry_run)
    batches = 0
    for table in TIME_COLUMNS:
        if not con.execute(HAS_TABLE, [table]).fetchone()[0]:
            continue
        values = {"bound": cutoff, "now": now, "batch": batch_rows}
        old = _run(con, COUNT_OLD[table], values, retry)[0][0]
        if dry_run or old == 0:
            result.deleted[table] = old
            continue
        if table == "requests" and address is not None:
            from query_api.prometheus import fold

            fold(con, address, cutoff)
        deleted = 0
        while True:
            if max_batches is not None and batches >= max_batches:
                result.complete = False
                break
            batches += 1
            row = _run(con, NEXT_BOUND[table], values, retry)
            if not row:  # fewer than a batch left: the rest in one go
                deleted += _delete(con, table, False, values, retry)
                break
            bound = {**values, "bound": row[0][0]}
            count = _delete(con, table, False, bound, retry)
            if count == 0:  # a batch of rows sharing one time: take them together
                count = _delete(con, table, True, bound, retry)
            deleted += count
        result.deleted[table] = deleted
        if not result.complete:
            break
    return result


def _delete(con, table: str, inclusive: bool, values: dict, retry: Callable | None) -> int:
    """One batch of ``table``'s old rows, with their hourly totals when it has some."""
    sql = (DELETE_OLD_INCLUSIVE if inclusive else DELETE_OLD)[table]
    subtract = SUBTRACT_OLD[table][inclusive] if table in SUBTRACT_OLD else None
    if subtract is None:
        return _deleted(_run(con, sql, values, retry))

    def once():
        from otel_perf.storage.engine import transaction

        with transaction(con):
            con.execute(subtract, rollup.parameters(subtract, values))
            deleted = con.execute(sql, _params(sql, values)).fetchall()
            if table == "graphql_operations":  # maxima cannot be subtracted (rollup.py)
                for statement in rollup.MAX_AFTER_RETENTION:
                    con.execute(statement, rollup.parameters(statement, values))
            return deleted

    return _deleted(retry(once) if retry else once())


def _deleted(rows) -> int:
    return int(rows[0][0]) if rows and rows[0] else 0


def size_on_disk(address: StoreAddress) -> int:
    """Bytes the store occupies: the folder (catalog, its WAL, data files) or the file + WAL."""
    if address.kind == "ducklake":
        total = 0
        for folder, _, files in os.walk(address.path):
            for name in files:
                try:
                    total += os.path.getsize(os.path.join(folder, name))
                except OSError:
                    pass
        return total
    if address.kind == "duckdb":
        return sum(
            os.path.getsize(p) for p in (address.path, address.path + ".wal") if os.path.exists(p)
        )
    return 0


def run_retention(
    con,
    address: StoreAddress,
    retention_days: float,
    retry=None,
    max_batches: int = 20,
    batch_rows: int = BATCH_ROWS,
) -> bool:
    """The maintenance job's part: bounded work, one log line when rows went. False when
    old rows remain for the next run."""
    if retry is None:
        from otel_perf.storage.session import with_retries as retry
    result = cleanup(
        con,
        retention_days,
        batch_rows=batch_rows,
        max_batches=max_batches,
        retry=retry,
        address=address,
    )
    if result.total:
        _logger.info(
            "otel-perf: retention deleted %d rows older than %s%s",
            result.total,
            result.cutoff.isoformat(timespec="seconds"),
            "" if result.complete else " (more next time)",
        )
    return result.complete
