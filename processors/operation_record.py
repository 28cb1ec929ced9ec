"""A GraphQL operation recorded without an SDK span, for traces only the store will read.

When the store is a trace's only reader (``LocalTrace.fold_later``: no exporter, no other
processor), nothing would ever see an operation span but our own processor, and the rows read
only a few of its fields. Starting and ending an SDK span for it (the sampler, ids, attribute
validation, a context switch each way, the read-only copy at its end, the processor's hooks)
cost the request thread about 27 µs per operation (measured 2026-12-06 with the example
app's GetBook attributes). So the instrumentor asks the processor for a record instead
(``PerfSpanProcessor.store_operation``): the fields the rows read, in plain slots.

The record is not made current: statements run by the resolvers are the root's children, and
land in the operation's share of the trace by position, as before (``GraphQLOperation``
notes where the operation starts and ends in ``trace.db``). With an exporter the operation is
a span as ever, so every backend sees it.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanContext, Status


class OperationRecord:
    """The fields of an operation span that the store's rows read (and nothing else)."""

    __slots__ = ("name", "context", "start_time", "end_time", "attributes", "variables")

    def __init__(self, name: str, trace_id: int, span_id: int, start_ns: int, attributes: dict):
        self.name = name
        self.context = SpanContext(trace_id, span_id, False)
        self.start_time = start_ns
        self.end_time: int | None = None
        self.attributes = attributes
        # The operation's variables as sent: the writer stores their redacted copy
        # (``root_fold.fold_deferred``), so the request thread does not redact them.
        self.variables: Any = None


class StoreOperation:
    """What the instrumentor holds while the operation runs: the span calls it makes, kept in
    the record; ``end`` hands the operation to its trace as the processor's span hook did."""

    __slots__ = ("record", "operation", "trace", "processor")

    def __init__(self, record: OperationRecord, operation, trace, processor) -> None:
        self.record = record
        self.operation = operation
        self.trace = trace
        self.processor = processor

    def set_attribute(self, key: str, value: Any) -> None:
        self.record.attributes[key] = value

    # The store keeps neither an operation's status nor its exception events: the error count
    # (``perf.graphql.error_count``, set as an attribute) says that it failed.
    def set_status(self, status: Status) -> None:
        pass

    def record_exception(self, exception: BaseException) -> None:
        pass

    def end(self, end_time: int) -> None:
        self.record.end_time = end_time
        self.processor.end_store_operation(self.trace, self.operation)
        self.trace = self.processor = None  # no cycle through the trace's operation list
