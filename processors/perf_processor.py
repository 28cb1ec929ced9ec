"""PerfSpanProcessor: folds each local trace's facts into its root span, then hands it to the store.

Hot path (every span): ``on_start`` and ``on_end`` do a dict lookup and, for DB spans, one list
append — O(1), no I/O, no logging, never raising into the app. The per-request work (folding
the DB observations, N+1 detection, memory figures; processors/root_fold.py) runs once per
local root, in one of two places:

- when something besides the store reads the root (an exporter's processor, as OTLP export
  adds), in a wrapper around the root's ``end``, so the facts become attributes while the span
  can still take them: every exporter then shows them as tags;
- when the store is its only reader (the default), on the store writer's background thread:
  the request thread only reads the memory at the end. That keeps a request's added work on
  its own thread close to plain OpenTelemetry's (docs/benchmarks.md, request_instructions).

Turning spans into rows happens on the store writer's thread.

State is bounded: at most ``max_open_traces`` local traces are tracked; the oldest are evicted
(and counted) so traces that never end cannot grow memory.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, get_current_span

from otel_perf.settings import Settings, get_settings
from processors import attributes as A
from processors.attributes import attribute_dict, set_facts
from processors.facts import request_path
from processors.graphql.field_path import current_path as current_field_path
from processors.memory import max_rss_bytes, max_rss_bytes_at, rss_bytes, rss_bytes_at
from processors.operation_record import OperationRecord, StoreOperation
from processors.root_fold import fold_deferred, fold_operation, fold_root

_logger = logging.getLogger("otel_perf")
_SQLALCHEMY_SCOPE = "opentelemetry.instrumentation.sqlalchemy"


# A root left to the store writer is folded on its own thread all the same when it ran more
# statements than this: the queue then holds its summary, not one tuple per execution.
FOLD_ON_THREAD_ABOVE = 64

_SERVER = SpanKind.SERVER
_GRAPHQL_PARSING_MS = A.GRAPHQL_PARSING_MS
_current_field_path = current_field_path.get
# The SDK's own span classes (``_Span`` is what its tracer creates), whose fields the hot path
# reads directly; a subclass defined elsewhere goes through ``_PublicFields``.
_SDK_SPANS = frozenset((Span, *Span.__subclasses__()))


def store_operation(tracer, parent, name: str, start_ns: int, attributes: dict):
    """A GraphQL operation under ``parent`` (the current span) as a record, when ``tracer``'s
    provider has our processor as its only one and that processor left the trace to the store;
    else None (the caller starts a span, as with any other tracer)."""
    processors = getattr(getattr(tracer, "span_processor", None), "_span_processors", None)
    if type(processors) is not tuple or len(processors) != 1:
        return None
    processor = processors[0]
    if not isinstance(processor, PerfSpanProcessor):
        return None
    return processor.store_operation(parent, name, start_ns, attributes, tracer.id_generator)


def _unwrap_end(span) -> None:
    """Remove our ``end`` wrapper from the span instance (its class's ``end`` shows again).
    ``del``, not ``span.__dict__.pop``: asking for ``__dict__`` makes Python build the
    instance's dict, which it otherwise keeps in a cheaper inline form."""
    try:
        del span.end
    except AttributeError:  # someone else removed it already
        pass


class _PublicFields:
    """The fields the hot path reads, taken through the public API of a span that is not the
    SDK's own (the SDK's spans are read directly)."""

    __slots__ = (
        "_context",
        "_parent",
        "_kind",
        "_start_time",
        "_end_time",
        "_instrumentation_scope",
        "_attributes",
    )

    def __init__(self, span) -> None:
        self._context = span.get_span_context()
        self._parent = span.parent
        self._kind = span.kind
        self._start_time = span.start_time
        self._end_time = span.end_time
        self._instrumentation_scope = getattr(span, "instrumentation_scope", None)
        self._attributes = None  # the hot path then reads the span's public attributes


class LocalTrace:
    """What one local trace has observed so far. Created for request and operation roots only."""

    __slots__ = (
        "root_span_id",
        "kind",
        "rss_start",
        "maxrss_start",
        "db",
        "db_last_end",
        "db_overlap",
        "cache_hits",
        "cache_misses",
        "cache_ns",
        "summary",
        "memory",
        "operations",
        "fold_later",
        "end_memory",
        "facts",
    )

    def __init__(self, root_span_id: int, kind: str, start_ns: int) -> None:
        self.root_span_id = root_span_id
        self.kind = kind  # "request" | "operation"
        # Both usually the last root's end readings (processors/memory.py: no system call).
        self.rss_start = rss_bytes_at(start_ns)
        self.maxrss_start = max_rss_bytes_at(start_ns)
        # (span_id, parent_span_id, statement, duration_ns, db_system, graphql field path)
        self.db: list[tuple[int, int, str, int, str | None, object]] = []
        self.db_last_end = 0  # the latest end time (ns) among the entries in ``db``
        # A DB span started before an earlier one had ended. Nesting implies it, so while it
        # is False no entry can be a twin and summarize_db skips that test.
        self.db_overlap = False
        self.cache_hits = 0
        self.cache_misses = 0
        self.cache_ns = 0
        self.summary = None
        self.memory: tuple[float, float, float] | None = None
        self.operations: list[GraphQLOperation] = []
        # Folded by the store writer (processors/root_fold.py): the end's memory readings, taken
        # on the request thread, and the facts the writer derives, kept beside the span.
        self.fold_later = False
        self.end_memory: tuple[int, int] | None = None
        self.facts: dict | None = None


class GraphQLOperation:
    """A GraphQL operation span inside a local trace: where its share of the trace starts."""

    __slots__ = (
        "span",
        "db_start",
        "cache_start",
        "rss_start",
        "summary",
        "memory",
        "end",
        "facts",
    )

    def __init__(self, span, trace: LocalTrace, start_ns: int) -> None:
        self.span = span  # the SDK span, or an OperationRecord when only the store reads it
        self.db_start = len(trace.db)
        self.cache_start = (trace.cache_hits, trace.cache_misses, trace.cache_ns)
        self.rss_start = rss_bytes_at(start_ns)
        self.summary = None
        self.memory: tuple[float, float] | None = None
        # Folded by the store writer (trace.fold_later): where the operation ended, as
        # (statements so far, (cache hits, misses, ns) so far, RSS), and the facts folded then.
        self.end: tuple[int, tuple[int, int, int], int] | None = None
        self.facts: dict | None = None


class PerfSpanProcessor(SpanProcessor):
    """Derives per-request facts; ``sink.submit((kind, span, trace))`` receives the roots."""

    def __init__(self, sink: Any = None, settings: Settings | None = None) -> None:
        self._settings = settings or get_settings()
        self._sink = None
        self._sink_folds = False
        self.set_sink(sink)
        self._traces: dict[int, LocalTrace] = {}
        self.traces_evicted = 0
        self.internal_errors = 0

    # -- configuration -------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self._settings

    def update_settings(self, settings: Settings) -> None:
        self._settings = settings

    def set_sink(self, sink: Any) -> None:
        self._sink = sink
        # A sink that folds roots itself (the store writer: processors.root_fold.fold_deferred
        # before its rows) lets the request thread skip the fold when nothing else reads them.
        self._sink_folds = bool(getattr(sink, "folds_roots", False))

    def _alone(self, span: Span) -> bool:
        """No other processor will see this span: the provider's chain holds only us (an
        exporter's processor there would export the root, and must find the facts on it)."""
        processors = getattr(span._span_processor, "_span_processors", None)
        return type(processors) is tuple and len(processors) == 1 and processors[0] is self

    # -- hot path --------------------------------------------------------------------------
    def on_start(self, span: Span, parent_context=None) -> None:
        try:
            # The SDK's span: read its fields, not its properties (each property is a Python
            # call, and this runs for every span). Any other span: the same fields, read once
            # through the public API.
            fields = span if type(span) in _SDK_SPANS else _PublicFields(span)
            attributes = fields._attributes
            if type(attributes) is BoundedAttributes:  # the SDK's: it keeps a plain dict
                attrs = attributes._dict
            else:
                attrs = attribute_dict(span)
            parent = fields._parent
            if parent is not None and not parent[2]:  # SpanContext is a tuple; [2]: is_remote
                if _GRAPHQL_PARSING_MS in attrs:
                    self._start_operation(span, fields._context.trace_id, fields._start_time)
                return
            if fields._kind is _SERVER:
                # An excluded path (health checks...): decided here, once. Not tracked, not
                # queued (while the store is down, a queued one would count as dropped).
                if self._settings.is_excluded(request_path(attrs)):
                    return
                kind = "request"
            elif attrs.get(A.OPERATION_KIND) is not None:
                kind = "operation"
            else:
                return  # startup statements, background roots: not requests
            ctx = fields._context
            traces = self._traces
            if len(traces) >= self._settings.max_open_traces:
                self._evict_oldest()
            trace = LocalTrace(ctx.span_id, kind, fields._start_time)
            traces[ctx.trace_id] = trace
            if self._sink_folds and fields is span and self._alone(span):
                # Only the store will read this root: its writer folds the facts, off the
                # request thread (processors/root_fold.py).
                trace.fold_later = True
                return
            # Facts must be set while the root is still open; the SDK's end() freezes
            # attributes before any processor hook runs, so fold just before it.
            span.end = functools.partial(self._end_root, span, trace, span.end)
        except Exception:  # never break the host app
            self.internal_errors += 1

    def on_end(self, span: ReadableSpan) -> None:
        try:
            fields = span if type(span) is ReadableSpan else _PublicFields(span)
            trace_id, span_id = fields._context[:2]  # SpanContext is a tuple: one unpack
            trace = self._traces.get(trace_id)
            if trace is None:
                return
            if span_id == trace.root_span_id:
                del self._traces[trace_id]
                item = (trace.kind, span, trace)
                if trace.fold_later:  # what only this thread can read at the end
                    trace.end_memory = (rss_bytes(), max_rss_bytes())
                    # A long trace's raw statements would wait in the writer's queue (a
                    # backlog of N+1 requests would hold every execution): fold it here.
                    if len(trace.db) > FOLD_ON_THREAD_ABOVE:
                        try:
                            fold_deferred(item, self._settings)
                        except Exception:  # stored without facts, as a failed fold above
                            trace.fold_later = False
                            self.internal_errors += 1
                if self._sink is not None:
                    self._sink.submit(item)
                return
            attributes = fields._attributes
            if type(attributes) is BoundedAttributes:
                attrs = attributes._dict
            else:
                attrs = attribute_dict(span)
            statement = attrs.get("db.statement") or attrs.get("db.query.text")
            if statement is not None:
                start, end = fields._start_time, fields._end_time
                parent = fields._parent
                parent_id = parent[1] if parent is not None else 0  # SpanContext.span_id
                db = trace.db
                # SQLAlchemy's span is not current while the driver executes, so the driver's
                # span (psycopg, sqlite3) is its sibling, not its child, and summarize_db's
                # twin rule cannot see it. That span ended just before this one, inside it,
                # with the same parent and statement: make it this span's child so that the
                # statement counts once. (Sequential statements fail the cheap time test
                # first: the scope's name, a property, is read only for overlapping ones.)
                if db and trace.db_last_end >= start:
                    trace.db_overlap = True
                    last = db[-1]
                    scope = fields._instrumentation_scope
                    if (
                        last[1] == parent_id
                        and scope is not None
                        and scope.name == _SQLALCHEMY_SCOPE
                        and last[2].startswith(statement)
                    ):
                        db[-1] = (last[0], span_id, *last[2:])
                db.append(
                    (
                        span_id,
                        parent_id,
                        statement,
                        end - start,
                        attrs.get("db.system") or attrs.get("db.system.name"),
                        _current_field_path(),
                    )
                )
                if end > trace.db_last_end:
                    trace.db_last_end = end
        except Exception:
            self.internal_errors += 1

    def record_cache(self, hits: int, misses: int, duration_ns: int) -> None:
        """Cache figures for the current local trace (``processors.cache_events`` listener)."""
        try:
            trace = self._traces.get(get_current_span().get_span_context().trace_id)
            if trace is None:
                return
            trace.cache_hits += hits
            trace.cache_misses += misses
            trace.cache_ns += duration_ns
        except Exception:
            self.internal_errors += 1

    def _start_operation(self, span: Span, trace_id: int, start_ns: int) -> None:
        trace = self._traces.get(trace_id)
        if trace is None:
            return  # a GraphQL operation outside any request: exported, not stored
        operation = GraphQLOperation(span, trace, start_ns)
        span.end = functools.partial(self._end_operation, span, trace, operation, span.end)

    def store_operation(self, parent: Span, name: str, start_ns: int, attributes: dict, ids):
        """A GraphQL operation starting under ``parent`` as a record (processors/
        operation_record.py) when the store alone reads its trace, else None (the caller
        starts a span). ``ids``: the tracer's id generator, for the record's span id."""
        context = parent.get_span_context()
        trace = self._traces.get(context.trace_id)
        if trace is None or not trace.fold_later:
            return None
        record = OperationRecord(
            name, context.trace_id, ids.generate_span_id(), start_ns, attributes
        )
        return StoreOperation(record, GraphQLOperation(record, trace, start_ns), trace, self)

    def end_store_operation(self, trace: LocalTrace, operation: GraphQLOperation) -> None:
        """A recorded operation ended (its trace is always left to the store)."""
        try:
            self._operation_ended(trace, operation, None)
        except Exception:
            self.internal_errors += 1

    def _operation_ended(self, trace: LocalTrace, operation: GraphQLOperation, span) -> None:
        """Where the operation ended: noted for the writer to fold when the store alone reads
        the trace (what only this thread can read now), else folded into ``span``'s tags."""
        cache = (trace.cache_hits, trace.cache_misses, trace.cache_ns)
        if trace.fold_later:
            operation.end = (len(trace.db), cache, rss_bytes())
        else:
            facts = fold_operation(
                trace, operation, len(trace.db), cache, rss_bytes(), self._settings
            )
            set_facts(span, facts)
        trace.operations.append(operation)

    def _evict_oldest(self) -> None:
        try:
            self._traces.pop(next(iter(self._traces)), None)
            self.traces_evicted += 1
        except (RuntimeError, StopIteration):  # another thread changed the dict meanwhile
            pass

    # -- once per root ---------------------------------------------------------------------
    def _end_root(self, span: Span, trace: LocalTrace, end, end_time: int | None = None) -> None:
        if end_time is None:
            end_time = time.time_ns()
        try:
            set_facts(
                span, fold_root(span, trace, end_time, rss_bytes(), max_rss_bytes(), self._settings)
            )
        except Exception:
            self.internal_errors += 1
        # The wrapper references the span: drop it so the span is not kept in a reference
        # cycle (which would leave every request's spans to the cyclic garbage collector).
        _unwrap_end(span)
        end(end_time)

    def _end_operation(
        self, span: Span, trace: LocalTrace, operation: GraphQLOperation, end, end_time=None
    ) -> None:
        try:
            self._operation_ended(trace, operation, span)
        except Exception:
            self.internal_errors += 1
        _unwrap_end(span)
        end(end_time)

    # -- lifecycle ---------------------------------------------------------------------------
    def open_traces(self) -> int:
        return len(self._traces)

    def shutdown(self) -> None:
        if self._sink is not None:
            self._sink.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self._sink is not None:
            return self._sink.flush(timeout_millis / 1000.0)
        return True
