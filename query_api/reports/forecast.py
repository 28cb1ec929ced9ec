"""Capacity forecast (issue 6, seed 004): linear trends of request rate, CPU and memory over the
window, projected ``days`` ahead, with seed 004's scaling recommendation.

The window (``hours``, or ``start_date``/``end_date``) is cut into about ``BUCKETS`` whole
buckets of equal length (at least a minute); each bucket gives one point: the request rate
(weighted requests that started in it / its length; a bucket without requests is a rate of 0)
and the mean CPU and memory % of every host's samples in it (a bucket without samples gives no
point). A least-squares line through the points (x: days, at bucket midpoints) is the trend:

- ``current``: the line at the end of the window (less noisy than the last point);
- ``slope_per_day``; ``projected``: the line ``days`` after the end (percentages clipped to
  0-100, rates at 0); ``growth``: (projected - current) / current, a fraction;
- ``r_squared``: how well a line explains the points (1: exactly; near 0: no linear trend);
- for CPU and memory, ``days_to_warning`` / ``days_to_critical``: when the line crosses the
  system-health thresholds (``system_health.py``), 0 if already above, null if never.

Fewer than ``MIN_POINTS`` points: every figure is null. Seed 004's scaling recommendation is
read from the request-rate growth over the horizon (above 10 %: add instances; above 5 %:
monitor closely; else capacity suffices); CPU and memory each get one from their projection.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta

from otel_perf.settings import Settings
from query_api import queries_system as QS
from query_api.params import Params
from query_api.reports.common import EARLIEST, fetch_dicts, iso, lookback, r
from query_api.reports.system_health import THRESHOLDS

BUCKETS = 48
MIN_BUCKET_S = 60
MIN_POINTS = 3
DAY_S = 86400.0

# Seed 004's get_scaling_recommendation, on the request rate's growth over the horizon.
SCALE_OUT, MONITOR = 0.10, 0.05
SCALE_OUT_TEXT = "Consider horizontal scaling - add more instances"
MONITOR_TEXT = "Monitor closely - scaling may be needed soon"
SUFFICIENT_TEXT = "Current capacity appears sufficient"
NO_DATA_TEXT = "Not enough data for a forecast"


@dataclasses.dataclass(frozen=True)
class Line:
    slope: float
    intercept: float
    r_squared: float | None  # None when every y is the same (nothing to explain)
    points: int

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x


def fit_line(points: list[tuple[float, float]]) -> Line | None:
    """Ordinary least squares y = intercept + slope * x; None with fewer than two distinct x."""
    n = len(points)
    if n < 2:
        return None
    mean_x = math.fsum(x for x, _ in points) / n
    mean_y = math.fsum(y for _, y in points) / n
    sxx = math.fsum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    syy = math.fsum((y - mean_y) ** 2 for _, y in points)
    residual = math.fsum((y - intercept - slope * x) ** 2 for x, y in points)
    r_squared = None if syy == 0 else max(0.0, 1.0 - residual / syy)
    return Line(slope, intercept, r_squared, n)


def scaling_recommendation(growth: float | None) -> str:
    if growth is None:
        return NO_DATA_TEXT
    if growth > SCALE_OUT:
        return SCALE_OUT_TEXT
    if growth > MONITOR:
        return MONITOR_TEXT
    return SUFFICIENT_TEXT


def days_to(line: Line, threshold: float) -> float | None:
    """Days after the window's end (x = 0) when the line reaches ``threshold``."""
    now = line.at(0.0)
    if now >= threshold:
        return 0.0
    if line.slope <= 0:
        return None
    return (threshold - now) / line.slope


def trend(
    points: list[tuple[float, float]], days: float, lower: float = 0.0, upper: float | None = None
) -> dict:
    """One metric's trend: points are (days relative to the window's end, value)."""
    line = fit_line(points) if len(points) >= MIN_POINTS else None
    if line is None:
        return {
            "points": len(points),
            "average": None,
            "current": None,
            "slope_per_day": None,
            "projected": None,
            "growth": None,
            "r_squared": None,
        }

    def clip(value: float) -> float:
        value = max(lower, value)
        return value if upper is None else min(upper, value)

    current, projected = clip(line.at(0.0)), clip(line.at(days))
    return {
        "points": line.points,
        "average": math.fsum(y for _, y in points) / len(points),
        "current": current,
        "slope_per_day": line.slope,
        "projected": projected,
        "growth": (projected - current) / current if current > 0 else None,
        "r_squared": line.r_squared,
        "_line": line,
    }


def resource_forecast(points: list[tuple[float, float]], days: float, resource: str) -> dict:
    name = {"cpu": "CPU", "memory": "Memory"}[resource]
    t = trend(points, days, 0.0, 100.0)
    line = t.pop("_line", None)
    warning, critical = THRESHOLDS[resource]
    if line is None:
        return {**t, "days_to_warning": None, "days_to_critical": None, "recommendation": None}
    to_warning, to_critical = days_to(line, warning), days_to(line, critical)
    if to_critical is not None and to_critical <= days:
        text = (
            f"{name} is projected above {critical:g} % within {to_critical:.1f} days: add "
            f"{'CPU' if resource == 'cpu' else 'memory'} or instances before then"
        )
    elif to_warning is not None and to_warning <= days:
        text = (
            f"{name} is projected above {warning:g} % within {to_warning:.1f} days: plan capacity"
        )
    else:
        text = f"{name} stays below {warning:g} % over the horizon"
    return {
        **t,
        "days_to_warning": to_warning,
        "days_to_critical": to_critical,
        "recommendation": text,
    }


def forecast(
    request_points: list[tuple[float, float]],
    cpu_points: list[tuple[float, float]],
    memory_points: list[tuple[float, float]],
    days: float,
) -> dict:
    """The pure part: three series (x in days relative to the window's end) -> the forecast."""
    requests = trend(request_points, days)
    requests.pop("_line", None)
    requests["recommendation"] = scaling_recommendation(requests["growth"])
    return {
        "request_rate": requests,
        "cpu_percent": resource_forecast(cpu_points, days, "cpu"),
        "memory_percent": resource_forecast(memory_points, days, "memory"),
        "recommendation": requests["recommendation"],
    }


def buckets(start: datetime, end: datetime) -> tuple[float, int]:
    """(bucket length in s, whole buckets) for the window [start, end)."""
    window_s = max(0.0, (end - start).total_seconds())
    bucket_s = max(float(MIN_BUCKET_S), math.floor(window_s / BUCKETS))
    return bucket_s, int(window_s // bucket_s)


def report(con, params: Params, settings: Settings, now: datetime) -> dict:
    window = lookback(params, now)
    end = min(window["end"], now)
    start = window["start"] if window["start"] > EARLIEST else end - timedelta(hours=params.hours)
    bucket_s, n = buckets(start, end)
    cut = start + timedelta(seconds=bucket_s * n)
    bounds = {"start": start, "end": cut, "bucket_us": int(bucket_s * 1_000_000)}
    per_bucket = {
        row["bucket"]: row["requests"] for row in fetch_dicts(con, QS.FORECAST_REQUESTS, bounds)
    }
    system = fetch_dicts(con, QS.FORECAST_SYSTEM, bounds)

    def x(i: int) -> float:  # the bucket's midpoint, in days relative to the window's end
        return ((i + 0.5) * bucket_s - n * bucket_s) / DAY_S

    requests = [(x(i), float(per_bucket.get(i, 0.0)) / bucket_s) for i in range(n)]
    cpu = [(x(s["bucket"]), s["cpu_percent"]) for s in system if s["cpu_percent"] is not None]
    memory = [
        (x(s["bucket"]), s["memory_percent"]) for s in system if s["memory_percent"] is not None
    ]
    body = forecast(requests, cpu, memory, params.days)
    for key, digits in (("request_rate", 4), ("cpu_percent", 2), ("memory_percent", 2)):
        body[key] = _rounded(body[key], digits)
    return {
        "period": {"start": iso(start), "end": iso(cut)},
        "days_ahead": params.days,
        "bucket_s": bucket_s,
        "method": "least-squares line through per-bucket points, projected from the window's end",
        **body,
    }


def _rounded(figures: dict, digits: int) -> dict:
    out = {}
    for key, value in figures.items():
        if isinstance(value, float):
            if key == "slope_per_day":
                places = 6
            elif key in ("growth", "r_squared"):
                places = 4
            else:
                places = 2 if key.startswith("days") else digits
            out[key] = r(value, places)
        else:
            out[key] = value
    return out
