"""``otel-perf cleanup``, ``export`` and ``import``: retention by hand, Parquet backups, restore.

An export is a folder with one Parquet file per table (``COPY ... TO ... (FORMAT parquet)``)
and ``manifest.json`` (schema version, period, and per table the row count and a checksum read
back from the written file). It is taken through a read-only attachment, so it works while the
app runs on a DuckLake store. ``import`` appends such a folder to a store (a fresh one for a
restore), checking the counts and checksums first.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime

from otel_perf.cli import add_store, open_read

MANIFEST = "manifest.json"

# Order-independent content checksum of a relation: the sum of its rows' hashes (a HUGEINT,
# so duplicates count, unlike an XOR). ``{source}`` is one of ours: a table or read_parquet().
CHECKSUM = "SELECT count(*), coalesce(sum(hash(x)::HUGEINT), 0) FROM {source} x"


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _parse_time(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date/time: {raw!r}") from None
    if value.tzinfo is not None:
        from datetime import UTC

        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _positive_days(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0 days")
    return value


def _store_address(store: str):
    from otel_perf.storage import parse_address

    address = parse_address(store)
    if address.kind == "none":
        raise SystemExit("otel-perf: no store (OTEL_PERF_STORE=none)")
    return address


def _open_write(address):
    from otel_perf.storage import StoreUnavailable
    from otel_perf.storage.session import StoreSession

    try:
        return StoreSession(address)
    except StoreUnavailable as exc:
        raise SystemExit(f"otel-perf: {exc}") from None


# -- cleanup ------------------------------------------------------------------------------------
def cmd_cleanup(args: argparse.Namespace) -> int:
    from otel_perf.settings import load_settings
    from otel_perf.storage.maintenance import MaintenanceLock, run_maintenance
    from otel_perf.storage.retention import cleanup, size_on_disk
    from otel_perf.storage.session import with_retries

    days = args.older_than if args.older_than is not None else load_settings().retention_days
    address = _store_address(args.store)
    before = size_on_disk(address)
    session = _open_write(address)
    try:
        result = cleanup(
            session.con, days, dry_run=args.dry_run, retry=with_retries, address=address
        )
        verb = "would delete" if args.dry_run else "deleted"
        print(f"otel-perf: rows older than {result.cutoff.isoformat(timespec='seconds')}Z:")
        for table, rows in result.deleted.items():
            print(f"  {table:<20} {verb} {rows}")
        print(f"  {'total':<20} {verb} {result.total}")
        if args.dry_run:
            print(f"otel-perf: size on disk {_mib(before)}")
            return 0
        lock = MaintenanceLock(address)
        compacted = lock.run_if_due(0, lambda: run_maintenance(session.con, address, days))
    finally:
        session.close()
    after = size_on_disk(address)
    note = "" if compacted else " (not compacted: another process is maintaining the store)"
    print(f"otel-perf: size on disk {_mib(before)} -> {_mib(after)}{note}")
    if address.kind == "ducklake":
        print(
            "otel-perf: replaced data files are removed from disk once no reader can need "
            "them (maintenance keeps them for an hour)"
        )
    return 0


def _mib(size: int) -> str:
    return f"{size / 1048576:.2f} MiB"


# -- export -------------------------------------------------------------------------------------
def export_store(con, output: str, start: datetime | None, end: datetime | None) -> dict:
    """Write every table (rows in [start, end) for the time-stamped ones) as Parquet into
    ``output``; returns the manifest (also written as manifest.json)."""
    from otel_perf.storage import schema
    from otel_perf.storage.retention import TIME_COLUMNS

    os.makedirs(output, exist_ok=True)
    bounds = {"start": start or datetime(1970, 1, 1), "end": end or datetime(9999, 1, 1)}
    manifest = {
        "schema_version": schema.current_version(con),
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "tables": {},
    }
    for table in [*schema.TABLES, "meta"]:
        column = TIME_COLUMNS.get(table)
        where = f" WHERE {column} >= $start AND {column} < $end" if column else ""
        path = os.path.join(os.path.abspath(output), f"{table}.parquet")
        con.execute(
            f"COPY (SELECT * FROM {table}{where}) TO {_sql_string(path)} (FORMAT parquet)",
            bounds if column else {},
        )
        rows, checksum = con.execute(
            CHECKSUM.format(source=f"read_parquet({_sql_string(path)})")
        ).fetchone()
        manifest["tables"][table] = {"rows": rows, "checksum": str(checksum)}
    with open(os.path.join(output, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest


def cmd_export(args: argparse.Namespace) -> int:
    con = open_read(args.store)
    try:
        manifest = export_store(con, args.output, args.start, args.end)
    finally:
        con.close()
    total = sum(t["rows"] for t in manifest["tables"].values())
    print(f"otel-perf: exported {total} rows in {len(manifest['tables'])} tables to {args.output}")
    return 0


# -- import -------------------------------------------------------------------------------------
def import_export(con, folder: str) -> dict[str, int]:
    """Append an export to the store ``con`` (migrated, default database); one transaction.
    Returns rows imported per table."""
    from otel_perf.storage import rollup, schema

    with open(os.path.join(folder, MANIFEST)) as f:
        manifest = json.load(f)
    if manifest["schema_version"] > schema.SCHEMA_VERSION:
        raise SystemExit(
            f"otel-perf: the export has schema version {manifest['schema_version']}; "
            f"this otel-perf knows {schema.SCHEMA_VERSION}"
        )
    sources = {}
    for table, expected in manifest["tables"].items():
        if table not in schema.TABLES:
            continue  # meta: the store's own migrations write it
        path = os.path.abspath(os.path.join(folder, f"{table}.parquet"))
        source = f"read_parquet({_sql_string(path)})"
        rows, checksum = con.execute(CHECKSUM.format(source=source)).fetchone()
        if rows != expected["rows"] or str(checksum) != expected["checksum"]:
            raise SystemExit(f"otel-perf: {path} does not match the manifest (damaged?)")
        sources[table] = (source, rows)
    from otel_perf.storage.engine import transaction

    with transaction(con):
        for table, (source, _) in sources.items():
            # BY NAME: an export from an older schema lacks later columns (they stay null).
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {source}")
            totals = rollup.add_statement(table, source)
            if totals:  # the stats report's hourly totals (storage/rollup.py)
                con.execute(totals, rollup.parameters(totals))
    return {table: rows for table, (_, rows) in sources.items()}


def cmd_import(args: argparse.Namespace) -> int:
    address = _store_address(args.store)
    session = _open_write(address)
    try:
        counts = import_export(session.con, args.input)
    finally:
        session.close()
    print(f"otel-perf: imported {sum(counts.values())} rows into {address.describe()}")
    return 0


def register(sub) -> None:
    cleanup = sub.add_parser(
        "cleanup",
        help="delete rows older than the retention period, then compact the store",
    )
    cleanup.add_argument(
        "--older-than",
        type=_positive_days,
        default=None,
        metavar="DAYS",
        help="days to keep (default: OTEL_PERF_RETENTION_DAYS, 30)",
    )
    cleanup.add_argument("--dry-run", action="store_true", help="count only; delete nothing")
    add_store(cleanup)
    cleanup.set_defaults(func=cmd_cleanup)

    export = sub.add_parser("export", help="write the store (or a period) as Parquet files")
    export.add_argument("--output", required=True, metavar="DIR", help="folder to write")
    export.add_argument("--start", type=_parse_time, help="from this time (ISO 8601, UTC)")
    export.add_argument("--end", type=_parse_time, help="until this time, exclusive")
    add_store(export)
    export.set_defaults(func=cmd_export)

    restore = sub.add_parser("import", help="append an export (otel-perf export) to a store")
    restore.add_argument("--input", required=True, metavar="DIR", help="an export's folder")
    add_store(restore)
    restore.set_defaults(func=cmd_import)
