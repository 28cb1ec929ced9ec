"""``otel-perf serve`` with the OTLP receiver: two uvicorn servers on one event loop.

The report API keeps its port; the receiver listens on ``--otlp-port`` (4318, the OTLP/HTTP
default). Its socket is bound first: when the port is taken, the reports are still served and
one warning says why nothing is received. Stopping either server stops both; on the way out
every received trace (due or not) is handed to the writer and the writer drains.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys

import uvicorn

from otel_perf.settings import Settings

_logger = logging.getLogger("otel_perf.receiver")


def _bind(host: str, port: int) -> socket.socket | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        _logger.warning("otel-perf: the OTLP receiver cannot listen on %s:%d (%s)", host, port, exc)
        return None
    sock.set_inheritable(True)
    return sock


def build_receiver(settings: Settings):
    from otel_perf.receiver.service import Receiver
    from otel_perf.storage.address import parse_address
    from otel_perf.storage.writer import StoreWriter

    # No override of OTEL_PERF_INLINE_ROW_LIMIT here: its default (20 rows per table) sends
    # this process's large commits straight to Parquet (inlined in a SQLite catalog, 9000
    # rows took 6.6 s to commit; as Parquet, 0.08 s) while a quiet receiver's small commits
    # stay in the catalog, where they cost less CPU and make no file each.
    writer = StoreWriter(
        parse_address(settings.store), settings, {"service.name": "otel-perf-receiver"}
    )
    return Receiver(settings, writer)


def serve(
    report_app, settings: Settings, host: str, port: int, otlp_host: str, otlp_port: int, log_level
) -> int:
    from otel_perf.storage.address import parse_address

    receiver = None
    if otlp_port and parse_address(settings.store).kind != "ducklake":
        # A .duckdb file admits one process, and here the report side already reads it.
        _logger.warning(
            "otel-perf: the OTLP receiver needs a DuckLake store (a folder, or a PostgreSQL "
            "catalog), not %s; serving reports only",
            parse_address(settings.store).describe(),
        )
        otlp_port = 0
    sock = _bind(otlp_host, otlp_port) if otlp_port else None
    servers = [
        uvicorn.Server(uvicorn.Config(report_app, host=host, port=port, log_level=log_level))
    ]
    if sock is not None:
        from otel_perf.receiver.app import create_otlp_app

        receiver = build_receiver(settings)
        receiver.start()
        config = uvicorn.Config(create_otlp_app(receiver), log_level=log_level, access_log=False)
        servers.append(uvicorn.Server(config))
        print(
            f"otel-perf: receiving OTLP/HTTP at http://{otlp_host}:{otlp_port}/v1/traces "
            "and /v1/metrics",
            file=sys.stderr,
        )

    async def main() -> None:
        tasks = [asyncio.ensure_future(servers[0].serve())]
        if sock is not None:
            tasks.append(asyncio.ensure_future(servers[1].serve(sockets=[sock])))
        # Each server catches SIGINT/SIGTERM for itself: when one stops, stop the other.
        _, rest = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for server in servers:
            server.should_exit = True
        if rest:
            await asyncio.wait(rest)

    try:
        asyncio.run(main())
    finally:
        if receiver is not None:
            receiver.close()
    return 0
