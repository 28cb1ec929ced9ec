"""What one alert evaluation costs, with and without the bottleneck rules.

    python -m benchmarks.alert_evaluation [--requests 15000] [--rounds 5]

A DuckLake store in a temp dir gets ``requests`` stored requests (50 per commit, 4 DB
statement rows each, as a worker's one-second flushes write them); then the evaluator runs
``rounds`` times each way, interleaved. Reported: the median CPU time of one evaluation. The
writer runs the event rules every OTEL_PERF_ALERT_INTERVAL_S and the window rules every
OTEL_PERF_BOTTLENECK_INTERVAL_S, in one elected process.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import tempfile
import time

PER_COMMIT = 50


def fill(session, requests: int, start: datetime.datetime) -> None:
    from otel_perf.storage.rows import Columns

    rnd = random.Random(1)
    for commit in range(requests // PER_COMMIT):
        req, db = Columns("requests"), Columns("db_statements")
        for i in range(PER_COMMIT):
            at = start + datetime.timedelta(seconds=commit, microseconds=i)
            trace = os.urandom(16)
            endpoint = f"GET /e{i % 20}/"
            req.add(
                {
                    "timestamp": at,
                    "trace_id": trace,
                    "span_id": i + 1,
                    "service_name": "bench",
                    "endpoint": endpoint,
                    "method": "GET",
                    "path": endpoint[4:],
                    "status_code": 200,
                    "error": False,
                    "duration_ms": rnd.uniform(1, 50),
                    "db_count": 4,
                    "db_time_ms": 2.0,
                    "weight": 1.0,
                }
            )
            for k in range(4):
                db.add(
                    {
                        "timestamp": at,
                        "trace_id": trace,
                        "span_id": i + 1,
                        "endpoint": endpoint,
                        "fingerprint": k,
                        "statement": f"SELECT c{k} FROM t WHERE id = ?",
                        "calls": 1,
                        "total_ms": 0.5,
                        "max_ms": 0.5,
                        "slow_count": 0,
                        "weight": 1.0,
                    }
                )
        session.insert([req, db])


def run(requests: int = 15000, rounds: int = 5) -> dict:
    from otel_perf.settings import Settings
    from otel_perf.storage import parse_address
    from otel_perf.storage.session import StoreSession
    from query_api import alert_evaluator as E

    start = datetime.datetime(2026, 11, 24, 12)
    with tempfile.TemporaryDirectory(prefix="otel-perf-alerts-") as tmp:
        session = StoreSession(parse_address(os.path.join(tmp, "store")))
        try:
            fill(session, requests, start)
            now = start + datetime.timedelta(seconds=requests // PER_COMMIT + 10)
            previous = now - datetime.timedelta(seconds=30)
            cpu: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(rounds):
                for with_rules in (True, False):
                    began = time.process_time()
                    E.evaluate(session.con, Settings(), now, previous, None, with_rules)
                    cpu[with_rules].append((time.process_time() - began) * 1000.0)
        finally:
            session.close()
    with_rules = statistics.median(cpu[True])
    without = statistics.median(cpu[False])
    return {
        "requests": requests,
        "rounds": rounds,
        "load": os.getloadavg(),
        "with_rules_ms": with_rules,
        "without_rules_ms": without,
        # Defaults: event rules every 30 s, window rules every 60 s.
        "cpu_ms_per_minute": with_rules + without,
    }


def render(r: dict) -> list[str]:
    load = ", ".join(f"{x:.2f}" for x in r["load"])
    return [
        "## Alert evaluation",
        "",
        f"`python -m benchmarks.alert_evaluation`: a DuckLake store of {r['requests']:,} "
        f"requests; median CPU of {r['rounds']} evaluations each way (load average {load}).",
        "",
        "| evaluation | CPU ms |",
        "|---|---:|",
        f"| event rules only (every alert interval, 30 s) | {r['without_rules_ms']:.0f} |",
        f"| with the bottleneck rules (every 60 s) | {r['with_rules_ms']:.0f} |",
        f"| per minute with the defaults | {r['cpu_ms_per_minute']:.0f} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=15000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("\n".join(render(run(args.requests, args.rounds))))


if __name__ == "__main__":
    main()
