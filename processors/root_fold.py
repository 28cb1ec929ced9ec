"""The facts of a finished local root, folded from what its trace observed.

One definition for both places a root can be folded:

- on the request thread, just before the root ends, when something besides the store will
  read the root (an exporter's processor, a test's): the facts become span attributes, so
  every exporter shows them as tags;
- on the store writer's thread, when the store is the root's only reader (the default: no
  exporter). The request thread then only takes the end readings of memory, and the facts
  live beside the span (``trace.facts``) until the writer turns them into rows. The same
  holds for the trace's GraphQL operations: the request thread notes where each ended (its
  statements, cache calls and memory then: ``GraphQLOperation.end``) and the writer folds
  them (``operation.facts``).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import StatusCode

from processors import attributes as A
from processors.attributes import attribute_dict
from processors.facts import root_facts, summarize_db
from processors.graphql.variables import variables_json
from processors.memory import memory_figures

_NS_PER_MS = 1_000_000.0
_MIB = 1024.0 * 1024.0


def fold_root(span, trace, end_time: int, rss_end: int, maxrss_end: int, settings) -> dict:
    """The root's facts (``perf.*`` attributes). Sets ``trace.summary`` and ``trace.memory``
    and releases the raw statements. (Excluded paths never get here: the processor does not
    track them.)"""
    s = settings
    attrs = attribute_dict(span)
    summary = summarize_db(
        trace.db, int(s.slow_db_ms * _NS_PER_MS), s.n_plus_one_threshold, trace.db_overlap
    )
    trace.summary = summary
    trace.db = []  # release the raw statements early
    duration_ms = (end_time - span.start_time) / _NS_PER_MS
    span_error = span.status.status_code is StatusCode.ERROR
    facts = root_facts(trace.kind, attrs, summary, duration_ms, span_error, s)
    memory = memory_figures(trace.rss_start, trace.maxrss_start, rss_end, maxrss_end)
    trace.memory = memory
    facts[A.MEMORY_USAGE_MB] = round(memory[0], 3)
    facts[A.MEMORY_DELTA_MB] = round(memory[1], 3)
    facts[A.MEMORY_PEAK_MB] = round(memory[2], 3)
    if memory[1] >= s.memory_per_request_mb:
        facts[A.MEMORY_HIGH] = True
    if trace.cache_hits or trace.cache_misses:
        facts[A.CACHE_HITS] = trace.cache_hits
        facts[A.CACHE_MISSES] = trace.cache_misses
        facts[A.CACHE_TIME_MS] = trace.cache_ns / _NS_PER_MS
    return facts


def fold_operation(trace, operation, db_end: int, cache_end: tuple, rss_end: int, settings):
    """A GraphQL operation's share of its trace: the statements ``trace.db[db_start:db_end]``
    and the cache calls since it started (``cache_end``: the trace's hits, misses and ns when
    it ended). Sets ``operation.summary`` and ``operation.memory``; returns its facts."""
    s = settings
    summary = summarize_db(
        trace.db[operation.db_start : db_end],
        int(s.slow_db_ms * _NS_PER_MS),
        s.n_plus_one_threshold,
        trace.db_overlap,
    )
    hits0, misses0, ns0 = operation.cache_start
    hits, misses, ns = cache_end
    operation.summary = summary
    operation.memory = (rss_end / _MIB, (rss_end - operation.rss_start) / _MIB)
    facts: dict[str, Any] = {
        A.DB_COUNT: summary.count,
        A.DB_TIME_MS: summary.time_ms,
        A.CACHE_HITS: hits - hits0,
        A.CACHE_MISSES: misses - misses0,
        A.CACHE_TIME_MS: (ns - ns0) / _NS_PER_MS,
        A.MEMORY_USAGE_MB: round(operation.memory[0], 3),
        A.MEMORY_DELTA_MB: round(operation.memory[1], 3),
    }
    if summary.n_plus_one:
        facts[A.N_PLUS_ONE] = True
        facts[A.N_PLUS_ONE_COUNT] = len(summary.n_plus_one)
    return facts


def fold_deferred(item, settings) -> None:
    """Fold a root the request thread left to the store (``trace.fold_later``), once: a
    retried batch holds it again. Its GraphQL operations first: the root's fold releases the
    statements they share."""
    _kind, span, trace = item
    if getattr(trace, "fold_later", False) and trace.facts is None:
        for operation in trace.operations:
            if operation.end is not None and operation.facts is None:
                db_end, cache_end, rss_end = operation.end
                operation.facts = fold_operation(
                    trace, operation, db_end, cache_end, rss_end, settings
                )
                variables = getattr(operation.span, "variables", None)  # a record's, raw
                if variables:
                    operation.facts[A.GRAPHQL_VARIABLES] = variables_json(
                        variables, settings.redact_variables
                    )
        rss_end, maxrss_end = trace.end_memory
        trace.facts = fold_root(span, trace, span.end_time, rss_end, maxrss_end, settings)


def operation_attributes(operation):
    """The operation span's attributes with its facts, wherever they were folded."""
    attrs = operation.span.attributes
    facts = getattr(operation, "facts", None)  # the receiver's operations carry theirs as tags
    return attrs if facts is None else {**attrs, **facts}


def root_attributes(span, trace):
    """The root's attributes with its facts, wherever they were folded."""
    attrs = span.attributes
    facts = getattr(trace, "facts", None)
    return attrs if facts is None else {**attrs, **facts}
