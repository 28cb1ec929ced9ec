"""The writer thread's connection to the store: attach, migrate, insert, maintain — with retries.

Imported only on the writer thread (see writer.py for why duckdb must not load before fork).
"""

from __future__ import annotations

import random
import time

import duckdb

from otel_perf.storage import commit_lock, rollup, schema
from otel_perf.storage.address import StoreAddress
from otel_perf.storage.engine import StoreUnavailable, open_store, transaction
from otel_perf.storage.maintenance import run_maintenance
from otel_perf.storage.rows import Columns

# Several workers commit to one SQLite catalog: these errors clear up when retried. The last
# one: a worker attaching while another creates a new store's tables can read the catalog
# between a table's creation and its inlined-data table's (seen with four gunicorn workers).
_TRANSIENT = ("lock", "conflict", "busy", "retry", "failed to read inlined data")

# Named statements, one per table (table names are ours, never user input); ``{batch}`` is
# the registered Arrow table holding the rows.
INSERT_BATCH = {
    table: f"INSERT INTO {table} BY NAME SELECT * FROM {{batch}}" for table in schema.TABLES
}

ERRORS = (duckdb.Error, OSError, StoreUnavailable, schema.SchemaTooNew)


def is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    if "could not set lock on file" in text:
        # A plain .duckdb file held by another process: not a conflict that clears up in
        # milliseconds; the writer's slower reattach loop (with one warning) handles it.
        return False
    return any(word in text for word in _TRANSIENT)


def with_retries(action, attempts: int = 8, first_delay: float = 0.05):
    """Run ``action``; retry transient lock conflicts with exponential backoff and jitter."""
    delay = first_delay
    for attempt in range(attempts):
        try:
            return action()
        except ERRORS as exc:
            if attempt == attempts - 1 or not is_transient(exc):
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)
    return None


class StoreSession:
    def __init__(
        self,
        address: StoreAddress,
        inline_row_limit: int | None = None,
        threads: int | None = None,
        on_connect=None,
        thresholds: dict | None = None,
    ) -> None:
        """``inline_row_limit``: see ``engine.attach`` (default: the setting). ``threads``:
        DuckDB worker threads for this connection (default: one per core). ``on_connect``:
        called with each connection before it attaches (the writer interrupts it at exit).
        ``thresholds``: what the hourly totals of inserted rows count with (``rollup``;
        default: the process's settings), the writer's own settings'."""
        self.address = address
        self.thresholds = thresholds
        self.commits = 0  # successful commits of rows (the writer renews the session by it)
        # Creating the catalog races with the other workers' first attach: retry it too.
        self.con = with_retries(
            lambda: open_store(address, inline_row_limit=inline_row_limit, on_connect=on_connect),
            attempts=10,
        )
        try:
            if threads is not None:
                self.con.execute(f"SET threads = {int(threads)}")
            # DuckDB keeps the blocks of every Parquet file a query read (alerts, maintenance),
            # up to its memory limit (80 % of RAM): a long-lived writer in an app process
            # would grow with the store (11 MB after one alert run in the footprint soak).
            # It rarely reads a file twice, so it gains nothing from the cache.
            self.con.execute("SET enable_external_file_cache = false")
            with_retries(lambda: schema.migrate(self.con), attempts=10)
        except BaseException:
            self.close()
            raise

    def insert(self, tables: list[Columns]) -> None:
        # Processes take turns to commit (storage/commit_lock.py: a failed DuckLake commit
        # leaks memory); the lock is held per attempt, not while a retry waits.
        lock = commit_lock.path_for(self.address)

        def attempt() -> None:
            with commit_lock.held(lock):
                self._insert_once(tables)

        with_retries(attempt)
        self.commits += 1

    def _insert_once(self, tables: list[Columns]) -> None:
        names = [f"otel_perf_batch_{i}" for i in range(len(tables))]
        with transaction(self.con) as con:
            try:
                for name, columns in zip(names, tables, strict=True):
                    con.register(name, columns.to_arrow())
                    con.execute(INSERT_BATCH[columns.table].format(batch=name))
                # The batches' sums per hour into the hourly totals (storage/rollup.py), in
                # the same transaction: the totals never lag the rows.
                totals = rollup.add_batches_statement(tuple(c.table for c in tables))
                if totals:
                    con.execute(totals, rollup.parameters(totals, self.thresholds))
            finally:
                for name in names:
                    con.unregister(name)

    def maintain(self, between=None) -> None:
        """One maintenance run (storage/maintenance.py), the commit lock held for each step
        only: its commits would fail against the writers' (commit_lock.py), and holding it for
        the whole run kept every worker from committing for seconds. ``between()``: see
        ``run_maintenance``."""
        lock = commit_lock.path_for(self.address)

        def run(step) -> None:
            def attempt() -> None:
                with commit_lock.held(lock):
                    step.action(self.con)

            with_retries(attempt, attempts=3)

        run_maintenance(self.con, self.address, run=run, between=between)

    def close(self) -> None:
        try:
            self.con.close()
        except duckdb.Error:
            pass
