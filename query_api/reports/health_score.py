"""Service status and health score (seeds 003/004), one documented formula.

``health_score`` starts at 100 and loses points for what a user of the service feels or is
about to feel (each penalty capped):

- errors: 400 x error_rate, at most 40 (5 % errors cost 20 points);
- slow requests: 300 x the fraction of slow requests, at most 30 (10 % slow cost 30);
- open alerts: 10 per critical and 5 per error-severity alert, at most 20;
- the host: 10 when system health is ``warning``, 20 when ``critical``.

Status: ``healthy`` at 80 or more, ``degraded`` from 50, else ``critical``. With no requests
in the period there is nothing to score: score None and status ``unknown``.
System health (seed 001): ``critical`` when CPU >= 90 %, memory >= 90 % or disk >= 95 %;
``warning`` at 70/70/80 %; ``unknown`` with no recent sample.
"""

from __future__ import annotations

CPU = (70.0, 90.0)
MEMORY = (70.0, 90.0)
DISK = (80.0, 95.0)


def system_health(cpu: float | None, memory: float | None, disk: float | None) -> str:
    if cpu is None and memory is None and disk is None:
        return "unknown"
    levels = [
        2 if value >= high else 1 if value >= low else 0
        for value, (low, high) in ((cpu, CPU), (memory, MEMORY), (disk, DISK))
        if value is not None
    ]
    return ("healthy", "warning", "critical")[max(levels)]


def health_score(
    requests: float,
    error_rate: float | None,
    slow_rate: float | None,
    open_alerts: dict[str, int],
    system: str,
) -> int | None:
    if not requests:
        return None
    score = 100.0
    score -= min(40.0, 400.0 * (error_rate or 0.0))
    score -= min(30.0, 300.0 * (slow_rate or 0.0))
    score -= min(20.0, 10.0 * open_alerts.get("critical", 0) + 5.0 * open_alerts.get("error", 0))
    score -= {"warning": 10.0, "critical": 20.0}.get(system, 0.0)
    return max(0, round(score))


def service_status(score: int | None) -> str:
    if score is None:
        return "unknown"
    if score >= 80:
        return "healthy"
    return "degraded" if score >= 50 else "critical"
