"""The processor's own cost per span, against a deque-append processor, in one run.

    python -m benchmarks.hot_path [--traces 20000] [--children 10] [--clock cpu|wall]

Each trace is a SERVER root with ``children`` DB child spans (the shape of a Django request).
Variants, interleaved over several rounds: a provider with no processor (the SDK's own cost),
one with a processor that appends every ended span to a deque (the floor any processor pays),
and one with PerfSpanProcessor feeding a sink that drops everything (no storage: this is the
hot path alone). Cost per span = (variant - no processor) / spans.

Time is this thread's CPU time by default (``time.thread_time``): on a shared machine, wall
time also counts the time other processes held the core, which swamps a microsecond-scale
difference. ``--clock wall`` gives wall time (on a quiet machine the two agree).
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

from otel_perf.settings import Settings
from processors.perf_processor import PerfSpanProcessor

STATEMENTS = [
    'SELECT "library_author"."id", "library_author"."name" FROM "library_author"',
    'SELECT "library_book"."id", "library_book"."title" FROM "library_book" '
    'WHERE "library_book"."author_id" = %s',
]


class DequeProcessor(SpanProcessor):
    def __init__(self):
        self.spans = collections.deque(maxlen=100000)

    def on_end(self, span):
        self.spans.append(span)


class NullSink:
    def submit(self, item):
        pass

    def flush(self, timeout):
        return True

    def shutdown(self):
        pass


def tracer_for(variant: str):
    provider = TracerProvider()
    if variant == "deque":
        provider.add_span_processor(DequeProcessor())
    elif variant == "otel-perf":
        provider.add_span_processor(PerfSpanProcessor(NullSink(), Settings()))
    return provider.get_tracer("bench")


CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}


def run(tracer, traces: int, children: int, clock=time.thread_time) -> float:
    start = clock()
    for _ in range(traces):
        with tracer.start_as_current_span(
            "GET", kind=SpanKind.SERVER, attributes={"http.route": "books/"}
        ):
            for i in range(children):
                with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as span:
                    span.set_attribute("db.statement", STATEMENTS[i > 0])
                    span.set_attribute("db.system", "sqlite")
    return clock() - start


def measure(traces: int = 20000, children: int = 10, rounds: int = 5, clock: str = "cpu") -> dict:
    variants = ["none", "deque", "otel-perf"]
    tracers = {v: tracer_for(v) for v in variants}
    for v in variants:  # warm up caches (fingerprints, code paths)
        run(tracers[v], 200, children)
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(rounds):
        for v in variants:
            times[v].append(run(tracers[v], traces, children, CLOCKS[clock]))
    spans = traces * (children + 1)
    base = statistics.median(times["none"])
    result = {"spans_per_round": spans, "rounds": rounds, "clock": clock}
    for v in variants:
        result[v] = {
            "total_us_per_span": statistics.median(times[v]) / spans * 1e6,
            "added_us_per_span": (statistics.median(times[v]) - base) / spans * 1e6,
        }
    return result


def render(result: dict) -> list[str]:
    clock = "thread CPU time" if result.get("clock", "cpu") == "cpu" else "wall time"
    lines = [
        "## Processor hot path",
        "",
        f"`python -m benchmarks.hot_path`: {result['rounds']} rounds of "
        f"{result['spans_per_round']} spans (a SERVER root with 10 DB children per trace), "
        f"{clock}, medians; cost added per span over a provider with no processor. "
        "Target ≤ 3 µs per span.",
        "",
        "| processor | µs per span (total) | µs per span added |",
        "|---|---:|---:|",
    ]
    for v in ("none", "deque", "otel-perf"):
        r = result[v]
        lines.append(f"| {v} | {r['total_us_per_span']:.2f} | {r['added_us_per_span']:.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=20000)
    parser.add_argument("--children", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = parser.parse_args()
    result = measure(args.traces, args.children, args.rounds, args.clock)
    for v in ("none", "deque", "otel-perf"):
        r = result[v]
        print(
            f"{v:10s} {r['total_us_per_span']:7.2f} us/span total, "
            f"{r['added_us_per_span']:6.2f} us/span added by the processor"
        )


if __name__ == "__main__":
    main()
