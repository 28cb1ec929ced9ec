"""The otel-perf distro: environment defaults only (``setdefault``: the user's environment wins)."""

from __future__ import annotations

import os

from opentelemetry.environment_variables import (
    OTEL_LOGS_EXPORTER,
    OTEL_METRICS_EXPORTER,
    OTEL_TRACES_EXPORTER,
)
from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.sdk.environment_variables import OTEL_EXPORTER_OTLP_PROTOCOL


class OtelPerfDistro(BaseDistro):
    def _configure(self, **kwargs):
        # The local store needs no exporter: nothing is sent anywhere unless the user asks
        # (OTEL_TRACES_EXPORTER=otlp / console), so a missing Collector never spams errors.
        os.environ.setdefault(OTEL_TRACES_EXPORTER, "none")
        os.environ.setdefault(OTEL_METRICS_EXPORTER, "none")
        os.environ.setdefault(OTEL_LOGS_EXPORTER, "none")
        os.environ.setdefault(OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf")
