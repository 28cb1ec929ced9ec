"""Service status and health score (seeds 003/004), one documented formula.

``health_score`` starts at 100 and loses points for what a user of the service feels or is
about to feel, each penalty capped (the ``score_breakdown`` of the summary shows each):

- errors: 400 x error_rate, at most 40 (5 % errors cost 20 points);
- latency: 300 x the fraction of slow requests (>= ``slow_request_ms``), at most 30
  (10 % slow cost 30);
- open alerts: 10 per critical and 5 per error-severity alert, at most 20;
- resources: 10 when the system health of the worst recently sampled host is ``warning``,
  20 when ``critical`` (``system_health.py``: CPU/memory above 70/90 %, disk above 80/95 %).

Status: ``healthy`` at 80 or more, ``degraded`` from 50, else ``critical``. A period with no
requests has no error or latency penalty (nothing failed, nothing was slow); with no requests
*and* no recent system sample nothing about the service was observed: score None and status
``unknown``.
"""

from __future__ import annotations

from query_api.reports.system_health import UNKNOWN, system_health

__all__ = ["health_score", "score_breakdown", "service_status", "system_health"]

ERROR_WEIGHT, ERROR_CAP = 400.0, 40.0
SLOW_WEIGHT, SLOW_CAP = 300.0, 30.0
ALERT_POINTS, ALERT_CAP = {"critical": 10.0, "error": 5.0}, 20.0
RESOURCE_POINTS = {"warning": 10.0, "critical": 20.0}
HEALTHY, DEGRADED = 80, 50


def score_breakdown(
    requests: float,
    error_rate: float | None,
    slow_rate: float | None,
    open_alerts: dict[str, int],
    system: str,
) -> dict[str, float] | None:
    """The points each component costs (rounded to 0.1); None when nothing was observed."""
    parts = _penalties(requests, error_rate, slow_rate, open_alerts, system)
    return None if parts is None else {k: round(v, 1) for k, v in parts.items()}


def _penalties(requests, error_rate, slow_rate, open_alerts, system) -> dict[str, float] | None:
    if not requests and system == UNKNOWN:
        return None
    alerts = sum(points * open_alerts.get(s, 0) for s, points in ALERT_POINTS.items())
    parts = {
        "errors": min(ERROR_CAP, ERROR_WEIGHT * (error_rate or 0.0)) if requests else 0.0,
        "latency": min(SLOW_CAP, SLOW_WEIGHT * (slow_rate or 0.0)) if requests else 0.0,
        "alerts": min(ALERT_CAP, alerts),
        "resources": RESOURCE_POINTS.get(system, 0.0),
    }
    return parts


def health_score(
    requests: float,
    error_rate: float | None,
    slow_rate: float | None,
    open_alerts: dict[str, int],
    system: str,
) -> int | None:
    parts = _penalties(requests, error_rate, slow_rate, open_alerts, system)
    if parts is None:
        return None
    return max(0, round(100.0 - sum(parts.values())))


def service_status(score: int | None) -> str:
    if score is None:
        return "unknown"
    if score >= HEALTHY:
        return "healthy"
    return "degraded" if score >= DEGRADED else "critical"
