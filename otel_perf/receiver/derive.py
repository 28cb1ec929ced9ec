"""Facts for roots received over OTLP: read from ``perf.*`` when the sender ran this distro,
derived here with the same pure functions (processors/facts.py) when it did not.

A root that carries ``perf.db.count`` was folded by the sender's PerfSpanProcessor: its facts
are taken as they are (its request counts, N+1 verdicts and memory are never recomputed). Its
DB child spans still give the per-statement groups of ``db_statements``, folded by the same
``summarize_db``. A root without them gets what the processor would have computed from the
same spans, except what only the process itself can see (memory, cache calls).
"""

from __future__ import annotations

from otel_perf.receiver.spans import STATUS_ERROR, RemoteSpan
from otel_perf.settings import Settings
from processors import attributes as A
from processors.facts import fingerprint_hex, request_path, root_facts, summarize_db

_NS_PER_MS = 1_000_000.0


def is_folded(attrs: dict) -> bool:
    """The sender's PerfSpanProcessor already folded this root."""
    return A.DB_COUNT in attrs


def db_entry(span: RemoteSpan):
    """The processor's DB observation tuple for a DB span, or None for any other span."""
    attrs = span.attributes
    statement = attrs.get("db.statement") or attrs.get("db.query.text")
    if not isinstance(statement, str):
        return None
    return (
        span.context.span_id,
        span.parent_id,
        statement,
        max(span.end_time - span.start_time, 0),
        attrs.get("db.system") or attrs.get("db.system.name"),
        None,  # the GraphQL field path is a context variable of the sender: not exported
    )


def summarize(entries: list, settings: Settings):
    return summarize_db(
        entries, int(settings.slow_db_ms * _NS_PER_MS), settings.n_plus_one_threshold
    )


def keep_senders_verdict(summary, attrs: dict) -> None:
    """N+1 findings are the sender's (its threshold), not recomputed with ours."""
    listed = attrs.get(A.N_PLUS_ONE_FINGERPRINTS) or ()
    summary.n_plus_one = [g for g in summary.groups if fingerprint_hex(g.fingerprint) in listed]


def memory_of(attrs: dict):
    usage = attrs.get(A.MEMORY_USAGE_MB)
    if usage is None:
        return None
    return (usage, attrs.get(A.MEMORY_DELTA_MB), attrs.get(A.MEMORY_PEAK_MB))


def derive_facts(span: RemoteSpan, kind: str, summary, settings: Settings) -> dict | None:
    """What processors.root_fold.fold_root gives a local root, from the received spans
    (None: an excluded path)."""
    attrs = span.attributes
    if kind == "request" and settings.is_excluded(request_path(attrs)):
        return None
    duration_ms = (span.end_time - span.start_time) / _NS_PER_MS
    span_error = span.status_code == STATUS_ERROR
    return root_facts(kind, attrs, summary, duration_ms, span_error, settings)
