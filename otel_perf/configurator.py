"""The SDK configurator: the SDK's own, plus our span processor and an always-record sampler."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from otel_perf import pipeline
from otel_perf.settings import get_settings
from processors.sampling import RecordEverything


def _configured_sampler():
    """The sampler the SDK would build from OTEL_TRACES_SAMPLER (entry points included)."""
    try:
        from opentelemetry.sdk._configuration import _get_sampler, _import_sampler

        sampler = _import_sampler(_get_sampler())
        if sampler is not None:
            return sampler
    except ImportError:  # private helpers moved: fall back to the public default
        pass
    from opentelemetry.sdk.trace.sampling import _get_from_env_or_default

    return _get_from_env_or_default()


class OtelPerfConfigurator(_OTelSDKConfigurator):
    def _configure(self, **kwargs):
        if not get_settings().enabled:
            super()._configure(**kwargs)
            return
        sampler = kwargs.pop("sampler", None) or _configured_sampler()
        kwargs["sampler"] = RecordEverything(sampler)
        processor = pipeline.create_processor()
        # First in the chain, before the exporters' batch processors.
        kwargs["span_processors"] = [processor, *(kwargs.get("span_processors") or [])]
        super()._configure(**kwargs)
        provider = trace.get_tracer_provider()
        resource = getattr(provider, "resource", None)
        pipeline.attach_store(processor, resource.attributes if resource is not None else {})
