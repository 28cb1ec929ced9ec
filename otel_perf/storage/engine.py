"""Opening the store: DuckDB, the pinned extensions loaded offline, the store attached as ``perf``.

The extensions come from their PyPI packages (``duckdb-extension-*==1.5.5``), loaded by path:
nothing is downloaded at run time, and autoloading is off so a missing package is a clear error
rather than a network call.

DuckDB checks an extension's signature at each ``LOAD``: it hashes the whole file (33-34 MiB
each for the SQLite scanner and DuckLake), and it holds the GIL while it does, so every Python
thread of the process stops. The store writer opens a new connection every few minutes
(``writer.SESSION_COMMITS``), and a thread spinning beside such an open measured pauses of
120-250 ms per ``LOAD`` (2026-12-06, /tmp/diag/gil3.py: LOAD 300-420 ms of wall time with the
check; 1-43 ms and pauses of 0-21 ms without; the writer's whole reopening went from 395 to
109 ms of CPU). So each process has DuckDB check
the files it loads once, on its first connection, and later connections load the same files
(same device, inode, size and modification time: checked afresh if they changed) without the
check. A connection that loads anything else is opened with the check.
"""

from __future__ import annotations

import contextlib
import importlib
import os

import duckdb

from otel_perf.storage.address import ALIAS, StoreAddress, StoreUnavailable


def _inline_row_limit() -> int:
    from otel_perf.settings import get_settings

    return get_settings().inline_row_limit


HAS_SCHEMA = (
    "SELECT count(*) > 0 FROM duckdb_tables() WHERE database_name = ? AND table_name = 'requests'"
)


def _extension_path(package: str, name: str) -> str:
    module = importlib.import_module(package)
    folder = os.path.join(os.path.dirname(module.__file__), "extensions", "v" + duckdb.__version__)
    path = os.path.join(folder, name + ".duckdb_extension")
    if not os.path.exists(path):
        raise StoreUnavailable(
            f"the DuckDB extension {name} for duckdb {duckdb.__version__} is not installed "
            f"(pip install {package.replace('_', '-')}=={duckdb.__version__})"
        )
    return path


def connect(checked: bool = False) -> duckdb.DuckDBPyConnection:
    """A new DuckDB instance. ``checked``: every extension it will load had its signature
    checked by DuckDB in this process, and is unchanged since (``_all_checked``)."""
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if checked:
        config["allow_unsigned_extensions"] = True
    return duckdb.connect(config=config)


# Extension files DuckDB checked the signature of in this process: path -> the file's identity
# then. A forked child inherits it, and the files with it.
_checked: dict[str, tuple[int, int, int, int]] = {}


def _identity(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _all_checked(paths: list[str]) -> bool:
    return bool(paths) and all(
        path in _checked and _checked[path] == _identity(path) for path in paths
    )


def _extensions(address: StoreAddress, read_only: bool, key: str) -> list[str]:
    """The extension files ``attach`` loads for ``address``, in order."""
    paths = []
    if address.kind == "ducklake":
        if address.catalog:
            paths.append(_extension_path("duckdb_extension_postgres_scanner", "postgres_scanner"))
        else:
            paths.append(_extension_path("duckdb_extension_sqlite_scanner", "sqlite_scanner"))
        paths.append(_extension_path("duckdb_extension_ducklake", "ducklake"))
    if key and not read_only and address.kind in ("ducklake", "duckdb"):
        # Writing encrypted files needs httpfs' OpenSSL; without it DuckDB has a read-only
        # crypto module (reading an encrypted store works without it).
        paths.append(_extension_path("duckdb_extension_httpfs", "httpfs"))
    return paths


def _load(con: duckdb.DuckDBPyConnection, paths: list[str], checked: bool) -> None:
    for path in paths:
        # Taken before the load: a file replaced meanwhile is not trusted later.
        identity = None if checked else _identity(path)
        con.execute(f"LOAD {_sql_string(path)}")
        if identity is not None:
            _checked[path] = identity  # DuckDB checked this file's signature just now


def _encryption_key() -> str:
    from otel_perf.settings import get_settings

    return get_settings().encryption_key


def _prepare_catalog(path: str) -> None:
    """Put a new SQLite catalog in WAL mode (persistent in the file). In SQLite's default
    rollback-journal mode a reader that keeps the store attached (a report server, a
    dashboard) blocks every writer's commit with "database is locked"; in WAL mode readers
    and the one committing writer proceed side by side (measured: the commit that failed
    went through in 0.12 s)."""
    if os.path.exists(path):
        return
    import sqlite3
    import time

    for _ in range(5):  # several workers may create the store at the same moment
        try:
            con = sqlite3.connect(path, timeout=10)
            try:
                if con.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal":
                    return
            finally:
                con.close()
        except sqlite3.Error:
            pass
        time.sleep(0.05)


def _sql_string(value: str) -> str:
    # ATTACH takes no bound parameters; paths are quoted as SQL string literals.
    return "'" + value.replace("'", "''") + "'"


def attach(
    con: duckdb.DuckDBPyConnection,
    address: StoreAddress,
    read_only: bool = False,
    encryption_key: str | None = None,
    inline_row_limit: int | None = None,
    checked: bool = False,
) -> None:
    """Attach the store as ``perf`` and make it the default database. ``encryption_key``
    (default: OTEL_PERF_ENCRYPTION_KEY) encrypts a .duckdb file, and makes a DuckLake writer
    write encrypted data files (docs/operations.md). ``inline_row_limit`` (default:
    OTEL_PERF_INLINE_ROW_LIMIT): a DuckLake writer's commits of at most this many rows per
    table stay in the catalog instead of a Parquet file each (maintenance flushes them).
    ``checked``: ``con`` was opened with ``connect(checked=True)``."""
    key = _encryption_key() if encryption_key is None else encryption_key
    if inline_row_limit is None:
        inline_row_limit = _inline_row_limit()
    try:
        _load(con, _extensions(address, read_only, key), checked)
        if address.kind == "ducklake" and address.catalog:
            # Several hosts: the catalog in PostgreSQL, the data folder shared (or a URL).
            if not read_only and "://" not in address.path:
                os.makedirs(address.data_path, exist_ok=True)
            target = "ducklake:postgres:" + address.catalog
        elif address.kind == "ducklake":
            if read_only and not os.path.exists(address.catalog_path):
                raise StoreUnavailable(f"no otel-perf store at {address.path}")
            if not read_only:
                os.makedirs(address.data_path, exist_ok=True)
                _prepare_catalog(address.catalog_path)
            target = "ducklake:sqlite:" + address.catalog_path
        if address.kind == "ducklake":
            options = [
                f"DATA_PATH {_sql_string(address.data_path)}",
                # The folder may have been moved or mounted elsewhere: data files are
                # addressed relative to the data path, so the current location wins.
                "OVERRIDE_DATA_PATH TRUE",
            ]
            if read_only:
                options.append("READ_ONLY")
            else:
                options.append(f"DATA_INLINING_ROW_LIMIT {int(inline_row_limit)}")
                if key:
                    options.append("ENCRYPTED")
            attach_sql = f"ATTACH {_sql_string(target)} AS {ALIAS} ({', '.join(options)})"
            if address.catalog and not read_only:
                from otel_perf.storage.pg_election import creating_catalog

                with creating_catalog(address.catalog):
                    con.execute(attach_sql)
            else:
                con.execute(attach_sql)
        elif address.kind == "duckdb":
            if read_only and not os.path.exists(address.path):
                raise StoreUnavailable(f"no otel-perf store at {address.path}")
            if not read_only:
                os.makedirs(os.path.dirname(address.path), exist_ok=True)
            options = ["READ_ONLY"] if read_only else []
            if key:
                options.append(f"ENCRYPTION_KEY {_sql_string(key)}")
            mode = f" ({', '.join(options)})" if options else ""
            con.execute(f"ATTACH {_sql_string(address.path)} AS {ALIAS}{mode}")
        else:
            raise StoreUnavailable("the local store is disabled (OTEL_PERF_STORE=none)")
        con.execute(f"USE {ALIAS}")
        if read_only and not con.execute(HAS_SCHEMA, [ALIAS]).fetchone()[0]:
            # The first writer attached (catalog created) but has not committed the schema.
            raise StoreUnavailable(f"{address.describe()} has no data yet")
    except (StoreUnavailable, duckdb.InterruptException):
        raise  # Ctrl-C during the attach is not an unavailable store: the caller stops
    except (duckdb.Error, OSError) as exc:
        hint = ""
        if "encrypt" in str(exc).lower() or "crypto" in str(exc).lower():
            # A store is created encrypted or not: switching needs export + import.
            hint = " (OTEL_PERF_ENCRYPTION_KEY must be the same for every process and applies "
            hint += "to new stores; see docs/operations.md)"
        raise StoreUnavailable(f"cannot open {address.describe()}: {exc}{hint}") from exc


def open_store(
    address: StoreAddress,
    read_only: bool = False,
    encryption_key: str | None = None,
    inline_row_limit: int | None = None,
    on_connect=None,
) -> duckdb.DuckDBPyConnection:
    key = _encryption_key() if encryption_key is None else encryption_key
    checked = _all_checked(_extensions(address, read_only, key))
    con = connect(checked)
    if on_connect is not None:
        on_connect(con)
    try:
        if not read_only and "://" not in address.path:
            # DuckDB spills to ".tmp" in the working directory by default: the app's own
            # folder. Spill beside the store instead (seen under a tight memory limit; rare,
            # but never in the user's source tree).
            spill = os.path.join(address.lock_dir, ".duckdb_tmp")
            con.execute(f"SET temp_directory = {_sql_string(spill)}")
        attach(con, address, read_only, key, inline_row_limit, checked)
    except BaseException:
        con.close()
        raise
    return con


@contextlib.contextmanager
def transaction(con):
    """``BEGIN`` ... ``COMMIT`` around the body; ``ROLLBACK`` when it raises (a failed commit
    has already ended the transaction, so that rollback may fail too: ignored)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise
