"""The issue's targets against the latest measured results (docs/benchmarks-results.json).

Each target reads its figure from the raw result of one section; a section not measured yet
shows as such. Pure: results in, markdown lines out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    what: str
    section: str
    goal: str
    # raw section result -> (measured, as shown; met)
    judge: Callable[[dict], tuple[str, bool]]


def _hot_path(r: dict) -> tuple[str, bool]:
    us = r["otel-perf"]["added_us_per_span"]
    return f"{us:.2f} µs", us <= 3.0


def _ratio(r: dict) -> tuple[str, bool]:
    ratios = {e: v["ratio"] for e, v in r["endpoints"].items() if v.get("ratio") is not None}
    worst = max(ratios.values())
    return f"{min(ratios.values()):.2f}–{worst:.2f} over {len(ratios)} endpoints", worst <= 1.10


def _ratio_instructions(r: dict) -> tuple[str, bool]:
    ratios = {e: v["ratio"] for e, v in r["endpoints"].items() if v.get("ratio") is not None}
    worst = max(ratios.values())
    shown = f"{min(ratios.values()):.2f}–{worst:.2f} over {len(ratios)} endpoints"
    return shown, worst <= 1.10


def _below(peer: str) -> Callable[[dict], tuple[str, bool]]:
    def judge(r: dict) -> tuple[str, bool]:
        wins, shown = 0, []
        for v in r["endpoints"].values():
            ours = v["variants"]["otel-perf"]["overhead_ms"]
            theirs = v["variants"][peer]["overhead_ms"]
            wins += ours < theirs
            shown.append(f"{ours:.2f} vs {theirs:.2f}")
        return f"below on {wins} of {len(shown)} endpoints (ms: {'; '.join(shown)})", wins == len(
            shown
        )

    return judge


def _cpu_below(peer: str) -> Callable[[dict], tuple[str, bool]]:
    """CPU per request including background work (writer, exporter threads), all endpoints."""

    def judge(r: dict) -> tuple[str, bool]:
        ours = r["processes"]["otel-perf"]["cpu_ms_per_request_incl_background"]
        theirs = r["processes"][peer]["cpu_ms_per_request_incl_background"]
        plain = r["processes"]["plain"]["cpu_ms_per_request_incl_background"]
        return f"{ours:.2f} vs {theirs:.2f} ms (plain OTel {plain:.2f})", ours < theirs

    return judge


def _rss_flat(r: dict) -> tuple[str, bool]:
    soak = next(s for s in r["soak"] if s["variant"] == "otel-perf")
    slope = soak["slope_mb_per_min"]
    dropped = (soak.get("store") or {}).get("dropped")
    return f"{slope:+.2f} MB/min over {r['seconds']:.0f} s; {dropped} dropped", slope <= 0.5


def _graphql(r: dict) -> tuple[str, bool]:
    """The typical document: by instruction count when the run has one (deterministic: it
    decides), else by requests/s, met only when every round is at or below the target
    (graphql_overhead.verdict)."""
    typical = r["typical"]
    added = r["documents"][typical["document"]]["graphql_added"]
    shown = (
        f"by requests/s: beyond plain OTel {added['beyond_plain']['median']:+.1%} "
        f"({typical['beyond_plain']}), inside otel-perf {added['in_otel_perf']['median']:+.1%} "
        f"({typical['in_otel_perf']})"
    )
    counted = r.get("instructions")
    if counted:
        c = counted["documents"][counted["typical"]]
        shown = (
            f"by instructions per request: beyond plain OTel {c['beyond_plain']:+.1%}, inside "
            f"otel-perf {c['in_otel_perf']:+.1%}; {shown}"
        )
        return shown, max(c["beyond_plain"], c["in_otel_perf"]) <= 0.05
    return shown, typical["beyond_plain"] == typical["in_otel_perf"] == "met"


def _sink(r: dict) -> tuple[str, bool]:
    """The writer's capacity: a DuckLake store fed the folded roots at once."""
    alone = r["variants"]["ducklake, sink alone"]["spans_s"]
    with_app = r["variants"]["ducklake"]["spans_s"]
    return (
        f"{alone:,.0f} spans/s (sink alone); {with_app:,.0f} with the generating thread",
        alone >= 150_000,
    )


def _otlp(r: dict) -> tuple[str, bool]:
    per_core = r["end_to_end_spans_per_s"]  # one server process: one core's worth of Python
    return f"{per_core:,} spans/s stored, {r['accept_spans_per_s']:,} accepted", per_core >= 50_000


def _bytes(r: dict) -> tuple[str, bool]:
    on_disk = r["folder_bytes_per_span"]
    return f"{r['bytes_per_span']:.1f} live, {on_disk:.1f} on disk", on_disk <= 40


def _reports_10m(r: dict) -> tuple[str, bool]:
    """p95 of the spec's three actions at the largest size, worst over store kinds and windows."""
    size = str(max(r["sizes"], key=int))
    worst: dict[str, float] = {}
    for kind in r["kinds"]:
        for key, timing in r["stores"][size][kind]["latency"].items():
            report = key.split(" / ")[0]
            if report in ("stats", "alerts", "slow_queries") and isinstance(timing, dict):
                worst[report] = max(worst.get(report, 0.0), timing["p95_ms"])
    shown = ", ".join(f"{k} {v:.0f} ms" for k, v in worst.items())
    return f"worst p95 at {int(size):,}: {shown}", len(worst) == 3 and max(worst.values()) < 100


TARGETS = [
    Target("Processor hot path per span", "hot_path", "≤ 3 µs", _hot_path),
    Target("Overhead ratio (otel-perf − bare)/(plain − bare)", "overhead", "≤ 1.10", _ratio),
    Target("The same ratio on the request thread, by instructions", "request_instructions",
           "≤ 1.10", _ratio_instructions),
    Target("Overhead below sentry-sdk (tracing 100 %)", "overhead", "every endpoint",
           _below("sentry")),
    Target("Overhead below django-silk", "overhead", "every endpoint", _below("silk")),
    Target("CPU per request, background included, below sentry-sdk's", "overhead", "lower",
           _cpu_below("sentry")),
    Target("GraphQL instrumentation on a typical operation", "graphql_overhead",
           "≤ 5 % beyond plain OTel", _graphql),
    Target("App RSS under sustained load", "footprint", "flat (≤ 0.5 MB/min)", _rss_flat),
    Target("In-process sink", "ingest", "≥ 150k spans/s", _sink),
    Target("OTLP receiver, one process", "otlp_ingest", "≥ 50k spans/s per core", _otlp),
    Target("Bytes per stored span after maintenance", "storage", "≤ 40 B", _bytes),
    Target("stats/alerts/slow_queries p95 at 10M requests", "reports", "< 100 ms", _reports_10m),
]  # fmt: skip


def render(results: dict) -> list[str]:
    lines = [
        "## Targets",
        "",
        "| target | goal | measured | met | section |",
        "|---|---|---|---|---|",
    ]
    for t in TARGETS:
        entry = results.get(t.section)
        if entry is None:
            measured, met = "not measured yet", "—"
        else:
            try:
                shown, ok = t.judge(entry["result"])
                measured, met = shown, "yes" if ok else "**no**"
            except (KeyError, TypeError, ValueError, StopIteration):
                measured, met = "not in this section's result", "—"
            if entry.get("quick"):
                measured += " (quick run)"
        lines.append(f"| {t.what} | {t.goal} | {measured} | {met} | [{t.section}](#{t.section}) |")
    return lines
