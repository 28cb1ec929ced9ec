"""The OTLP/HTTP endpoints as an ASGI app (served on ``--otlp-port`` by ``otel-perf serve``).

The body is read with its size bounded (Content-Length checked first, then counted while
streaming) so an oversized request costs at most the limit; decoding runs in the thread pool,
so the event loop keeps answering (health checks, other senders) during a large payload.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from otel_perf.receiver.metrics import export_metrics
from otel_perf.receiver.service import Receiver
from otel_perf.receiver.service import Response as ReceiverResponse


class _TooLarge(Exception):
    pass


# An oversized body is still read (and discarded) up to this much before the 413 goes out:
# closing a connection with unread data makes the kernel send a reset, which can destroy the
# 413 before the client reads it (seen with a 2 MB body). Beyond it, the connection is cut.
DRAIN_LIMIT = 64 * 1024 * 1024


async def _read_bounded(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > DRAIN_LIMIT:
        raise _TooLarge  # not worth reading: the connection is cut
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > DRAIN_LIMIT:
            raise _TooLarge
        if size <= limit:
            chunks.append(chunk)
        else:
            chunks = []  # over the limit: keep reading, drop it (memory stays flat)
    if size > limit:
        raise _TooLarge
    return b"".join(chunks)


def _to_starlette(response: ReceiverResponse) -> Response:
    return Response(response.body, response.status, response.headers)


def create_otlp_app(receiver: Receiver) -> Starlette:
    async def traces(request: Request) -> Response:
        content_type = request.headers.get("content-type", "application/x-protobuf")
        try:
            body = await _read_bounded(request, receiver.max_bytes)
        except _TooLarge:
            json_mode = content_type.startswith("application/json")
            response = receiver._error(413, "payload too large", json_mode)
            response.headers["Connection"] = "close"
            return _to_starlette(response)
        except ClientDisconnect:
            return Response(status_code=400)
        encoding = request.headers.get("content-encoding", "")
        response = await run_in_threadpool(receiver.export_traces, body, content_type, encoding)
        return _to_starlette(response)

    async def metrics(request: Request) -> Response:
        content_type = request.headers.get("content-type", "application/x-protobuf")
        try:
            body = await _read_bounded(request, receiver.max_bytes)
        except _TooLarge:
            return _to_starlette(receiver._error(413, "payload too large", False))
        except ClientDisconnect:
            return Response(status_code=400)
        encoding = request.headers.get("content-encoding", "")
        response = await run_in_threadpool(
            export_metrics, receiver, receiver.metrics, body, content_type, encoding
        )
        return _to_starlette(response)

    async def health(request: Request) -> Response:
        return Response(json.dumps(receiver.stats()), 200, {"Content-Type": "application/json"})

    routes = [
        Route("/v1/traces", traces, methods=["POST"]),
        Route("/v1/metrics", metrics, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.receiver = receiver
    return app
