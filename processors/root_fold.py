"""The facts of a finished local root, folded from what its trace observed.

One definition for both places a root can be folded:

- on the request thread, just before the root ends, when something besides the store will
  read the root (an exporter's processor, a test's): the facts become span attributes, so
  every exporter shows them as tags;
- on the store writer's thread, when the store is the root's only reader (the default: no
  exporter). The request thread then only takes the end readings of memory, and the facts
  live beside the span (``trace.facts``) until the writer turns them into rows.
"""

from __future__ import annotations

from opentelemetry.trace import StatusCode

from processors import attributes as A
from processors.attributes import attribute_dict
from processors.facts import root_facts, summarize_db
from processors.memory import memory_figures

_NS_PER_MS = 1_000_000.0


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


def fold_deferred(item, settings) -> None:
    """Fold a root the request thread left to the store (``trace.fold_later``), once: a
    retried batch holds it again."""
    _kind, span, trace = item
    if getattr(trace, "fold_later", False) and trace.facts is None:
        rss_end, maxrss_end = trace.end_memory
        trace.facts = fold_root(span, trace, span.end_time, rss_end, maxrss_end, settings)


def root_attributes(span, trace):
    """The root's attributes with its facts, wherever they were folded."""
    attrs = span.attributes
    facts = getattr(trace, "facts", None)
    return attrs if facts is None else {**attrs, **facts}
