"""Received spans grouped by trace, each local root handed to the store writer with its facts.

Spans of one trace arrive in any order and in several requests (each SDK exports in batches,
a Collector re-batches). Spans wait here, grouped by trace id; a trace is finished
``otlp_trace_wait_s`` after its last local root arrived — the bounded wait for late children
(an SDK ends and exports children before their root, so in-order senders need no wait; the
wait covers Collectors and load balancers that reorder). A trace whose root never comes is
dropped after ``otlp_trace_timeout_s`` and its spans counted. Everything here is bounded by
``otlp_max_pending_spans``: beyond it the HTTP side answers 503 (back-pressure) instead of
taking more.

A local root is what PerfSpanProcessor would take as one in the sending process: a SERVER span
(or a ``perf.operation.kind`` span) whose parent is absent, remote, or of another process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from otel_perf.receiver import derive
from otel_perf.receiver.spans import KIND_SERVER, RemoteSpan
from otel_perf.settings import Settings
from processors import attributes as A


class ReceivedTrace:
    """What rows.py reads from the processor's LocalTrace, for one received root."""

    __slots__ = ("summary", "memory", "operations", "origin")

    def __init__(self, summary, memory, operations, origin) -> None:
        self.summary = summary
        self.memory = memory
        self.operations = operations
        self.origin = origin  # (ResourceInfo, instance id) of the sender: rows use it


class ReceivedOperation:
    __slots__ = ("span", "summary", "memory")

    def __init__(self, span, summary, memory) -> None:
        self.span = span
        self.summary = summary
        self.memory = memory


class _Pending:
    __slots__ = ("spans", "first_seen", "due")

    def __init__(self, now: float) -> None:
        self.spans: list[RemoteSpan] = []
        self.first_seen = now
        self.due: float | None = None  # set when a root arrives


def root_kind(span: RemoteSpan) -> str | None:
    if span.kind == KIND_SERVER:
        return "request"
    if span.attributes.get(A.OPERATION_KIND) is not None:
        return "operation"
    return None


class TraceAssembler:
    def __init__(
        self,
        sink,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self.pending_spans = 0
        self.spans_received = 0
        self.roots_stored = 0
        self.roots_derived = 0
        self.roots_dropped = 0  # the writer's queue was full
        self.spans_orphaned = 0  # no root within otlp_trace_timeout_s
        self.internal_errors = 0

    def has_room(self, count: int) -> bool:
        return self.pending_spans + count <= self.settings.otlp_max_pending_spans

    def add(self, spans: list[RemoteSpan]) -> None:
        now = self.clock()
        due = now + self.settings.otlp_trace_wait_s
        with self._lock:
            pending = self._pending
            for span in spans:
                trace_id = span.context.trace_id
                entry = pending.get(trace_id)
                if entry is None:
                    entry = pending[trace_id] = _Pending(now)
                entry.spans.append(span)
                if span.kind == KIND_SERVER or A.OPERATION_KIND in span.attributes:
                    entry.due = due
            self.pending_spans += len(spans)
            self.spans_received += len(spans)

    def poll(self, flush_all: bool = False) -> int:
        """Finish the traces that are due (all of them with ``flush_all``); roots handed on."""
        now = self.clock()
        timeout = self.settings.otlp_trace_timeout_s
        ready: list[_Pending] = []
        with self._lock:
            for trace_id, entry in list(self._pending.items()):
                if flush_all or (entry.due is not None and now >= entry.due):
                    ready.append(self._pending.pop(trace_id))
                elif now - entry.first_seen >= timeout:
                    del self._pending[trace_id]
                    ready.append(entry)
            self.pending_spans -= sum(len(e.spans) for e in ready)
        stored = 0
        for entry in ready:
            try:
                stored += self._finish(entry.spans)
            except Exception:  # one odd trace must not stop the others
                self.internal_errors += 1
        return stored

    # -- one trace ---------------------------------------------------------------------------
    def _finish(self, spans: list[RemoteSpan]) -> int:
        by_id = {s.context.span_id: s for s in spans}
        roots: dict[int, str] = {}
        for span in spans:
            kind = root_kind(span)
            if kind is not None and self._is_local_root(span, by_id):
                roots[span.context.span_id] = kind
        owner: dict[int, int | None] = {}  # span id → its local root's span id

        def root_of(span: RemoteSpan) -> int | None:
            chain = []
            current = span
            found = None
            while True:
                sid = current.context.span_id
                if sid in owner:
                    found = owner[sid]
                    break
                chain.append(sid)
                if sid in roots:
                    found = sid
                    break
                parent = by_id.get(current.parent_id)
                if parent is None or parent.origin.key != current.origin.key or len(chain) > 256:
                    break
                current = parent
            for sid in chain:
                owner[sid] = found
            return found

        db: dict[int, list] = {r: [] for r in roots}
        operations: dict[int, list[RemoteSpan]] = {r: [] for r in roots}
        attributed = 0
        for span in spans:
            root = root_of(span)
            if root is None:
                continue
            attributed += 1
            entry = derive.db_entry(span)
            if entry is not None:
                db[root].append((span, entry))
            elif A.GRAPHQL_PARSING_MS in span.attributes and span.context.span_id != root:
                operations[root].append(span)
        self.spans_orphaned += len(spans) - attributed
        stored = 0
        for root_id, kind in roots.items():
            if self._store_root(by_id[root_id], kind, db[root_id], operations[root_id], by_id):
                stored += 1
        return stored

    @staticmethod
    def _is_local_root(span: RemoteSpan, by_id: dict) -> bool:
        if not span.parent_id or span.parent_is_remote:
            return True
        parent = by_id.get(span.parent_id)
        if parent is None:
            # Parent unknown: local (a nested server span, flags say so) or not received.
            return span.parent_is_remote is None
        return parent.origin.key != span.origin.key

    def _store_root(self, root: RemoteSpan, kind, db_spans, operation_spans, by_id) -> bool:
        settings = self.settings
        attrs = root.attributes
        summary = derive.summarize([entry for _, entry in db_spans], settings)
        folded = derive.is_folded(attrs)
        if folded:
            derive.keep_senders_verdict(summary, attrs)
            memory = derive.memory_of(attrs)
        else:
            facts = derive.derive_facts(root, kind, summary, settings)
            if facts is None:
                return False  # an excluded path, as in the processor
            root.attributes = {**attrs, **facts}
            memory = None
        operations = []
        for op_span in sorted(operation_spans, key=lambda s: s.start_time):
            inside = [e for s, e in db_spans if _descends(s, op_span.context.span_id, by_id)]
            op_summary = derive.summarize(inside, settings)
            if folded and A.N_PLUS_ONE_COUNT not in op_span.attributes:
                op_summary.n_plus_one = []  # the sender found none here
            usage = op_span.attributes.get(A.MEMORY_USAGE_MB)
            op_memory = (usage, op_span.attributes.get(A.MEMORY_DELTA_MB)) if usage else None
            operations.append(ReceivedOperation(op_span, op_summary, op_memory))
        origin = root.origin
        trace = ReceivedTrace(summary, memory, operations, (origin.resource, origin.instance_id))
        if not self.sink.offer((kind, root, trace)):
            self.roots_dropped += 1
            return False
        self.roots_stored += 1
        if not folded:
            self.roots_derived += 1
        return True

    def stats(self) -> dict:
        return {
            "pending_traces": len(self._pending),
            "pending_spans": self.pending_spans,
            "spans_received": self.spans_received,
            "roots_stored": self.roots_stored,
            "roots_derived": self.roots_derived,
            "roots_dropped": self.roots_dropped,
            "spans_orphaned": self.spans_orphaned,
            "internal_errors": self.internal_errors,
        }


def _descends(span: RemoteSpan, ancestor_id: int, by_id: dict) -> bool:
    """``span`` sits under ``ancestor_id`` (followed through parent ids, bounded)."""
    current = span
    for _ in range(256):
        if current.parent_id == ancestor_id:
            return True
        current = by_id.get(current.parent_id)
        if current is None:
            return False
    return False
