"""The ``otel-perf`` command: ``demo``, ``sql``, ``maintain``, ``settings``, ``serve``.

Every option that names the store also reads ``OTEL_PERF_STORE``, like the distro does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from otel_perf.version import __version__


def _store_default() -> str:
    return os.environ.get("OTEL_PERF_STORE", "./otel_perf_data")


def add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=_store_default(),
        help="the store: a DuckLake folder or a .duckdb file (env: OTEL_PERF_STORE; "
        "default ./otel_perf_data)",
    )


def open_read(store: str):
    from otel_perf.storage import StoreUnavailable, open_store, parse_address

    address = parse_address(store)
    try:
        return open_store(address, read_only=True)
    except StoreUnavailable as exc:
        raise SystemExit(f"otel-perf: {exc}") from None


def format_table(columns: list[str], rows: list[tuple], max_width: int = 60) -> str:
    def cell(value) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, float):
            text = f"{value:.3f}".rstrip("0").rstrip(".")
        elif isinstance(value, (bytes, bytearray)):
            text = value.hex()
        else:
            text = str(value)
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    for row in cells:
        lines.append(
            " | ".join(
                v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths, strict=True)
            )
        )
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _python_values(column) -> list:
    """A result column as Python values, as fetchall() gives them: Arrow carries a HUGEINT
    (what sum() of integers returns) as a decimal of scale 0, which is an int here."""
    import pyarrow as pa

    values = column.to_pylist()
    if pa.types.is_decimal(column.type) and column.type.scale == 0:
        return [None if v is None else int(v) for v in values]
    return values


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from otel_perf.storage import flush_lock, parse_address

    con = open_read(args.store)
    # Not while maintenance flushes inlined rows: the result could be short (flush_lock.py).
    with flush_lock.reading(parse_address(args.store)):
        try:
            result = con.execute(args.query)
        except duckdb.Error as exc:
            print(f"otel-perf: {exc}", file=sys.stderr)
            return 1
        if result.description is None:
            return 0
        columns = [d[0] for d in result.description]
        # Through Arrow, not fetchall(): DuckDB's own conversion of a TIMESTAMPTZ (e.g.
        # ducklake_snapshots' snapshot_time) needs pytz, which nothing else here needs;
        # Arrow's uses zoneinfo. By column: result names may repeat.
        table = result.to_arrow_table()
        rows = list(zip(*(_python_values(column) for column in table.columns), strict=True))
    if args.format == "json":
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str, indent=2))
    elif args.format == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        print(format_table(columns, rows))
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    from otel_perf.storage import StoreUnavailable, open_store, parse_address
    from otel_perf.storage.maintenance import MaintenanceLock, run_maintenance
    from otel_perf.storage.schema import migrate

    address = parse_address(args.store)
    if address.kind == "none":
        raise SystemExit("otel-perf: no store to maintain (OTEL_PERF_STORE=none)")
    try:
        con = open_store(address)
    except StoreUnavailable as exc:
        raise SystemExit(f"otel-perf: {exc}") from None
    migrate(con)
    try:
        ran = MaintenanceLock(address).run_if_due(0, lambda: run_maintenance(con, address))
    finally:
        con.close()
    if not ran:
        print("otel-perf: another process is maintaining the store right now; try again later")
        return 1
    print(f"otel-perf: maintained {address.describe()}")
    return 0


# Printed as "(set)": a URL with a token in its path (Slack, webhooks) or a DSN is a secret too.
MASKED_UNITS = ("secret", "DSN")
MASKED_NAMES = ("webhook_url",)


def cmd_settings(args: argparse.Namespace) -> int:
    from otel_perf.settings import OPTIONS, load_settings, settings_table_markdown

    if args.markdown:
        print(settings_table_markdown())
        return 0
    masked = {
        o.name
        for o in OPTIONS
        if o.unit in MASKED_UNITS or any(o.name.endswith(n) for n in MASKED_NAMES)
    }
    for key, value in vars(load_settings()).items():
        if key in masked and value:
            value = "(set)"
        print(f"{key} = {value!r}")
    return 0


SERVE_PORT = 8321  # not Django's 8000, so the service and a dev server can run side by side
OTLP_PORT = 4318  # the OTLP/HTTP default: SDK exporters and Collectors send here unchanged


def cmd_serve(args: argparse.Namespace) -> int:
    import dataclasses
    import logging

    from otel_perf.settings import load_settings
    from query_api.asgi import create_app

    # The access log (logger otel_perf.access) is INFO: shown on stderr beside uvicorn's own.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = dataclasses.replace(load_settings(), store=args.store)
    print(
        f"otel-perf: serving reports on {settings.store} at http://{args.host}:{args.port}"
        "/api/v1/performance/ and /graphql/performance/",
        file=sys.stderr,
    )
    from otel_perf.receiver.server import serve

    return serve(
        create_app(settings),
        settings,
        args.host,
        args.port,
        args.otlp_host or args.host,
        args.otlp_port,
        args.log_level,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from otel_perf.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-perf",
        description="Performance monitoring for Python web backends on OpenTelemetry.",
    )
    parser.add_argument("--version", action="version", version=f"otel-perf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="run the example Django app under "
        "opentelemetry-instrument, load it, and summarise what was stored",
    )
    demo.add_argument("--requests", type=int, default=300, help="requests to send (default 300)")
    demo.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    demo.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    demo.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    demo.add_argument(
        "--app",
        choices=["django", "fastapi"],
        default="django",
        help="the example app: Django (examples/django_app) or FastAPI + SQLAlchemy "
        "(examples/fastapi_app; EXAMPLE_DATABASE_URL picks its database, default sqlite)",
    )
    demo.add_argument(
        "--server",
        choices=["gunicorn", "runserver", "uvicorn"],
        default="gunicorn",
        help="gunicorn (uvicorn workers for FastAPI), runserver (Django), uvicorn (FastAPI)",
    )
    demo.add_argument(
        "--store",
        default=os.environ.get("OTEL_PERF_STORE", "./otel_perf_demo"),
        help="where the demo's store goes (default ./otel_perf_demo, replaced)",
    )
    demo.set_defaults(func=cmd_demo)

    sql = sub.add_parser("sql", help="run SQL on the store (works while the app runs)")
    sql.add_argument("query", help='e.g. "SELECT endpoint, count(*) FROM requests GROUP BY 1"')
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    add_store(sql)
    sql.set_defaults(func=cmd_sql)

    maintain = sub.add_parser(
        "maintain",
        help="compact the store now (flush inlined rows, merge files, expire old snapshots)",
    )
    add_store(maintain)
    maintain.set_defaults(func=cmd_maintain)

    settings = sub.add_parser("settings", help="show the effective settings")
    settings.add_argument("--markdown", action="store_true", help="the documented table")
    settings.set_defaults(func=cmd_settings)

    serve = sub.add_parser(
        "serve",
        help="serve the report API (the spec endpoint and /api/v1/performance/) over HTTP",
    )
    add_store(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=SERVE_PORT, help=f"port (default {SERVE_PORT})")
    serve.add_argument(
        "--otlp-port",
        type=int,
        default=int(os.environ.get("OTEL_PERF_OTLP_PORT", OTLP_PORT)),
        help=f"OTLP/HTTP receiver port, /v1/traces and /v1/metrics (env: OTEL_PERF_OTLP_PORT; "
        f"default {OTLP_PORT}; 0 turns the receiver off)",
    )
    serve.add_argument(
        "--otlp-host",
        default=os.environ.get("OTEL_PERF_OTLP_HOST"),
        help="address the receiver binds (env: OTEL_PERF_OTLP_HOST; default: --host)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default info)",
    )
    serve.set_defaults(func=cmd_serve)

    from otel_perf.commands import register_all

    register_all(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
