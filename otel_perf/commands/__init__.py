"""Further ``otel-perf`` subcommands, one module per concern.

Each module listed in ``MODULES`` has ``register(sub)`` taking the argparse subparsers and
adding its commands (with ``set_defaults(func=...)``). Shared helpers (``add_store``,
``open_read``, ``format_table``) live in :mod:`otel_perf.cli`.
"""

from __future__ import annotations

import importlib

MODULES: list[str] = [
    "otel_perf.commands.alerts",
    "otel_perf.commands.analyze",
    "otel_perf.commands.monitor",
    "otel_perf.commands.otlp_demo",
    "otel_perf.commands.store_admin",
]


def register_all(sub) -> None:
    for name in MODULES:
        importlib.import_module(name).register(sub)
