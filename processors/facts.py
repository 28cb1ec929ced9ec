"""Pure functions that turn a local trace's raw observations into the facts we report."""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit

from processors import attributes as A
from processors.graphql.field_path import path_string
from processors.sql_fingerprint import fingerprint_cached

_NS_PER_MS = 1_000_000.0

# Statements a framework runs for itself, not for the app (glossary: not DB queries).
# Django's sqlite backend renders connection.queries under DEBUG=True by asking sqlite to
# QUOTE each parameter: one extra statement per app query that Django itself does not count.
_FRAMEWORK_STATEMENT = re.compile(r"^\s*SELECT\s+QUOTE\(\?\)(\s*,\s*QUOTE\(\?\))*\s*$", re.I)

SUGGESTION_ORM = (
    "The same statement ran once per row: load the related rows in one query "
    "(Django: select_related for foreign keys, prefetch_related for reverse/many relations; "
    "SQLAlchemy: selectinload/joinedload; GraphQL: a DataLoader)."
)


def suggestion(field_path: str | None) -> str:
    if field_path is None:
        return SUGGESTION_ORM
    return (
        f"The same statement ran once per item while resolving {field_path}: batch it with a "
        "DataLoader, or load the relation for the whole list in the parent resolver "
        "(Django: select_related / prefetch_related; SQLAlchemy: selectinload)."
    )


def is_framework_statement(statement: str) -> bool:
    # The substring test is a cheap filter run on every statement; the regex only rarely.
    return ("QUOTE(" in statement or "quote(" in statement) and bool(
        _FRAMEWORK_STATEMENT.match(statement)
    )


def endpoint_key(method: str | None, route: str | None) -> str:
    """``"METHOD /route"``; never the raw URL (cardinality, privacy)."""
    method = (method or "GET").upper()
    if method == "_OTHER":
        method = "OTHER"
    if not route:
        return f"{method} (unmatched)"
    return f"{method} {route if route.startswith('/') else '/' + route}"


def strip_query(path: str | None) -> str | None:
    if not path:
        return path
    cut = path.find("?")
    return path if cut < 0 else path[:cut]


def request_path(attributes) -> str | None:
    """The URL path without its query string, from whichever attribute the server set."""
    path = A.first(attributes, A.URL_PATH)
    if path:
        return strip_query(path)
    url = A.first(attributes, A.URL_FULL)
    if not url:
        return None
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return None


@dataclasses.dataclass(slots=True)  # slots: cheaper to create, once per statement per request
class StatementGroup:
    fingerprint: int
    statement: str
    db_system: str | None
    calls: int = 0
    total_ns: int = 0
    max_ns: int = 0
    slow_count: int = 0
    field_path: object = None  # graphql-core Path of the first execution, when inside GraphQL

    @property
    def graphql_field_path(self) -> str | None:
        return path_string(self.field_path)


@dataclasses.dataclass(slots=True)
class DbSummary:
    count: int
    total_ns: int
    slow_count: int
    slowest_ns: int
    slowest: StatementGroup | None
    groups: list[StatementGroup]
    n_plus_one: list[StatementGroup]

    @property
    def time_ms(self) -> float:
        return self.total_ns / _NS_PER_MS


_NO_SPANS: frozenset = frozenset()


def summarize_db(
    entries: list[tuple], slow_db_ns: int, n_plus_one_threshold: int, may_nest: bool = True
) -> DbSummary:
    """Fold DB span observations
    ``(span_id, parent_span_id, statement, duration_ns, system, graphql field path)``.

    A DB span whose parent is itself a DB span is a twin (two instrumentations of one
    statement, e.g. SQLAlchemy over psycopg): only the outer one counts. ``may_nest=False``
    says that no entry overlaps an earlier one in time, so none can be a twin.
    """
    if not entries:
        return DbSummary(0, 0, 0, 0, None, [], [])
    db_span_ids = {e[0] for e in entries} if may_nest else _NO_SPANS
    # First by raw text (a str's hash is cached by the str: one dict lookup per execution),
    # so the framework test and the fingerprint run once per distinct text rather than once
    # per execution: an N+1 of 200 executions pays for them once. Per text, in order of first
    # execution: [first index, calls, total ns, max ns, index of the last execution reaching
    # the max (it wins ties for the slowest), slow count] - updated in place, one pass, no
    # per-text lists of executions to allocate.
    texts: dict[str, list[int]] = {}
    index = -1
    for entry in entries:
        index += 1
        if entry[1] in db_span_ids:
            continue
        duration_ns = entry[3]
        agg = texts.get(entry[2])
        if agg is None:
            texts[entry[2]] = [
                index, 1, duration_ns, duration_ns, index, 1 if duration_ns >= slow_db_ns else 0
            ]  # fmt: skip
            continue
        agg[1] += 1
        agg[2] += duration_ns
        if duration_ns >= agg[3]:
            agg[3] = duration_ns
            agg[4] = index
        if duration_ns >= slow_db_ns:
            agg[5] += 1
    groups: dict[int, StatementGroup] = {}
    count = total = slow = 0
    slowest_ns = 0
    slowest_index = -1
    slowest: StatementGroup | None = None
    # Texts are in order of first execution, so a fingerprint's first text holds its first
    # execution: groups keep that order, and the system and field path of that execution.
    for statement, (first_index, calls, total_ns, max_ns, max_index, slow_count) in texts.items():
        if is_framework_statement(statement):
            continue
        fp, normalized = fingerprint_cached(statement)
        group = groups.get(fp)
        if group is None:
            first = entries[first_index]
            group = groups[fp] = StatementGroup(
                fp, normalized, first[4], calls, total_ns, max_ns, slow_count, first[5]
            )
        else:
            group.calls += calls
            group.total_ns += total_ns
            if max_ns > group.max_ns:
                group.max_ns = max_ns
            group.slow_count += slow_count
        # The slowest execution; among equals, the latest.
        if max_ns > slowest_ns or (max_ns == slowest_ns and max_index > slowest_index):
            slowest_ns, slowest_index, slowest = max_ns, max_index, group
        count += calls
        total += total_ns
        slow += slow_count
    ordered = list(groups.values())
    n_plus_one = [g for g in ordered if g.calls >= n_plus_one_threshold]
    return DbSummary(count, total, slow, slowest_ns, slowest, ordered, n_plus_one)


def fingerprint_hex(fp: int) -> str:
    return format(fp & 0xFFFFFFFFFFFFFFFF, "016x")


def root_facts(kind: str, attrs, summary, duration_ms: float, span_error: bool, settings) -> dict:
    """The endpoint, DB figures and flags of a local root: one definition for the in-process
    processor (processors/root_fold.py) and the OTLP receiver (which derives them from
    received spans). ``span_error``: the span's status is ERROR. Counts always; flags only
    when true and groups only when they apply (each attribute costs the SDK's validation on
    the request path; absent = false)."""
    s = settings
    facts: dict = {}
    if kind == "request":
        facts[A.ENDPOINT] = endpoint_key(A.first(attrs, A.HTTP_METHOD), attrs.get(A.HTTP_ROUTE))
    status = A.first(attrs, A.HTTP_STATUS)
    # A handled exception (Django's Http404) also marks the span ERROR; when a status was
    # sent, it decides. No status means the exception escaped: that is an error.
    if isinstance(status, int) and not isinstance(status, bool):
        error = status >= 500
    else:
        error = span_error
    facts[A.DB_COUNT] = summary.count
    facts[A.DB_TIME_MS] = summary.time_ms
    if duration_ms >= s.slow_request_ms:
        facts[A.SLOW] = True
        if duration_ms >= s.very_slow_request_ms:
            facts[A.VERY_SLOW] = True
    if error:
        facts[A.ERROR] = True
    if summary.count > s.max_queries_per_request:
        facts[A.DB_TOO_MANY] = True
    if summary.slowest is not None:
        facts[A.DB_SLOWEST_MS] = summary.slowest_ns / 1_000_000.0
        facts[A.DB_SLOWEST_STATEMENT] = summary.slowest.statement
        if summary.slow_count:
            facts[A.DB_SLOW_COUNT] = summary.slow_count
    if summary.n_plus_one:
        # One pass for the three parallel arrays (three generators cost a frame each).
        statements, fingerprints, executions = [], [], []
        for g in summary.n_plus_one:
            statements.append(g.statement)
            fingerprints.append(fingerprint_hex(g.fingerprint))
            executions.append(g.calls)
        facts[A.N_PLUS_ONE] = True
        facts[A.N_PLUS_ONE_COUNT] = len(statements)
        facts[A.N_PLUS_ONE_STATEMENTS] = tuple(statements)
        facts[A.N_PLUS_ONE_FINGERPRINTS] = tuple(fingerprints)
        facts[A.N_PLUS_ONE_EXECUTIONS] = tuple(executions)
    if s.tenant_attribute and A.TENANT not in attrs:
        tenant = attrs.get(s.tenant_attribute)
        if tenant is not None:
            facts[A.TENANT] = str(tenant)
    return facts
