"""The Django cache instrumentation's cost per call: a local-memory ``get``, in one run.

    python -m benchmarks.django_cache [--calls 40000] [--rounds 5]

Variants, interleaved over several rounds (instrumented and restored in turn): the bare
``LocMemCache.get``; instrumented, outside any request (the listener finds no trace);
instrumented inside a request (a SERVER root open, PerfSpanProcessor counting); the same with
OTEL_PERF_CACHE_SPANS on. Also the reentrancy guard alone (a ContextVar get, set and reset),
the part of the wrapper every call pays. Half the gets hit, half miss.
"""

from __future__ import annotations

import argparse
import contextvars
import statistics
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_perf import settings as perf_settings
from otel_perf.settings import Settings
from processors import cache_events
from processors.django_cache import DjangoCacheInstrumentor
from processors.perf_processor import PerfSpanProcessor

VARIANTS = ("bare", "outside request", "in request", "in request + spans")


class NullSink:
    def submit(self, item):
        pass

    def flush(self, timeout):
        return True

    def shutdown(self):
        pass


def make_cache():
    from django.conf import settings

    if not settings.configured:
        settings.configure(CACHES={})
    from django.core.cache.backends.locmem import LocMemCache

    cache = LocMemCache("bench", {"OPTIONS": {"MAX_ENTRIES": 1000}})
    cache.set("present", 1)
    return cache


def run_gets(cache, calls: int) -> float:
    get = cache.get
    start = time.perf_counter()
    for _ in range(calls // 2):
        get("present")
        get("absent")
    return time.perf_counter() - start


def run_variant(variant: str, cache, provider: TracerProvider, calls: int) -> float:
    if variant == "bare":
        return run_gets(cache, calls)
    instrumentor = DjangoCacheInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    tracer = provider.get_tracer("bench")
    spans = variant.endswith("spans")
    previous = perf_settings.get_settings()
    perf_settings.set_settings(Settings(cache_spans=spans))
    try:
        if variant == "outside request":
            return run_gets(cache, calls)
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER):
            return run_gets(cache, calls)
    finally:
        perf_settings.set_settings(previous)
        instrumentor.uninstrument()


def guard_ns(calls: int) -> float:
    """A ContextVar get + set + reset, per call, minus an empty loop."""
    var = contextvars.ContextVar("bench_guard", default=False)
    start = time.perf_counter()
    for _ in range(calls):
        if not var.get():
            var.reset(var.set(True))
    guarded = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(calls):
        pass
    empty = time.perf_counter() - start
    return (guarded - empty) / calls * 1e9


def measure(calls: int = 40000, rounds: int = 5) -> dict:
    provider = TracerProvider()
    processor = PerfSpanProcessor(NullSink(), Settings())
    provider.add_span_processor(processor)
    previous_listener = cache_events._listener
    cache_events.set_listener(processor.record_cache)
    cache = make_cache()
    try:
        for v in VARIANTS:  # warm up
            run_variant(v, cache, provider, 2000)
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(rounds):
            for v in VARIANTS:
                times[v].append(run_variant(v, cache, provider, calls))
    finally:
        cache_events.set_listener(previous_listener)
    base = statistics.median(times["bare"])
    result: dict = {"calls_per_round": calls, "rounds": rounds}
    for v in VARIANTS:
        median = statistics.median(times[v])
        result[v] = {
            "ns_per_call": median / calls * 1e9,
            "added_ns_per_call": (median - base) / calls * 1e9,
            "ratio": median / base,
        }
    result["guard_ns"] = statistics.median(guard_ns(calls) for _ in range(rounds))
    return result


def render(result: dict) -> list[str]:
    lines = [
        "## Django cache instrumentation",
        "",
        f"`python -m benchmarks.django_cache`: {result['rounds']} interleaved rounds of "
        f"{result['calls_per_round']} local-memory `get` calls (half hit); medians.",
        "",
        "| variant | ns per get | ns added | ratio to bare |",
        "|---|---:|---:|---:|",
    ]
    for v in VARIANTS:
        r = result[v]
        lines.append(
            f"| {v} | {r['ns_per_call']:.0f} | {r['added_ns_per_call']:.0f} | {r['ratio']:.2f} |"
        )
    lines.append(f"| reentrancy guard alone (ContextVar get+set+reset) | {result['guard_ns']:.0f} "
                 "| | |")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("\n".join(render(measure(args.calls, args.rounds))))


if __name__ == "__main__":
    main()
