"""Bottleneck rules: pure functions over stored data that find what is slow and why.

Each rule is ``rule(con, settings, now) -> list[Occurrence]`` (``query_api.alert_rules``),
reading a trailing window that ends at ``now`` (naive UTC). The alert evaluator feeds their
occurrences into the same alert model as the spec's three types, so a bottleneck is an alert
that opens, updates and resolves (after the quiet period without an occurrence). Rules are
listed by dotted name so that each kind lives in its own small module.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime

_logger = logging.getLogger("otel_perf")

# module:function, in the order findings are reported.
RULES: list[str] = [
    "query_api.bottlenecks.latency:high_latency",
    "query_api.bottlenecks.latency:high_error_rate",
    "query_api.bottlenecks.database:slow_db_query",
    "query_api.bottlenecks.database:n_plus_one",
    "query_api.bottlenecks.resources:resource_exhaustion",
    "query_api.bottlenecks.latency:performance_degradation",
    "query_api.bottlenecks.resources:memory_leak_suspected",
    "query_api.bottlenecks.database:query_budget",
    "query_api.bottlenecks.pool:pool_exhausted",
    "query_api.bottlenecks.pool:pool_long_wait",
]


class SharedQueries:
    """The connection as the rules see it during one run: a query asked again with the same
    parameters (high_latency, high_error_rate and degradation read the same endpoint window)
    is answered from the first result instead of scanning the store again."""

    def __init__(self, con) -> None:
        self._con = con
        self._results: dict = {}

    def execute(self, sql: str, parameters: dict | None = None):
        key = (sql, tuple(sorted((parameters or {}).items())))
        if key not in self._results:
            cursor = self._con.execute(sql, parameters or {})
            self._results[key] = _Result(cursor.description, cursor.fetchall())
        return self._results[key].cursor()


class _Result:
    def __init__(self, description, rows) -> None:
        self.description = description
        self.rows = rows

    def cursor(self):
        return _Cursor(self.description, self.rows)


class _Cursor:
    def __init__(self, description, rows) -> None:
        self.description = description
        self._rows = rows

    def fetchall(self) -> list:
        return list(self._rows)

    def fetchone(self):
        return self._rows[0] if self._rows else None


def run_rules(con, settings, now: datetime, names: list[str] | None = None) -> list:
    """Every rule's occurrences; a rule that fails is logged and skipped, never fatal."""
    found = []
    con = SharedQueries(con)
    for name in RULES if names is None else names:
        module_name, _, function = name.partition(":")
        rule = getattr(importlib.import_module(module_name), function)
        try:
            found.extend(rule(con, settings, now))
        except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others
            _logger.warning("otel-perf: bottleneck rule %s failed: %s", name, exc)
    return found
