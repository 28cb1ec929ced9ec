"""Spans as the Django instrumentation makes them, for tests that drive the SDK by hand."""

from __future__ import annotations

from opentelemetry.trace import SpanKind


def server_root(tracer, start_time: int, route: str, path: str, status: int = 200):
    """A request's SERVER span with the HTTP semantic-convention attributes, started at
    ``start_time`` (ns): the caller ends it."""
    return tracer.start_span(
        "GET",
        kind=SpanKind.SERVER,
        start_time=start_time,
        attributes={
            "http.request.method": "GET",
            "http.route": route,
            "url.path": path,
            "http.response.status_code": status,
        },
    )
