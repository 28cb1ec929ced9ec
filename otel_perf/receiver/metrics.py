"""``POST /v1/metrics``: system metrics of remote hosts → ``system_samples`` (source ``otlp``).

The Collector's ``hostmetrics`` receiver (or any SDK following the system semantic
conventions) sends them; one row per host and export, with what these metric names give:

    system.cpu.utilization          cpu_percent     100 × (1 − idle share), or 100 × value
    system.memory.utilization       memory_percent  the ``used`` state, or the only point
    system.filesystem.utilization   disk_percent    the ``/`` mount point, else the fullest
    process.memory.usage            process_rss_bytes
    process.thread.count            process_threads

Other metrics are accepted and ignored (an OTLP receiver must not refuse unknown metrics).
Rows are committed by one small thread with its own store session, at most once a second;
its queue is bounded (oldest rows dropped and counted).
"""

from __future__ import annotations

import collections
import logging
import threading

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from otel_perf.receiver import decode as D
from otel_perf.receiver.service import PROTOBUF, Response

_logger = logging.getLogger("otel_perf.receiver")

MAX_ROWS = 10000


def _number(point) -> float | None:
    which = point.WhichOneof("value")
    return float(getattr(point, which)) if which else None


def _points(metric):
    which = metric.WhichOneof("data")
    if which in ("gauge", "sum"):
        return getattr(metric, which).data_points
    return ()


def _attr(point, key: str):
    for kv in point.attributes:
        if kv.key == key:
            return D._pb_value(kv.value)
    return None


def rows_from_request(request: ExportMetricsServiceRequest) -> list[dict]:
    """One ``system_samples`` row per resource that sent any of the mapped metrics."""
    rows = []
    for resource_metrics in request.resource_metrics:
        attrs = D._pb_attributes(resource_metrics.resource.attributes)
        row: dict = {"host_name": attrs.get("host.name") or attrs.get("service.name")}
        latest = 0
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                points = list(_points(metric))
                if not points:
                    continue
                latest = max([latest, *(p.time_unix_nano for p in points)])
                _apply(row, metric.name, points)
        if len(row) > 1 and latest:
            row["timestamp"] = latest // 1000
            row["source"] = "otlp"
            rows.append(row)
    return rows


def _apply(row: dict, name: str, points) -> None:
    if name == "system.cpu.utilization":
        idle = [_number(p) for p in points if _attr(p, "state") == "idle"]
        if idle:
            row["cpu_percent"] = 100.0 * (1.0 - sum(idle) / len(idle))
        elif len(points) == 1:
            row["cpu_percent"] = 100.0 * _number(points[0])
    elif name == "system.memory.utilization":
        used = [_number(p) for p in points if _attr(p, "state") == "used"]
        value = used[0] if used else (_number(points[0]) if len(points) == 1 else None)
        if value is not None:
            row["memory_percent"] = 100.0 * value
    elif name == "system.filesystem.utilization":
        root = [_number(p) for p in points if _attr(p, "mountpoint") == "/"]
        values = root or [_number(p) for p in points]
        row["disk_percent"] = 100.0 * max(v for v in values if v is not None)
    elif name in ("process.memory.usage", "process.memory.rss"):
        row["process_rss_bytes"] = int(sum(_number(p) or 0 for p in points))
    elif name == "process.thread.count":
        row["process_threads"] = int(_number(points[0]) or 0)


class MetricsSink:
    """A bounded queue of rows and the thread that commits them."""

    def __init__(self, address, interval_s: float = 1.0) -> None:
        self.address = address
        self.interval_s = interval_s
        self._rows: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._session = None
        self._lock = threading.Lock()
        self.rows_written = 0
        self.rows_dropped = 0
        self.write_errors = 0
        self._warned = False

    def add(self, rows: list[dict]) -> None:
        self._rows.extend(rows)
        while len(self._rows) > MAX_ROWS:
            self._rows.popleft()
            self.rows_dropped += 1
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="otel-perf-otlp-metrics", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval_s)
            self._commit()
        self._commit()
        if self._session is not None:
            self._session.close()

    def _commit(self) -> None:
        if not self._rows:
            return
        from otel_perf.storage import session
        from otel_perf.storage.rows import Columns

        columns = Columns("system_samples")
        taken = []
        while self._rows:
            row = self._rows.popleft()
            taken.append(row)
            columns.add(row)
        try:
            if self._session is None:
                self._session = session.StoreSession(self.address)
            self._session.insert([columns])
            self.rows_written += len(taken)
        except Exception as exc:
            self.write_errors += 1
            self.rows_dropped += len(taken)
            if self._session is not None:
                self._session.close()
                self._session = None
            if not self._warned:
                self._warned = True
                _logger.warning("otel-perf receiver: storing OTLP metrics failed: %s", exc)

    def close(self, timeout: float = 10.0) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


def export_metrics(receiver, sink: MetricsSink, body: bytes, content_type: str, encoding: str):
    if D.is_json(content_type):
        return receiver._error(415, "OTLP/JSON metrics are not supported; send protobuf", True)
    try:
        raw = D.decompress(body, encoding, receiver.max_bytes)
        request = ExportMetricsServiceRequest.FromString(raw)
    except D.PayloadTooLarge as exc:
        return receiver._error(413, str(exc), False)
    except (D.PayloadError, DecodeError, RuntimeError, ValueError) as exc:
        return receiver._error(400, f"not an ExportMetricsServiceRequest: {exc}", False)
    rows = rows_from_request(request)
    if rows:
        sink.add(rows)
    body = ExportMetricsServiceResponse().SerializeToString()
    return Response(200, {"Content-Type": PROTOBUF}, body)
