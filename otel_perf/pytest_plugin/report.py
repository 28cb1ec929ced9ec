"""The end-of-run summary and the JSON report, from the results the controller collected."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPORT_VERSION = 1
SLOWEST = 5


def report_document(results: dict[str, dict], budget_file: Path | None, budget_note: str) -> dict:
    tests = [{"id": test_id, **results[test_id]} for test_id in sorted(results)]
    return {
        "version": REPORT_VERSION,
        "budget_file": str(budget_file) if budget_file is not None else None,
        "budget": budget_note,
        "tests": tests,
        "over_budget": [t["id"] for t in tests if t.get("violations")],
        "n_plus_one": [
            {"id": t["id"], **finding} for t in tests for finding in t.get("n_plus_one", ())
        ],
        "totals": {
            "tests": len(tests),
            "queries": sum(t["queries"] for t in tests),
            "db_time_ms": round(sum(t["db_time_ms"] for t in tests), 3),
        },
    }


def write_report(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def summary_lines(document: dict) -> list[str]:
    tests = document["tests"]
    lines = [
        f"{document['totals']['tests']} tests measured, {document['totals']['queries']} DB "
        f"queries, {document['totals']['db_time_ms']:.1f} ms DB time"
    ]
    over = [t for t in tests if t.get("violations")]
    if over:
        lines.append(f"over budget ({len(over)}):")
        for t in over:
            for problem in t["violations"]:
                lines.append(f"  {t['id']}: {problem}")
    findings = document["n_plus_one"]
    if findings:
        lines.append(f"N+1 findings ({len(findings)}):")
        for f in findings:
            where = f["graphql_field_path"] or f["endpoint"] or "test body"
            lines.append(
                f"  {f['id']}: {f['count']}x {f['fingerprint']} in {where} at "
                f"{f['location'] or 'unknown'}"
            )
    slowest = sorted(tests, key=lambda t: (-t["db_time_ms"], t["id"]))[:SLOWEST]
    slowest = [t for t in slowest if t["queries"]]
    if slowest:
        lines.append("slowest tests by DB time:")
        for t in slowest:
            lines.append(f"  {t['db_time_ms']:9.3f} ms {t['queries']:5d} queries  {t['id']}")
    if document["budget"]:
        lines.append(document["budget"])
    return lines
