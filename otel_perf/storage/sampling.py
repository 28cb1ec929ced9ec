"""Store sampling: which finished requests are stored, and with what weight.

A tail decision: it runs once the local trace is complete (its root ended and its facts are
folded), on the writer's thread — never on the request path — for in-process roots and for
roots assembled by the OTLP receiver alike. Requests that matter are always stored with
weight 1; the other ("ordinary") requests are kept with probability ``store_sample_rate`` and
stored with weight ``1/rate``, so weighted counts, sums, averages and percentiles still
estimate the whole traffic (docs/sampling.md). Export is untouched: this only decides rows.

The draw is the trace id's low 64 bits against ``rate * 2**64``, as OpenTelemetry's
TraceIdRatioBased sampler does, so every service with the same rate keeps or drops the same
distributed trace, and a lower rate keeps a subset of what a higher one keeps.
"""

from __future__ import annotations

from otel_perf.settings import Settings
from processors import attributes as A
from processors.root_fold import root_attributes

_NS_PER_MS = 1_000_000.0
_LOW_64 = (1 << 64) - 1


def trace_id_bound(rate: float) -> int:
    """Trace ids whose low 64 bits are below this are kept (the SDK's ``get_bound_for_rate``)."""
    return round(rate * (_LOW_64 + 1))


def kept_by_trace_id(trace_id: int, bound: int) -> bool:
    return trace_id & _LOW_64 < bound


def always_kept(kind: str, span, trace, settings: Settings) -> bool:
    """What the reports and alerts look at one by one: never sampled out.

    Operation roots (background work, not requests) are few and always kept. A request is
    kept when it failed, was slow, ran an N+1 or a slow DB statement, used much memory, or
    ran a GraphQL operation that was slow or over the complexity maximum.
    """
    if kind != "request":
        return True
    attrs = root_attributes(span, trace)
    if (
        attrs.get(A.ERROR)
        or attrs.get(A.SLOW)
        or attrs.get(A.N_PLUS_ONE_COUNT)
        or attrs.get(A.DB_SLOW_COUNT)
        or attrs.get(A.MEMORY_HIGH)
    ):
        return True
    # The flag is set by the processor; compute it too for roots received without facts.
    if (span.end_time - span.start_time) / _NS_PER_MS >= settings.slow_request_ms:
        return True
    for operation in trace.operations:
        op = operation.span
        complexity = op.attributes.get(A.GRAPHQL_COMPLEXITY)
        if complexity is not None and complexity > settings.graphql_max_complexity:
            return True
        if (op.end_time - op.start_time) / _NS_PER_MS >= settings.slow_query_ms:
            return True
    return False


class StoreSampler:
    """``weight(item)``: 0.0 when the request is not stored, else the weight of its rows."""

    __slots__ = ("settings", "rate", "bound", "sampled_weight")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rate = settings.store_sample_rate
        self.bound = trace_id_bound(self.rate)
        self.sampled_weight = 1.0 / self.rate

    def weight(self, item) -> float:
        if self.rate >= 1.0:
            return 1.0
        kind, span, trace = item
        if always_kept(kind, span, trace, self.settings):
            return 1.0
        if kept_by_trace_id(span.context.trace_id, self.bound):
            return self.sampled_weight
        return 0.0
