"""The span processor that records what one test ran.

Only spans of the current test's trace are looked at. DB spans get the place in the user's code
that issued them (a stack walk at the span's start: the test process only, DB spans only) and
the request they belong to, so N+1 detection stays per request even when a test makes several.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind

import otel_perf
import processors
from processors import attributes as A
from processors.attributes import attribute_dict
from processors.facts import endpoint_key
from processors.graphql.field_path import current_path as current_field_path

_MAX_FRAMES = 200


def _library_prefixes() -> tuple[str, ...]:
    """Directories whose frames are libraries, not the user's code."""
    paths = {sysconfig.get_paths().get(key) for key in ("stdlib", "platstdlib", "purelib")}
    paths.add(sysconfig.get_paths().get("platlib"))
    paths.add(os.path.dirname(os.__file__))
    for package in (otel_perf, processors):
        paths.add(os.path.dirname(package.__file__))
    prefixes = set()
    for path in paths:
        if path:
            prefixes.add(os.path.join(path, ""))
            prefixes.add(os.path.join(os.path.realpath(path), ""))
    return tuple(sorted(prefixes))


class Recording:
    """One test's observations, appended to while the test runs."""

    def __init__(self, trace_id: int, root_span_id: int) -> None:
        self.trace_id = trace_id
        self.root_span_id = root_span_id
        # The processor's entry shape: (span_id, parent_id, statement, ns, system, field path)
        self.db: list[tuple] = []
        self.db_meta: list[tuple[str | None, int]] = []  # (call site, request scope span id)
        self.operations: list[dict] = []
        self.endpoints: dict[int, str] = {}  # request span id -> "METHOD /route"
        self.spans: dict[int, Span] = {}
        self.sites: dict[int, str | None] = {}
        self.internal_errors = 0

    def scope_of(self, span_id: int) -> int:
        """The nearest enclosing request span (0: the test body itself)."""
        spans = self.spans
        for _ in range(_MAX_FRAMES):
            span = spans.get(span_id)
            if span is None:
                return 0
            if A.first(attribute_dict(span), A.HTTP_METHOD) is not None:
                return span_id
            parent = span.parent
            if parent is None:
                return 0
            span_id = parent.span_id
        return 0


class TestCollector(SpanProcessor):
    def __init__(self, rootdir: Path) -> None:
        self.current: Recording | None = None
        self._rootdir = os.path.join(str(rootdir), "")
        self._skip = _library_prefixes()

    def begin(self, trace_id: int, root_span_id: int) -> Recording:
        self.current = Recording(trace_id, root_span_id)
        return self.current

    def end(self) -> Recording | None:
        recording, self.current = self.current, None
        if recording is not None:
            recording.spans = {}
            recording.sites = {}
        return recording

    def on_start(self, span: Span, parent_context=None) -> None:
        recording = self.current
        if recording is None:
            return
        try:
            ctx = span.get_span_context()
            if ctx.trace_id != recording.trace_id:
                return
            recording.spans[ctx.span_id] = span
            if span.kind is SpanKind.CLIENT:
                recording.sites[ctx.span_id] = self.call_site()
        except Exception:
            recording.internal_errors += 1

    def on_end(self, span: ReadableSpan) -> None:
        recording = self.current
        if recording is None:
            return
        try:
            ctx = span.context
            if ctx.trace_id != recording.trace_id or ctx.span_id == recording.root_span_id:
                return
            attrs = attribute_dict(span)
            statement = attrs.get("db.statement") or attrs.get("db.query.text")
            parent_id = span.parent.span_id if span.parent is not None else 0
            if statement is not None:
                recording.db.append(
                    (
                        ctx.span_id,
                        parent_id,
                        statement,
                        span.end_time - span.start_time,
                        attrs.get("db.system") or attrs.get("db.system.name"),
                        current_field_path.get(),
                    )
                )
                recording.db_meta.append(
                    (recording.sites.pop(ctx.span_id, None), recording.scope_of(parent_id))
                )
            elif A.GRAPHQL_PARSING_MS in attrs:
                recording.operations.append(
                    {
                        "name": attrs.get(A.GRAPHQL_OPERATION_NAME),
                        "type": attrs.get(A.GRAPHQL_OPERATION_TYPE),
                        "complexity": attrs.get(A.GRAPHQL_COMPLEXITY),
                        "depth": attrs.get(A.GRAPHQL_DEPTH),
                        "query_hash": attrs.get(A.GRAPHQL_QUERY_HASH),
                        "scope": recording.scope_of(parent_id),
                    }
                )
            else:
                method = A.first(attrs, A.HTTP_METHOD)
                if method is not None:
                    recording.endpoints[ctx.span_id] = endpoint_key(method, attrs.get(A.HTTP_ROUTE))
        except Exception:
            recording.internal_errors += 1

    def call_site(self) -> str | None:
        """``path:line in function`` of the innermost frame outside libraries and otel-perf."""
        frame = sys._getframe(2)
        skip = self._skip
        for _ in range(_MAX_FRAMES):
            if frame is None:
                return None
            filename = frame.f_code.co_filename
            if not filename.startswith(skip) and not filename.startswith("<"):
                return f"{self._short(filename)}:{frame.f_lineno} in {frame.f_code.co_name}"
            frame = frame.f_back
        return None

    def _short(self, filename: str) -> str:
        """Relative to the rootdir, else to the import path entry it was imported from."""
        if filename.startswith(self._rootdir):
            return filename[len(self._rootdir) :]
        bases = [os.path.join(p, "") for p in sys.path if p and filename.startswith(p)]
        if bases:
            return filename[len(max(bases, key=len)) :]
        return filename

    def shutdown(self) -> None:
        self.current = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
