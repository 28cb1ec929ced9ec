"""The embedded store: addressing, schema, the background writer and maintenance.

Every consumer (writer, CLI, reports) attaches the store as one database named ``perf``
and runs the same SQL on it, whichever kind it is (DuckLake folder or plain DuckDB file).

duckdb itself is imported lazily (``open_store``): app processes import this package before
gunicorn forks its workers, and a process that imported duckdb before fork() aborts its
children at exit.
"""

from otel_perf.storage.address import StoreAddress, parse_address

__all__ = ["StoreAddress", "StoreUnavailable", "open_store", "parse_address"]


def __getattr__(name):
    if name in ("StoreUnavailable", "open_store"):
        from otel_perf.storage import engine

        return getattr(engine, name)
    raise AttributeError(name)
