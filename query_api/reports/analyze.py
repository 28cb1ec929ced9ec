"""``POST analyze`` / ``otel-perf analyze``: the bottleneck rules run now, over a window.

The same rules the alert evaluator runs every ``OTEL_PERF_ALERT_INTERVAL_S`` (their findings
become alerts there); here they only report, over the last ``hours`` (default 24) or the
given dates instead of the configured ``bottleneck_window_s``; the baseline of the comparing
rules is the ``baseline_window_s`` before that. Findings are ordered most severe first.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime, timedelta

from otel_perf.settings import Settings
from query_api.alert_rules import SEVERITIES
from query_api.bottlenecks import run_rules
from query_api.params import Params
from query_api.reports.common import iso, period_json


def report(con, params: Params, settings: Settings, now: datetime) -> dict:
    end = min(params.end or now, now)
    start = params.start or end - timedelta(hours=params.hours)
    window_s = max((end - start).total_seconds(), 1.0)
    judged = dataclasses.replace(settings, bottleneck_window_s=window_s)
    findings = sorted(
        run_rules(con, judged, end),
        key=lambda o: (-SEVERITIES.index(o.severity), o.type, o.subject),
    )
    return {
        "period": period_json({"start": start, "end": end}, now),
        "bottlenecks": [finding_json(o) for o in findings],
        "summary": {
            "total": len(findings),
            "by_severity": dict(Counter(o.severity for o in findings)),
            "by_type": dict(Counter(o.type for o in findings)),
        },
    }


def finding_json(o) -> dict:
    details = dict(o.details)
    return {
        "type": o.type,
        "severity": o.severity,
        "subject": o.subject,
        "message": o.message,
        "value": o.worst_value,
        "first_seen": iso(o.first_seen),
        "last_seen": iso(o.last_seen),
        "recommendation": details.pop("recommendation", None),
        "details": details,
    }
