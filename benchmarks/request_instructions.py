"""The overhead ratio counted in CPU instructions on the request thread (callgrind).

    python -m benchmarks.request_instructions [--n 5] [--endpoints /books/,...]

The wall-clock overhead benchmark (benchmarks/overhead.py) runs six copies of the app side by
side on the machine's cores, so a variant's latency carries the other processes' and its own
background threads' CPU, and the ratio ``(otel-perf - bare) / (plain - bare)`` divides by a
difference of a millisecond or less. An instruction count does not move with what else the
machine does. One process per mode sends N and then 5N requests of one endpoint through
Django's handler (``django.test.Client``: the middleware, the view, the ORM on SQLite), started
as the user starts it:

  bare       no OpenTelemetry
  plain      ``opentelemetry-instrument``'s start-up (its sitecustomize) with the upstream
             opentelemetry-distro, the same upstream instrumentations, traces exporter none
  otel-perf  the same start-up with otel-perf's distro and defaults (a local store)

Under valgrind's callgrind with one count per thread, dumped right before and after the
requests (a client request compiled from valgrind's header), the request thread's instructions
of the 5N run minus the N run, divided by 4N, are one request's. Before the count: WARM_UP
requests and, for otel-perf, its writer's first commit (the writer imports duckdb and pyarrow
on its thread; whether it had done so before a request needed a module they share depended on
timing, and an otel-perf GraphQL request once came out 0.1 M instructions above bare). Start-up
and exit are not counted, nor the polling of a thread that waits for the writer, which under
valgrind waits 50 times longer and made the counts noise. A dump from a thread holds that
thread's counters only: otel-perf's store writer is not counted here (the overhead section's
background CPU column measures it at full speed). Hash seeds are fixed (PYTHONHASHSEED=0);
still, the GraphQL endpoint's count moved by 2.4 M per request between two runs of bare
(2026-12-06): compare its three modes within one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.overhead import REQUESTS, install_upstream_distro, otel_perf_instrumentors
from otel_perf import demo

MODES = ("bare", "plain", "otel-perf")
# The issue's three: a plain endpoint, the N+1 endpoint, the GraphQL endpoint.
ENDPOINTS = ("/books/", "/books/n-plus-one/", "/graphql/ GetBook")
TARGET_RATIO = 1.10  # the distro issue's overhead ratio

WARM_UP = 3  # requests before the count starts

REQUEST_SCRIPT = r"""
import ctypes, gc, os, sys
sys.path.insert(0, ".")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
import django
django.setup()
from django.test import Client
path, body, n, warm_up = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
client = Client()

def send(count):
    for _ in range(count):
        if body:
            response = client.post(path, body, content_type="application/json")
        else:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)

# Warm-up, not counted: the first requests import and build what later ones reuse, and
# otel-perf's writer attaches its store (importing duckdb and pyarrow on its own thread: a
# module the request thread needs next is then already there, or not, depending on timing).
send(warm_up)
if os.environ.get("OTEL_PERF_STORE"):
    from otel_perf.storage.writer import _writers
    for writer in list(_writers):
        assert writer.flush(timeout=1800), "the store writer did not attach"
# callgrind's counters of every thread are dumped (and zeroed) before and after the requests:
# part 2 is the requests alone, without start-up, exit, or the time the writer takes to store
# (a thread that waits polls, and under valgrind a wait lasts 50 times longer).
dump = ctypes.CDLL(os.environ["BENCH_CALLGRIND_DUMP_LIB"]).otel_perf_bench_dump
# The heap so far out of the collector's reach: a full collection walks every object of the
# app (tens of millions of instructions), and whether one fell inside a run's count or not
# moved a GraphQL request by 2.4 M. Collections of what the requests allocate still count.
gc.collect()
gc.freeze()
dump()
send(n)
dump()
print("requests done", flush=True)
# What the process does after the requests is not counted: skip the exit (the interpreter's
# finalisation, otel-perf's writer storing what it has, which under valgrind takes minutes).
os._exit(0)
"""

# A client request of callgrind's, in C (valgrind's header): counts dumped at chosen points.
DUMP_C = """#include <valgrind/callgrind.h>
void otel_perf_bench_dump(void) { CALLGRIND_DUMP_STATS; }
"""


def _sitecustomize_dir() -> str:
    """Where ``opentelemetry-instrument`` puts its sitecustomize on PYTHONPATH."""
    from opentelemetry.instrumentation import auto_instrumentation

    return os.path.dirname(auto_instrumentation.__file__)


def mode_environment(mode: str, base: dict, app_dir: Path, upstream: str, store: str) -> dict:
    """The environment the app gets in ``mode`` (overhead.start_variant's, without gunicorn)."""
    env = {k: v for k, v in base.items() if not k.startswith("OTEL")}
    # Importable at start-up: the upstream Django instrumentation reads the settings when it
    # loads, and falls back to empty ones (no ROOT_URLCONF) when it cannot.
    env["PYTHONHASHSEED"] = "0"
    env["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
    env["PYTHONPATH"] = str(app_dir)
    if mode == "bare":
        return env
    env["PYTHONPATH"] = os.pathsep.join([_sitecustomize_dir(), str(app_dir)])
    if mode == "otel-perf":
        otel = {k: v for k, v in base.items() if k.startswith("OTEL")}
        return env | otel | {"OTEL_PERF_STORE": store}
    return env | {
        "PYTHONPATH": os.pathsep.join([_sitecustomize_dir(), str(app_dir), upstream]),
        "OTEL_PYTHON_DISTRO": "distro",
        "OTEL_PYTHON_CONFIGURATOR": "configurator",
        "OTEL_PERF_ENABLED": "false",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ",".join(otel_perf_instrumentors()),
    }


def count(app_dir: Path, env: dict, path: str, body: bytes | None, n: int) -> int:
    """The request thread's instructions over one run's ``n`` requests."""
    with tempfile.TemporaryDirectory(prefix="otel-perf-cg-") as out:
        prefix = os.path.join(out, "cg")
        run = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--separate-threads=yes",
                f"--callgrind-out-file={prefix}",
                sys.executable,
                "-c",
                REQUEST_SCRIPT,
                path,
                (body or b"").decode(),
                str(n),
                str(WARM_UP),
            ],
            cwd=app_dir,
            env=env,
            capture_output=True,
            text=True,
        )
        if "requests done" not in run.stdout or run.returncode:
            raise RuntimeError(run.stderr[-3000:])
        with open(prefix + ".2-01") as f:  # part 2 (the requests) of thread 1 (REQUEST_SCRIPT)
            return next(int(ln.split()[1]) for ln in f if ln.startswith("totals:"))


def build_dump_library(folder: str) -> str:
    """Compile DUMP_C; its path (valgrind's header and a C compiler are needed)."""
    if shutil.which("gcc") is None or not os.path.exists("/usr/include/valgrind/callgrind.h"):
        raise RuntimeError("gcc and valgrind's headers are needed (Debian: gcc, valgrind)")
    source, library = os.path.join(folder, "dump.c"), os.path.join(folder, "dump.so")
    with open(source, "w") as f:
        f.write(DUMP_C)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", library, source], check=True)
    return library


def measure(n: int = 5, endpoints: tuple[str, ...] = ENDPOINTS) -> dict:
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is not installed (Debian package valgrind)")
    app_dir = demo.find_example_app()
    result: dict = {"n": n, "endpoints": {}}
    with tempfile.TemporaryDirectory(prefix="otel-perf-bench-ri-") as tmp:
        upstream = os.path.join(tmp, "upstream")
        install_upstream_distro(upstream)
        base = demo.app_environment("none", os.path.join(tmp, "bench.sqlite3"))
        base["BENCH_CALLGRIND_DUMP_LIB"] = build_dump_library(tmp)
        demo.prepare_database(app_dir, {k: v for k, v in base.items() if not k.startswith("OTEL")})
        runs = {}
        # Two runs at a time: instruction counts do not depend on what else the machine does.
        with ThreadPoolExecutor(max_workers=2) as pool:
            for i, label in enumerate(endpoints):
                path, body = REQUESTS[label]
                for mode in MODES:
                    store = os.path.join(tmp, f"store-{i}-{mode}")  # labels hold slashes
                    for size in (n, 5 * n):
                        env = mode_environment(mode, base, app_dir, upstream, f"{store}-{size}")
                        runs[(label, mode, size)] = pool.submit(
                            count, app_dir, env, path, body, size
                        )
        for label in endpoints:
            per_request = {}
            for mode in MODES:
                low, high = runs[(label, mode, n)].result(), runs[(label, mode, 5 * n)].result()
                per_request[mode] = {"request_thread": (high - low) / (4 * n)}
            bare, plain, perf = (per_request[m]["request_thread"] for m in MODES)
            result["endpoints"][label] = {
                "per_request": per_request,
                "ratio": (perf - bare) / (plain - bare) if plain != bare else None,
            }
    return result


def render(result: dict) -> list[str]:
    lines = [
        "### The overhead ratio in CPU instructions (callgrind)",
        "",
        "`python -m benchmarks.request_instructions`: one process per mode sends "
        f"{result['n']} and {5 * result['n']} requests of an endpoint through Django's handler, "
        "started as `opentelemetry-instrument` starts it (bare: no OpenTelemetry; plain: the "
        "upstream distro, the same upstream instrumentations, exporter none; otel-perf: its "
        "defaults, a local store), under valgrind's callgrind with a count per thread. "
        "Instructions per request on the request thread (the difference of the two runs over "
        f"{4 * result['n']} requests); the ratio is `(otel-perf - bare) / (plain - bare)` "
        f"(target <= {TARGET_RATIO}). Counted: the requests alone, after {WARM_UP} warm-up "
        "requests (and otel-perf's first commit); the store writer's thread is not (see the "
        "overhead section's background CPU).",
        "",
        "| endpoint | bare | plain OTel | otel-perf | plain added | otel-perf added | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in result["endpoints"].items():
        p = {m: r["per_request"][m]["request_thread"] for m in MODES}
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {label} | {p['bare'] / 1e6:.2f} M | {p['plain'] / 1e6:.2f} M | "
            f"{p['otel-perf'] / 1e6:.2f} M | {(p['plain'] - p['bare']) / 1e6:+.2f} M | "
            f"{(p['otel-perf'] - p['bare']) / 1e6:+.2f} M | {ratio} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    args = parser.parse_args()
    endpoints = tuple(e.strip() for e in args.endpoints.split(","))
    print("\n".join(render(measure(args.n, endpoints))))


if __name__ == "__main__":
    main()
