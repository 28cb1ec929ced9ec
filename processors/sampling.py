"""A sampler wrapper so the store sees every request, whatever the export sampler decides.

A "drop" decision (from the configured sampler or an incoming unsampled ``traceparent``)
becomes RECORD_ONLY: the span is recorded, so our processor sees it, but it is not sampled,
so the export pipeline (BatchSpanProcessor checks the sampled flag) never sends it.
"""

from __future__ import annotations

from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

_DROP = Decision.DROP


def _record_only(result: SamplingResult) -> SamplingResult:
    if result.decision is _DROP:
        return SamplingResult(Decision.RECORD_ONLY, result.attributes, result.trace_state)
    return result


class RecordEverything(Sampler):
    def __init__(self, delegate: Sampler) -> None:
        self._delegate = delegate

    def should_sample(
        self,
        parent_context,
        trace_id,
        name,
        kind=None,
        attributes=None,
        links=None,
        trace_state=None,
    ) -> SamplingResult:
        # Inlined rather than _record_only(...): this runs for every span.
        result = self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )
        if result.decision is _DROP:
            return SamplingResult(Decision.RECORD_ONLY, result.attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        return f"RecordEverything{{{self._delegate.get_description()}}}"


def record_everything_in_place(sampler: Sampler) -> None:
    """For a provider already built by another configurator: tracers hold the sampler
    instance, so its bound ``should_sample`` is wrapped where it is."""
    if getattr(sampler, "_otel_perf_records_everything", False):
        return
    original = sampler.should_sample

    def should_sample(*args, **kwargs):
        return _record_only(original(*args, **kwargs))

    sampler.should_sample = should_sample
    sampler._otel_perf_records_everything = True
