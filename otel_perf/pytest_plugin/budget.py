"""The budget file: one TOML table per test id, in sorted order, written by hand (tomllib reads).

    ["tests/test_books.py::test_list"]
    queries = 2
    graphql_complexity = 14

Stable text (sorted ids, fixed key order, no timestamps) so that a serial run and an xdist run
write the same bytes and a diff in review shows exactly the tests whose budget moved.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

HEADER = (
    "# otel-perf query budgets: one entry per test id (pytest --perf-budget-update rewrites it).\n"
    "# queries: DB statements the test ran; graphql_complexity: its most complex GraphQL\n"
    "# operation; db_time_ms (optional): DB time. A test that rises above its entry fails.\n"
)
KEYS = ("queries", "graphql_complexity", "db_time_ms")


class BudgetFileError(Exception):
    pass


def load(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BudgetFileError(f"{path}: not a valid budget file: {exc}") from exc
    budgets = {}
    for test_id, entry in data.items():
        if not isinstance(entry, dict):
            raise BudgetFileError(f"{path}: {test_id!r} is not a table")
        budgets[test_id] = {k: entry[k] for k in KEYS if isinstance(entry.get(k), int | float)}
    return budgets


def _quote(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _value(value) -> str:
    if isinstance(value, float):
        return repr(round(value, 3))
    return str(int(value))


def dumps(budgets: dict[str, dict]) -> str:
    parts = [HEADER]
    for test_id in sorted(budgets):
        entry = budgets[test_id]
        lines = [f"[{_quote(test_id)}]"]
        lines += [f"{key} = {_value(entry[key])}" for key in KEYS if entry.get(key) is not None]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def write(path: Path, budgets: dict[str, dict]) -> None:
    """Atomically: a crashed run never leaves half a budget file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(dumps(budgets), encoding="utf-8")
    os.replace(tmp, path)


def entry_for(facts: dict, with_db_time: bool) -> dict:
    entry = {"queries": facts["queries"]}
    if facts.get("graphql_complexity") is not None:
        entry["graphql_complexity"] = facts["graphql_complexity"]
    if with_db_time:
        entry["db_time_ms"] = round(float(facts["db_time_ms"]), 3)
    return entry


def limits_of(entry: dict) -> dict:
    """A budget entry as marker-style limits."""
    return {
        "max_queries": entry.get("queries"),
        "max_complexity": entry.get("graphql_complexity"),
        "max_db_time_ms": entry.get("db_time_ms"),
    }


def merged(existing: dict[str, dict], measured: dict[str, dict], update: bool) -> dict:
    """Update mode: every measured test takes its new entry. Otherwise only tests without an
    entry are added; existing entries change only when someone asks for it."""
    result = dict(existing)
    for test_id, entry in measured.items():
        if update or test_id not in result:
            result[test_id] = entry
    return result
