"""A provider wired as the configurator wires it, with a real store writer behind it."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_perf import pipeline


def stored_provider(settings, service: str, exporter=None) -> TracerProvider:
    """otel-perf's processor and store writer (``settings.store``) on a new provider; with
    ``exporter``, a second processor reads every span too, as OTLP export adds one."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    processor = pipeline.create_processor(settings)
    provider.add_span_processor(processor)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    pipeline.attach_store(processor, provider.resource.attributes)
    return provider
