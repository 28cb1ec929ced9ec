"""Light records of received spans: what the row builders read, nothing more.

``RemoteSpan`` answers the same attribute names ``storage/rows.py`` reads from an SDK
``ReadableSpan`` (``context.trace_id``, ``attributes``, ``start_time``...), so received roots go
through the same row builder as local ones.
"""

from __future__ import annotations

from otel_perf.storage.rows import ResourceInfo

# OTLP SpanKind values (opentelemetry/proto/trace/v1/trace.proto).
KIND_SERVER = 2
STATUS_ERROR = 2
# SpanFlags: bit 8 says whether bit 9 (parent is remote) is known.
FLAG_HAS_IS_REMOTE = 0x100
FLAG_IS_REMOTE = 0x200


class Context:
    __slots__ = ("trace_id", "span_id")

    def __init__(self, trace_id: int, span_id: int) -> None:
        self.trace_id = trace_id
        self.span_id = span_id


class Origin:
    """The sending process: its resource, as the rows want it, and an instance id."""

    __slots__ = ("resource", "instance_id", "key")

    def __init__(self, attributes: dict) -> None:
        self.resource = ResourceInfo(attributes)
        r = self.resource
        self.instance_id = r.service_instance or f"{r.host_name or 'remote'}:{r.service_name}"
        # Spans of one process: same service, instance and host.
        self.key = (r.service_name, r.service_instance, r.host_name)


class RemoteSpan:
    __slots__ = (
        "context",
        "parent_id",
        "name",
        "kind",
        "start_time",
        "end_time",
        "attributes",
        "status_code",
        "flags",
        "origin",
    )

    def __init__(
        self,
        trace_id: int,
        span_id: int,
        parent_id: int,
        name: str,
        kind: int,
        start_time: int,
        end_time: int,
        attributes: dict,
        status_code: int,
        flags: int,
        origin: Origin,
    ) -> None:
        self.context = Context(trace_id, span_id)
        self.parent_id = parent_id
        self.name = name
        self.kind = kind
        self.start_time = start_time
        self.end_time = end_time
        self.attributes = attributes
        self.status_code = status_code
        self.flags = flags
        self.origin = origin

    @property
    def parent_is_remote(self) -> bool | None:
        """True/False when the sender said so (SDKs since 2024 do), None when unknown."""
        if self.flags & FLAG_HAS_IS_REMOTE:
            return bool(self.flags & FLAG_IS_REMOTE)
        return None
