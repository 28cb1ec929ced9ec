"""Host and process rules: resource_exhaustion (CPU, memory, disk per host, from the system
sampler) and memory_leak_suspected (a process's RSS growing steadily, seed 004)."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from query_api.alert_rules import Occurrence
from query_api.bottlenecks import common as C
from query_api.bottlenecks import queries as Q
from query_api.reports.common import fetch_dicts

# The glossary's critical system-health levels: at these a resource is critical even when
# the configured (error) threshold is higher.
CRITICAL_PERCENT = {"cpu": 90.0, "memory": 90.0, "disk": 95.0}

# A leak is growth that a straight line explains (R² >= this), over at least this many
# samples: a sawtooth (garbage collection, caches filling and evicting) is not a leak.
LEAK_MIN_R2 = 0.8
LEAK_MIN_SAMPLES = 5
MIB = 1024 * 1024


def resource_exhaustion(con, settings, now: datetime) -> list[Occurrence]:
    current, _ = C.windows(settings, now)
    return judge_resources(fetch_dicts(con, Q.HOST_RESOURCES, current), settings)


def judge_resources(rows: list[dict], settings) -> list[Occurrence]:
    limits = {
        "cpu": settings.max_cpu_percent,
        "memory": settings.max_memory_percent,
        "disk": settings.max_disk_percent,
    }
    found = []
    for row in rows:
        for resource, limit in limits.items():
            value = row[f"{resource}_percent"]
            if value is None or value < limit:
                continue
            critical = value >= max(CRITICAL_PERCENT[resource], limit)
            found.append(
                C.occurrence(
                    "resource_exhaustion",
                    f"{row['host_name']} {resource}",
                    row,
                    value,
                    "critical" if critical else "error",
                    f"{row['host_name']}: {resource} at {value:.1f} % (threshold {limit:.0f} %)",
                    {
                        "host_name": row["host_name"],
                        "resource": resource,
                        "percent": C.rounded(value),
                        "threshold_percent": limit,
                        "memory_available_bytes": row["memory_available_bytes"],
                        "disk_free_bytes": row["disk_free_bytes"],
                    },
                )
            )
    return found


def memory_leak_suspected(con, settings, now: datetime) -> list[Occurrence]:
    window = {"start": now - timedelta(seconds=settings.baseline_window_s), "end": now}
    rows = fetch_dicts(con, Q.PROCESS_RSS, {**window, "min_samples": LEAK_MIN_SAMPLES})
    return judge_memory_growth(rows, settings)


def judge_memory_growth(rows: list[dict], settings) -> list[Occurrence]:
    found = []
    for row in rows:
        seconds, rss = row["seconds"], row["rss_bytes"]
        if len(rss) < LEAK_MIN_SAMPLES or rss[0] <= 0:
            continue
        growth = rss[-1] / rss[0] - 1
        if growth < settings.memory_leak_growth:
            continue
        fit = statistics.linear_regression(seconds, rss)
        if fit.slope <= 0 or len(set(rss)) < 2:
            continue
        r2 = statistics.correlation(seconds, rss) ** 2
        if r2 < LEAK_MIN_R2:
            continue
        mb_per_hour = fit.slope * 3600 / MIB
        found.append(
            C.occurrence(
                "memory_leak_suspected",
                f"{row['host_name']} {row['service_instance']}",
                row,
                growth,
                "error" if growth >= 2 * settings.memory_leak_growth else "warning",
                f"Process {row['pid']} on {row['host_name']}: RSS grew {growth:.0%} "
                f"({rss[0] / MIB:.0f} → {rss[-1] / MIB:.0f} MB, {mb_per_hour:.1f} MB/h, "
                f"R² {r2:.2f})",
                {
                    "host_name": row["host_name"],
                    "service_instance": row["service_instance"],
                    "pid": row["pid"],
                    "samples": len(rss),
                    "first_rss_mb": C.rounded(rss[0] / MIB),
                    "last_rss_mb": C.rounded(rss[-1] / MIB),
                    "growth": round(growth, 4),
                    "mb_per_hour": C.rounded(mb_per_hour, 2),
                    "r_squared": round(r2, 4),
                    "window_s": settings.baseline_window_s,
                },
            )
        )
    return found
