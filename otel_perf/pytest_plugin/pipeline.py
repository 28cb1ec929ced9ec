"""The in-process pipeline the plugin measures with.

Under ``opentelemetry-instrument`` the process already has an SDK tracer provider with
otel-perf's processor and the instrumentations: the collector is added to it and test roots
go through it (so they are also stored as operations, kind ``test``). Otherwise the plugin
builds its own provider — PerfSpanProcessor (no store) and the collector — and instruments
DB-API/sqlite3/psycopg/SQLAlchemy, Django and graphql-core with it, without touching the
global provider; ``close`` undoes exactly what it did.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_perf.pytest_plugin.collector import TestCollector
from otel_perf.settings import get_settings

_logger = logging.getLogger("otel_perf")

# (module, class): instrumented when the library is importable and not instrumented yet.
DATABASE_INSTRUMENTORS = (
    ("opentelemetry.instrumentation.sqlite3", "SQLite3Instrumentor"),
    ("opentelemetry.instrumentation.psycopg", "PsycopgInstrumentor"),
    ("opentelemetry.instrumentation.psycopg2", "Psycopg2Instrumentor"),
    ("opentelemetry.instrumentation.sqlalchemy", "SQLAlchemyInstrumentor"),
    ("processors.graphql.instrumentor", "GraphQLCoreInstrumentor"),
)
DJANGO_INSTRUMENTOR = ("opentelemetry.instrumentation.django", "DjangoInstrumentor")


class Pipeline:
    def __init__(self, rootdir: Path) -> None:
        self.settings = get_settings()
        self.collector = TestCollector(rootdir)
        self._instrumented: list = []
        self._django_done = False
        provider = trace.get_tracer_provider()
        self.own_provider = not hasattr(provider, "add_span_processor")
        if self.own_provider:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider

            from processors.perf_processor import PerfSpanProcessor

            provider = TracerProvider(resource=Resource.create({"service.name": "pytest"}))
            provider.add_span_processor(PerfSpanProcessor(None, self.settings))
        provider.add_span_processor(self.collector)
        self.provider = provider
        self.tracer = provider.get_tracer("otel_perf.pytest")
        for module, name in DATABASE_INSTRUMENTORS:
            self._instrument(module, name)
        self.instrument_django()

    def _instrument(self, module_name: str, class_name: str) -> None:
        try:
            module = importlib.import_module(module_name)
            instrumentor = getattr(module, class_name)()
            if instrumentor.is_instrumented_by_opentelemetry:
                return  # opentelemetry-instrument (or the user) did it: theirs is used
            instrumentor.instrument(tracer_provider=self.provider)
            if instrumentor.is_instrumented_by_opentelemetry:
                self._instrumented.append(instrumentor)
        except ImportError:
            return  # the instrumented library (or its instrumentation) is not installed
        except Exception as exc:
            _logger.warning("otel-perf: could not instrument with %s: %s", class_name, exc)

    def instrument_django(self) -> None:
        """Once Django is set up (pytest-django does it before sessionstart)."""
        if self._django_done:
            return
        try:
            from django.apps import apps
        except ImportError:
            self._django_done = True
            return
        if not apps.ready:
            return
        self._django_done = True
        self._instrument(*DJANGO_INSTRUMENTOR)

    def start_test(self, name: str, attributes: dict):
        """Start the test's root span (no parent: a local root) and make it current."""
        span = self.tracer.start_span(name, context=otel_context.Context(), attributes=attributes)
        ctx = span.get_span_context()
        recording = self.collector.begin(ctx.trace_id, ctx.span_id)
        token = otel_context.attach(trace.set_span_in_context(span))
        return span, token, recording

    def end_test(self, span, token) -> None:
        try:
            otel_context.detach(token)
        finally:
            span.end()
            self.collector.end()

    def close(self) -> None:
        for instrumentor in reversed(self._instrumented):
            try:
                instrumentor.uninstrument()
            except Exception as exc:
                _logger.warning("otel-perf: could not uninstrument %s: %s", instrumentor, exc)
        self._instrumented.clear()
        if self.own_provider:
            self.provider.shutdown()
        else:
            self.collector.shutdown()
