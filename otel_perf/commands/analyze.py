"""``otel-perf analyze``: run the bottleneck rules on the store now and print the findings."""

from __future__ import annotations

import argparse
import datetime
import json


def register(sub) -> None:
    from otel_perf.cli import add_store

    parser = sub.add_parser(
        "analyze",
        help="find bottlenecks now (slow endpoints, errors, slow statements, N+1, resources, "
        "degradation, leaks, query budgets)",
    )
    parser.add_argument(
        "--hours", type=float, default=1.0, help="the window to judge (default the last hour)"
    )
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    add_store(parser)
    parser.set_defaults(func=cmd_analyze)


def cmd_analyze(args: argparse.Namespace) -> int:
    from otel_perf.cli import open_read
    from otel_perf.settings import get_settings
    from query_api.params import Params
    from query_api.reports import analyze

    if not args.hours > 0:
        raise SystemExit("otel-perf: --hours must be > 0")
    con = open_read(args.store)
    try:
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        result = analyze.report(con, Params(hours=args.hours), get_settings(), now)
    finally:
        con.close()
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    findings = result["bottlenecks"]
    if not findings:
        print(f"No bottlenecks in the last {args.hours:g} h.")
        return 0
    print(f"{len(findings)} bottleneck(s) in the last {args.hours:g} h:")
    for finding in findings:
        print(f"\n[{finding['severity'].upper()}] {finding['type']}: {finding['message']}")
        print(f"  → {finding['recommendation']}")
    return 0
