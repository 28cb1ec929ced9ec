"""Run the benchmarks and write docs/benchmarks.md.

    python -m benchmarks all [--quick]          every section (the full run takes about 1.5 hours)
    python -m benchmarks overhead hot_path ...  only these sections; the others stay as they were
    python -m benchmarks --list                 the sections and what each measures

Each section is a module here with ``measure`` and ``render``; the document keeps every
section between markers, so refreshing one leaves the rest (with their own dates) in place.
Raw results go to docs/benchmarks-results.json; the targets table at the top is computed from
them (``benchmarks.targets``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOC = DOCS / "benchmarks.md"
RESULTS = DOCS / "benchmarks-results.json"
VERSIONED = (
    "opentelemetry-sdk", "opentelemetry-instrumentation-django", "django", "gunicorn", "duckdb",
    "pyarrow", "graphql-core", "sentry-sdk", "django-silk",
)  # fmt: skip


@dataclass(frozen=True)
class Section:
    name: str
    what: str
    run: Callable[[bool], tuple[dict, list[str]]]  # quick -> (raw result, markdown lines)


def _module(name: str):
    return import_module(f"benchmarks.{name}")  # heavy imports (duckdb) only when run


def _overhead(quick: bool):
    m = _module("overhead")
    r = m.measure(rounds=3 if quick else 8, requests=20 if quick else 60)
    return r, m.render(r)


def _graphql_overhead(quick: bool):
    m = _module("graphql_overhead")
    r = m.measure(rounds=2 if quick else 6, requests=20 if quick else 50)
    if shutil.which("valgrind"):  # the instruction count decides what wall clock cannot
        documents = m.INSTRUCTION_DOCUMENTS[:1] if quick else m.INSTRUCTION_DOCUMENTS
        r["instructions"] = m.instructions(n=2 if quick else 10, documents=documents)
    else:
        print("benchmarks: valgrind is not installed: no instruction count for graphql_overhead")
    return r, m.render(r)


def _request_instructions(quick: bool):
    m = _module("request_instructions")
    endpoints = m.ENDPOINTS[:1] if quick else m.ENDPOINTS
    r = m.measure(n=2 if quick else 5, endpoints=endpoints)
    return r, m.render(r)


def _hot_path(quick: bool):
    m = _module("hot_path")
    r = m.measure(traces=5000 if quick else 20000, rounds=3 if quick else 5)
    return r, m.render(r)


def _footprint(quick: bool):
    m = _module("footprint")
    r = m.measure(seconds=20 if quick else 600)  # 10 min per variant: a slope over 5 min
    return r, m.render(r)


def _ingest(quick: bool):
    m = _module("ingest")
    r = m.measure(10_000 if quick else 50_000, 10, 3 if quick else 5, 5 if quick else 7)
    return r, m.render(r)


def _otlp_ingest(quick: bool):
    m = _module("otlp_ingest")
    r = m.measure(10_000 if quick else 20_000)
    return r, m.render(r)


def _sampling(quick: bool):
    m = _module("sampling")
    if quick:
        r = m.measure(requests=20_000, rows=200_000, rounds=3)
    else:
        r = m.measure(requests=100_000, rows=1_000_000, rounds=5)
    return r, m.render(r)


def _storage(quick: bool):
    m = _module("storage")
    r = m.measure(30_000 if quick else 200_000)
    return r, m.render(r)


def _reports(quick: bool):
    m = _module("reports")
    sizes = [100_000, 1_000_000] if quick else [1_000_000, 10_000_000]
    # Both stores, as the query API issue asks. The .duckdb twin added about 6 minutes to the
    # full run on 2026-12-06: 10 rounds of every report at 1M and 10M (medians summed: 2.8 s
    # and 23.6 s a round) and 76 s of inserts.
    kinds = ["ducklake", "duckdb"]
    # OTEL_PERF_BENCH_KEEP: a folder where the stores are built once and reused (--keep).
    keep = os.environ.get("OTEL_PERF_BENCH_KEEP") or None
    r = m.run(sizes, kinds, 3 if quick else 10, tempfile.gettempdir(), keep)
    return r, m.render(r)


def _scaling(quick: bool):
    m, charts = _module("scaling"), _module("charts")
    sizes = m.QUICK_SIZES if quick else m.FULL_SIZES
    r = m.run(sizes, 10 if quick else 20, tempfile.gettempdir())
    charts.scaling(r, str(DOCS / "images" / "scaling.png"))
    return r, m.render(r, "images/scaling.png")


def _alert_evaluation(quick: bool):
    m = _module("alert_evaluation")
    r = m.run(5000 if quick else 15000, 3 if quick else 5)
    return r, m.render(r)


def _graphql_complexity(quick: bool):
    m = _module("graphql_complexity")
    r = m.measure(iterations=500 if quick else 2000, rounds=3 if quick else 5)
    return r, m.render(r)


def _django_cache(quick: bool):
    m = _module("django_cache")
    r = m.measure(calls=10000 if quick else 40000, rounds=3 if quick else 5)
    return r, m.render(r)


def _encryption(quick: bool):
    m = _module("encryption")
    r = m.measure(rows=30_000 if quick else 200_000, rounds=1 if quick else 3)
    return r, m.render(r)


SECTIONS = {
    s.name: s
    for s in (
        Section("overhead", "request overhead: bare, plain OTel, sentry-sdk, silk", _overhead),
        Section("graphql_overhead", "GraphQL req/s: bare, plain OTel, otel-perf; the "
                "GraphQL instrumentation's cost", _graphql_overhead),
        Section("request_instructions", "the overhead ratio in instructions on the request "
                "thread (callgrind)", _request_instructions),
        Section("hot_path", "the processor's cost per span", _hot_path),
        Section("footprint", "engine import cost; app RSS under sustained load", _footprint),
        Section("ingest", "in-process sink spans/s", _ingest),
        Section("otlp_ingest", "OTLP receiver spans/s", _otlp_ingest),
        Section("sampling", "what store sampling saves and how exact reports stay", _sampling),
        Section("storage", "bytes per stored request and span", _storage),
        Section("reports", "every report at 1M and 10M requests (the longest part)", _reports),
        Section("scaling", "report latency and size from 100k to 10M requests", _scaling),
        Section("alert_evaluation", "CPU of one alert evaluation", _alert_evaluation),
        Section("graphql_complexity", "signature and complexity per document", _graphql_complexity),
        Section("django_cache", "the cache instrumentation's cost per call", _django_cache),
        Section("encryption", "the cost of encryption at rest", _encryption),
    )
}  # fmt: skip


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(open("/proc/meminfo").readline().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"


def versions() -> str:
    found = []
    for package in VERSIONED:
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            pass
    return ", ".join(found)


_BLOCK = re.compile(r"<!-- section: (\w+) -->\n(.*?)<!-- /section: \1 -->\n", re.S)


def jsonable(value):
    """Raw results as JSON can hold them: tuple keys (report, window) joined with " / "."""
    if isinstance(value, dict):
        return {
            (" / ".join(map(str, k)) if isinstance(k, tuple) else str(k)): jsonable(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def read_sections(text: str) -> dict[str, str]:
    """The section blocks of an existing document, by name."""
    return {m.group(1): m.group(2) for m in _BLOCK.finditer(text)}


def speed_reference_ns() -> float:
    """ns per ``sum(range(50))``, best of 5: sets a section's absolute figures against the
    machine's speed that day (848 ns by ``python -m timeit`` during the 2026-11-25 runs)."""
    import timeit

    return min(timeit.repeat("sum(range(50))", number=100_000, repeat=5)) / 100_000 * 1e9


def section_block(lines: list[str], name: str, quick: bool, load: tuple) -> str:
    """The rendered lines with an anchor (the targets table links it) and when, where and how
    they were measured under the heading."""
    stamp = (
        f"_Measured {datetime.date.today().isoformat()} on {machine()}; load average "
        f"{load[0]:.2f} at the start; Python reference loop {speed_reference_ns():.0f} ns; "
        f"`python -m benchmarks {name}"
        f"{' --quick' if quick else ''}`{' (a quick smoke run)' if quick else ''}._"
    )
    return "\n".join([f'<a id="{name}"></a>', "", lines[0], "", stamp, *lines[1:]]) + "\n"


def document(blocks: dict[str, str], results: dict) -> str:
    from benchmarks import targets

    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks` — do not edit by hand. Each section says when, "
        "where and with which command it was measured; `python -m benchmarks <section>` "
        "refreshes one. Absolute times depend on the machine: compare the variants within a "
        "section (they run interleaved, in one run).",
        "",
        f"- Versions at the last run: {versions()}",
        "",
        *targets.render(results),
        "",
    ]
    for name, section in SECTIONS.items():
        block = blocks.get(name) or (
            f"## {section.what[0].upper()}{section.what[1:]}\n\n"
            f"_Not measured yet: `python -m benchmarks {name}`._\n"
        )
        lines += [f"<!-- section: {name} -->", block.rstrip("\n"), f"<!-- /section: {name} -->", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Run benchmarks; write docs/benchmarks.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="sections:\n" + "\n".join(f"  {s.name:20s}{s.what}" for s in SECTIONS.values()),
    )
    parser.add_argument("sections", nargs="*", help="'all' or section names (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="reports: build the 1M/10M stores in DIR once and reuse them in later runs",
    )
    args = parser.parse_args()
    if args.keep:
        os.environ["OTEL_PERF_BENCH_KEEP"] = args.keep
    if args.list:
        parser.print_help()
        return
    chosen = list(SECTIONS) if not args.sections or "all" in args.sections else args.sections
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)} (see --list)")
    blocks = read_sections(DOC.read_text()) if DOC.exists() else {}
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in chosen:
        print(f"benchmarks: {name} ...", flush=True)
        load = os.getloadavg()
        result, lines = SECTIONS[name].run(args.quick)
        blocks[name] = section_block(lines, name, args.quick, load)
        results[name] = {"date": datetime.date.today().isoformat(), "quick": args.quick,
                         "result": jsonable(result)}  # fmt: skip
        # Written after every section: a long run interrupted keeps what it measured.
        RESULTS.write_text(json.dumps(results, indent=1, default=str) + "\n")
        results = json.loads(RESULTS.read_text())  # the targets read what the file holds
        DOC.write_text(document(blocks, results))
    print(DOC.read_text())


if __name__ == "__main__":
    main()
