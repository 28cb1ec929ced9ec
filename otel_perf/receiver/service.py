"""The receiver's core, independent of HTTP: payload in → (status, headers, body) out.

One ``Receiver`` per ``otel-perf serve`` process: it owns the trace assembler, a poll thread
that finishes due traces, and the ``StoreWriter`` every root goes through (the same writer
class, queue bound and store as the in-process pipeline).
"""

from __future__ import annotations

import logging
import threading
import time

from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_perf.receiver import decode as D
from otel_perf.receiver.assemble import TraceAssembler
from otel_perf.settings import Settings

_logger = logging.getLogger("otel_perf.receiver")

RETRY_AFTER_S = 2
# google.rpc.Code values for the Status body of errors.
_INVALID_ARGUMENT = 3
_RESOURCE_EXHAUSTED = 8
_UNAVAILABLE = 14

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class WriterSink:
    """``offer`` refuses (instead of silently dropping) when the writer's queue is full."""

    def __init__(self, writer) -> None:
        self.writer = writer

    def offer(self, item) -> bool:
        if len(self.writer._queue) >= self.writer.settings.queue_size:
            return False
        self.writer.submit(item)
        return True

    def room(self) -> bool:
        return len(self.writer._queue) < self.writer.settings.queue_size


class Receiver:
    def __init__(self, settings: Settings, writer, clock=time.monotonic) -> None:
        self.settings = settings
        self.writer = writer
        self.sink = WriterSink(writer)
        self.assembler = TraceAssembler(self.sink, settings, clock=clock)
        self.max_bytes = int(settings.otlp_max_body_mb * 1024 * 1024)
        self.requests_refused = 0  # 503: back-pressure
        self.requests_invalid = 0  # 400/413/415
        from otel_perf.receiver.metrics import MetricsSink

        self.metrics = MetricsSink(writer.address)  # /v1/metrics → system_samples
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, interval_s: float = 0.1) -> None:
        def run() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.assembler.poll()
                except Exception as exc:  # the thread must survive anything
                    _logger.warning("otel-perf receiver: finishing traces failed: %s", exc)

        self._thread = threading.Thread(target=run, name="otel-perf-otlp", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Store everything received (traces not yet due included), then stop the writer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.assembler.poll(flush_all=True)
        self.writer.shutdown(timeout)
        self.metrics.close(timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        self.assembler.poll(flush_all=True)
        return self.writer.flush(timeout)

    def stats(self) -> dict:
        return {
            **self.assembler.stats(),
            "requests_refused": self.requests_refused,
            "requests_invalid": self.requests_invalid,
            "metric_rows_written": self.metrics.rows_written,
            "metric_rows_dropped": self.metrics.rows_dropped,
            **{f"writer_{k}": v for k, v in self.writer.stats().items()},
        }

    # -- one request ---------------------------------------------------------------------------
    def export_traces(self, body: bytes, content_type: str, encoding: str) -> Response:
        json_mode = D.is_json(content_type)
        if not json_mode and content_type.split(";", 1)[0].strip().lower() != PROTOBUF:
            return self._error(415, f"unsupported Content-Type {content_type!r}", json_mode)
        try:
            raw = D.decompress(body, encoding, self.max_bytes)
            decoded = D.decode_json(raw) if json_mode else D.decode_protobuf(raw)
        except D.PayloadTooLarge as exc:
            return self._error(413, str(exc), json_mode)
        except D.PayloadError as exc:
            return self._error(400, str(exc), json_mode)
        spans = decoded.spans
        if not self.assembler.has_room(len(spans)) or not self.sink.room():
            self.requests_refused += 1
            return self._error(503, "the receiver is busy; retry later", json_mode, retry=True)
        if spans:
            self.assembler.add(spans)
        return self._success(decoded.rejected, decoded.reason, json_mode)

    def _success(self, rejected: int, reason: str, json_mode: bool) -> Response:
        if json_mode:
            import json

            body = {}
            if rejected:
                body = {"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": reason}}
            return Response(200, {"Content-Type": JSON}, json.dumps(body).encode())
        message = ExportTraceServiceResponse()
        if rejected:
            message.partial_success.rejected_spans = rejected
            message.partial_success.error_message = reason
        return Response(200, {"Content-Type": PROTOBUF}, message.SerializeToString())

    def _error(self, status: int, message: str, json_mode: bool, retry: bool = False) -> Response:
        if retry:
            code = _UNAVAILABLE
        else:
            self.requests_invalid += 1
            code = _RESOURCE_EXHAUSTED if status == 413 else _INVALID_ARGUMENT
        headers = {"Retry-After": str(RETRY_AFTER_S)} if retry else {}
        if json_mode:
            import json

            headers["Content-Type"] = JSON
            return Response(
                status, headers, json.dumps({"code": code, "message": message}).encode()
            )
        headers["Content-Type"] = PROTOBUF
        body = status_pb2.Status(code=code, message=message).SerializeToString()
        return Response(status, headers, body)
