"""Wiring: the PerfSpanProcessor and its store writer on an SDK TracerProvider.

Installed by our configurator when it is the one that runs, and otherwise by the
post-instrument hook on whatever provider the other configurator built (the upstream
``opentelemetry-distro`` may win the entry-point race: their order is not deterministic).
"""

from __future__ import annotations

import logging
import sys

from otel_perf.settings import Settings, get_settings, set_settings
from otel_perf.storage.address import parse_address
from processors import cache_events
from processors.perf_processor import PerfSpanProcessor

_logger = logging.getLogger("otel_perf")

_processor: PerfSpanProcessor | None = None


def current_processor() -> PerfSpanProcessor | None:
    return _processor


def create_processor(settings: Settings | None = None) -> PerfSpanProcessor:
    """The processor, registered as this process's; its sink is attached by ``attach_store``."""
    global _processor
    _processor = PerfSpanProcessor(None, settings or get_settings())
    cache_events.set_listener(_processor.record_cache)
    return _processor


def attach_store(processor: PerfSpanProcessor, resource_attributes) -> None:
    settings = processor.settings
    address = parse_address(settings.store)
    if address.kind == "none":
        return
    # Imported here: duckdb and pyarrow load only in processes that will store something.
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    from otel_perf.storage.writer import StoreWriter

    writer = StoreWriter(address, settings, resource_attributes, suppress=suppress_instrumentation)
    writer.traces_evicted_source = processor
    processor.set_sink(writer)


def install_on(provider) -> PerfSpanProcessor:
    """Add our pipeline to an SDK provider someone else configured."""
    from processors.sampling import record_everything_in_place

    processor = create_processor()
    provider.add_span_processor(processor)
    attach_store(processor, provider.resource.attributes)
    sampler = getattr(provider, "sampler", None)
    if sampler is not None:
        record_everything_in_place(sampler)
    return processor


def apply_settings(settings: Settings) -> None:
    """Swap in settings completed later (Django's OTEL_PERF dict)."""
    set_settings(settings)
    if _processor is not None:
        _processor.update_settings(settings)
        sink = _processor._sink
        if sink is not None and hasattr(sink, "settings"):
            if parse_address(settings.store) == sink.address:
                sink.settings = settings
            else:
                _logger.warning(
                    "otel-perf: OTEL_PERF['store'] in Django settings is read after the store "
                    "was chosen; set OTEL_PERF_STORE in the environment instead"
                )


def stats() -> dict:
    """Counters of this process's pipeline (drops, evictions, internal errors)."""
    processor = _processor
    result: dict = {"installed": processor is not None}
    # The GraphQL wrappers count their own failures (they never reach the query); looked up
    # only if the instrumentor was loaded, so an app without GraphQL imports nothing for it.
    instrumentor = sys.modules.get("processors.graphql.instrumentor")
    operations = instrumentor and instrumentor.GraphQLCoreInstrumentor().operations
    if operations is not None:
        result["graphql_internal_errors"] = operations.internal_errors
    if processor is None:
        return result
    result.update(
        open_traces=processor.open_traces(),
        traces_evicted=processor.traces_evicted,
        internal_errors=processor.internal_errors,
    )
    sink = processor._sink
    if sink is not None:
        result.update(sink.stats())
    return result
