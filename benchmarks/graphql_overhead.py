"""What the GraphQL instrumentation adds to a GraphQL request, in one run.

    python -m benchmarks.graphql_overhead [--rounds 6] [--requests 50]

Four copies of the example app (gunicorn, 2 workers each) answer the same documents at
/graphql/ (Graphene):

  bare          no instrumentation
  plain         plain OpenTelemetry (upstream distro; Django + DB instrumentation; no GraphQL
                instrumentation exists upstream)
  no-graphql    otel-perf with its graphql-core instrumentor disabled
                (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=graphql)
  otel-perf     otel-perf's defaults

Interleaved and shuffled round by round, like ``benchmarks.overhead``. Reported per
document: medians, and the GraphQL instrumentation's share
``(otel-perf - no-graphql) / plain`` (target <= 5 % of a plain-OpenTelemetry request).

Wall-clock medians on a shared 2-core machine move by more than the effect being measured,
so ``--instructions`` also counts CPU instructions with valgrind's callgrind (repeatable
whatever else the machine does): one process parses, validates and executes the document
under a SERVER span N and 5N times, with and without the instrumentor; the difference
divided by 4N is the cost of one operation.

    python -m benchmarks.graphql_overhead --instructions
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

from benchmarks.overhead import install_upstream_distro, start_variant, timed_get
from otel_perf import demo

VARIANTS = ("bare", "plain", "no-graphql", "otel-perf")
ENDPOINT = "/graphql/"


def documents() -> dict[str, bytes]:
    app_dir = demo.find_example_app()
    sys.path.insert(0, str(app_dir))
    from gql import documents as D

    bodies = {
        "GetBook (typical: 1 query, 3 fields)": (D.GET_BOOK, {"id": "1"}),
        "AuthorsWithBooks (N+1: 11 queries, 70 fields)": (D.AUTHORS_N_PLUS_ONE, None),
        "AuthorsOptimized (2 queries, 70 fields)": (D.AUTHORS_OPTIMIZED, None),
    }
    return {
        name: json.dumps({"query": q, "variables": v or {}}).encode()
        for name, (q, v) in bodies.items()
    }


def measure(rounds: int = 6, requests: int = 50, workers: int = 2, seed: int = 1) -> dict:
    app_dir = demo.find_example_app()
    bodies = documents()
    rng = random.Random(seed)
    samples = {(v, d): [] for v in VARIANTS for d in bodies}
    with tempfile.TemporaryDirectory(prefix="otel-perf-bench-gql-") as tmp:
        upstream = os.path.join(tmp, "upstream")
        install_upstream_distro(upstream)
        env = demo.app_environment("none", os.path.join(tmp, "bench.sqlite3"))
        demo.prepare_database(app_dir, {k: v for k, v in env.items() if not k.startswith("OTEL")})
        servers = {}
        for variant in VARIANTS:
            base = "otel-perf" if variant == "no-graphql" else variant
            extra = (
                {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "graphql"}
                if variant == "no-graphql"
                else None
            )
            servers[variant] = start_variant(base, tmp, app_dir, upstream, workers, extra)
        try:
            for _, port in servers.values():  # warm up every worker
                for body in bodies.values():
                    for _ in range(20):
                        timed_get(port, ENDPOINT, body)
            for _ in range(rounds):
                order = list(VARIANTS)
                rng.shuffle(order)
                for v in order:
                    port = servers[v][1]
                    for name, body in bodies.items():
                        samples[(v, name)].extend(
                            timed_get(port, ENDPOINT, body) for _ in range(requests)
                        )
        finally:
            for proc, _ in servers.values():
                demo.stop(proc)
    result = {"rounds": rounds, "requests": requests, "workers": workers, "documents": {}}
    for name in bodies:
        m = {v: statistics.median(samples[(v, name)]) for v in VARIANTS}
        result["documents"][name] = {
            "median_ms": m,
            "graphql_share": (m["otel-perf"] - m["no-graphql"]) / m["plain"],
        }
    return result


INSTRUCTION_SCRIPT = r"""
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
sys.path.insert(0, ".")
import django
django.setup()
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from otel_perf.settings import load_settings
from processors.perf_processor import PerfSpanProcessor
provider = TracerProvider()
provider.add_span_processor(PerfSpanProcessor(None, load_settings({})))
mode, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "on":
    from processors.graphql.instrumentor import GraphQLCoreInstrumentor
    GraphQLCoreInstrumentor().instrument(tracer_provider=provider)
import graphql
from gql import documents as D
from gql.graphene_schema import schema
text, tracer = getattr(D, name), provider.get_tracer("bench")
for _ in range(n):
    with tracer.start_as_current_span("request", kind=SpanKind.SERVER):
        document = graphql.parse(text)
        graphql.validate(schema.graphql_schema, document)
        graphql.execute(schema.graphql_schema, document, variable_values={"id": "1"})
"""

INSTRUCTION_DOCUMENTS = ("GET_BOOK", "AUTHORS_N_PLUS_ONE", "AUTHORS_OPTIMIZED")


def count_instructions(app_dir, env, mode: str, name: str, n: int) -> int:
    with tempfile.NamedTemporaryFile(suffix=".cg") as out:
        run = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out.name}",
                sys.executable,
                "-c",
                INSTRUCTION_SCRIPT,
                mode,
                name,
                str(n),
            ],
            cwd=app_dir,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise RuntimeError(run.stderr[-2000:])
    return int(found.group(1))


def instructions(n: int = 5) -> dict:
    """Instructions per operation, GraphQL instrumentor off and on (callgrind)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian package valgrind)")
    app_dir = demo.find_example_app()
    result = {"n": n, "documents": {}}
    with tempfile.TemporaryDirectory(prefix="otel-perf-bench-cg-") as tmp:
        env = demo.app_environment("none", os.path.join(tmp, "bench.sqlite3"))
        env = {k: v for k, v in env.items() if not k.startswith("OTEL")}
        demo.prepare_database(app_dir, env)
        for name in INSTRUCTION_DOCUMENTS:
            per_op = {}
            for mode in ("off", "on"):
                low = count_instructions(app_dir, env, mode, name, n)
                high = count_instructions(app_dir, env, mode, name, 5 * n)
                per_op[mode] = (high - low) / (4 * n)
            result["documents"][name] = {
                **per_op,
                "ratio": per_op["on"] / per_op["off"],
            }
    return result


def render_instructions(result: dict) -> list[str]:
    lines = [
        "### The same, counted in CPU instructions (callgrind)",
        "",
        "`python -m benchmarks.graphql_overhead --instructions`: parse + validate + execute "
        "under a SERVER span with otel-perf's processor (no DB instrumentation), instructions "
        f"per operation from runs of {result['n']} and {5 * result['n']} operations.",
        "",
        "| document | instructor off | instructor on | on / off |",
        "|---|---:|---:|---:|",
    ]
    for name, r in result["documents"].items():
        lines.append(
            f"| {name} | {r['off'] / 1e6:.2f} M | {r['on'] / 1e6:.2f} M | {r['ratio']:.3f} |"
        )
    return lines


def render(result: dict) -> list[str]:
    lines = [
        "## GraphQL instrumentation overhead (example app, Graphene at /graphql/)",
        "",
        f"`python -m benchmarks.graphql_overhead`: {result['rounds']} interleaved rounds of "
        f"{result['requests']} sequential POSTs per document and variant; medians in ms.",
        "Share = (otel-perf − otel-perf without its graphql instrumentor) / plain OpenTelemetry;"
        " target ≤ 5 %.",
        "",
        "| document | bare | plain OTel | otel-perf, no GraphQL | otel-perf | share |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["documents"].items():
        m = r["median_ms"]
        lines.append(
            f"| {name} | {m['bare']:.2f} | {m['plain']:.2f} | {m['no-graphql']:.2f} | "
            f"{m['otel-perf']:.2f} | {r['graphql_share']:+.1%} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions with callgrind instead"
    )
    args = parser.parse_args()
    if args.instructions:
        print("\n".join(render_instructions(instructions())))
    else:
        print("\n".join(render(measure(args.rounds, args.requests, args.workers))))


if __name__ == "__main__":
    main()
