"""The capacity forecast: the least-squares line recovers a synthetic linear trend exactly,
both as a pure function and through the report over a scripted store."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from otel_perf.settings import Settings
from otel_perf.storage import parse_address
from otel_perf.storage.rows import Columns
from otel_perf.storage.session import StoreSession
from query_api.params import Params
from query_api.parsing import parse_params
from query_api.reports import REST_REPORTS
from query_api.reports.forecast import (
    MONITOR_TEXT,
    NO_DATA_TEXT,
    SCALE_OUT_TEXT,
    SUFFICIENT_TEXT,
    buckets,
    days_to,
    fit_line,
    forecast,
    scaling_recommendation,
)
from query_api.routes import REST_ROUTES

NOW = datetime(2026, 11, 24, 12, 0, 0)


def test_the_line_through_exact_points_is_recovered_exactly():
    points = [(x / 7.0 - 3.0, 12.5 - 0.75 * (x / 7.0 - 3.0)) for x in range(30)]
    line = fit_line(points)
    assert line.slope == pytest.approx(-0.75, abs=1e-12)
    assert line.intercept == pytest.approx(12.5, abs=1e-12)
    assert line.r_squared == pytest.approx(1.0, abs=1e-12)
    assert fit_line(points[:1]) is None
    assert fit_line([(1.0, 2.0), (1.0, 3.0)]) is None  # no spread in x: no slope
    assert fit_line([(0.0, 5.0), (1.0, 5.0)]).r_squared is None  # flat: nothing to explain


def test_noise_symmetric_about_the_line_leaves_the_slope_and_lowers_r_squared():
    points = [(float(x), 2.0 * x + 1.0 + (1.0 if x % 2 else -1.0)) for x in range(10)]
    line = fit_line(points)
    # The +-1 pattern over x = 0..9 is itself correlated with x by a known amount.
    n, mean = 10, 4.5
    sxx = sum((x - mean) ** 2 for x in range(n))
    sxy_noise = sum((x - mean) * (1.0 if x % 2 else -1.0) for x in range(n))
    assert line.slope == pytest.approx(2.0 + sxy_noise / sxx, abs=1e-12)
    assert 0.9 < line.r_squared < 1.0


def test_seed_004s_scaling_recommendation_at_its_boundaries():
    assert scaling_recommendation(None) == NO_DATA_TEXT
    assert scaling_recommendation(0.0) == SUFFICIENT_TEXT
    assert scaling_recommendation(0.05) == SUFFICIENT_TEXT
    assert scaling_recommendation(0.0501) == MONITOR_TEXT
    assert scaling_recommendation(0.10) == MONITOR_TEXT
    assert scaling_recommendation(0.1001) == SCALE_OUT_TEXT


def test_days_to_a_threshold():
    line = fit_line([(-1.0, 40.0), (0.0, 50.0)])  # +10 % a day, 50 % now
    assert days_to(line, 70.0) == pytest.approx(2.0)
    assert days_to(line, 50.0) == 0.0
    assert days_to(fit_line([(-1.0, 60.0), (0.0, 50.0)]), 70.0) is None  # falling


def test_the_pure_forecast_projects_each_series():
    xs = [i / 24.0 - 1.0 for i in range(24)]  # hourly points over the last day
    body = forecast(
        [(x, 10.0 + 2.0 * x) for x in xs],  # +2 requests/s a day from 10: +20 % in 1 day
        [(x, 60.0 + 5.0 * x) for x in xs],  # 60 % CPU, +5 %/day: above 70 in 2 days
        [(x, 40.0) for x in xs],
        days=3.0,
    )
    rate = body["request_rate"]
    assert rate["slope_per_day"] == pytest.approx(2.0)
    assert rate["current"] == pytest.approx(10.0)
    assert rate["projected"] == pytest.approx(16.0)
    assert rate["growth"] == pytest.approx(0.6)
    assert body["recommendation"] == rate["recommendation"] == SCALE_OUT_TEXT
    cpu = body["cpu_percent"]
    assert cpu["projected"] == pytest.approx(75.0)
    assert cpu["days_to_warning"] == pytest.approx(2.0)
    assert cpu["days_to_critical"] == pytest.approx(6.0)
    assert "above 70 % within 2.0 days" in cpu["recommendation"]
    memory = body["memory_percent"]
    assert memory["slope_per_day"] == pytest.approx(0.0, abs=1e-12)
    assert memory["days_to_warning"] is None
    assert memory["recommendation"] == "Memory stays below 70 % over the horizon"
    empty = forecast([], [(0.0, 1.0)], [], days=1.0)
    assert empty["request_rate"]["current"] is None
    assert empty["cpu_percent"]["recommendation"] is None
    assert empty["recommendation"] == NO_DATA_TEXT


@pytest.fixture
def store(tmp_path):
    session = StoreSession(parse_address(str(tmp_path / "store")))
    yield session
    session.close()


def test_the_report_recovers_a_synthetic_linear_trend_from_the_store(store):
    start = NOW - timedelta(hours=24)
    bucket_s, n = buckets(start, NOW)
    assert (bucket_s, n) == (1800.0, 48)
    requests, samples = Columns("requests"), Columns("system_samples")
    for i in range(n):
        bucket = start + timedelta(seconds=i * bucket_s)
        for j in range(10 + i):  # 10 + i requests in bucket i (one bucket: 0 extra)
            requests.add(
                {"timestamp": bucket + timedelta(seconds=1 + j), "duration_ms": 5.0, "weight": 1.0}
            )
        for host, offset in (("a", -5.0), ("b", 5.0)):  # the fleet's mean: 20 + 0.5 i
            samples.add(
                {
                    "timestamp": bucket + timedelta(seconds=60),
                    "host_name": host,
                    "cpu_percent": 20.0 + 0.5 * i + offset,
                    "memory_percent": 50.0,
                }
            )
    outside = start - timedelta(seconds=1)  # before the window: not counted
    requests.add({"timestamp": outside, "duration_ms": 5.0, "weight": 1.0})
    store.insert([requests, samples])

    body = REST_REPORTS["forecast"](store.con, Params(hours=24, days=1.0), Settings(), NOW)
    assert body["period"] == {
        "start": "2026-11-23T12:00:00.000Z",
        "end": "2026-11-24T12:00:00.000Z",
    }
    assert body["bucket_s"] == 1800.0 and body["days_ahead"] == 1.0
    per_day = 86400.0 / bucket_s  # buckets per day
    rate = body["request_rate"]
    # Rate in bucket i: (10 + i) / 1800 per s; the end of the window is i = 47.5 + 0.5 = 48.
    assert rate["points"] == 48
    assert rate["slope_per_day"] == pytest.approx(per_day / bucket_s, abs=1e-6)
    assert rate["current"] == pytest.approx((10 + 47.5) / bucket_s, abs=1e-4)
    assert rate["projected"] == pytest.approx((10 + 47.5 + per_day) / bucket_s, abs=1e-4)
    assert rate["r_squared"] == 1.0
    assert rate["growth"] == pytest.approx(per_day / 57.5, abs=1e-4)
    assert body["recommendation"] == SCALE_OUT_TEXT
    cpu = body["cpu_percent"]
    assert cpu["slope_per_day"] == pytest.approx(0.5 * per_day)  # 24 % a day
    assert cpu["current"] == pytest.approx(20.0 + 0.5 * 47.5)  # 43.75
    assert cpu["projected"] == pytest.approx(43.75 + 24.0)
    assert cpu["days_to_warning"] == pytest.approx(round((70 - 43.75) / 24.0, 2))
    memory = body["memory_percent"]
    assert (memory["current"], memory["slope_per_day"], memory["days_to_warning"]) == (
        50.0,
        0.0,
        None,
    )
    assert math.isclose(memory["average"], 50.0)


def test_an_empty_store_forecasts_nothing_and_the_route_takes_days(store):
    body = REST_REPORTS["forecast"](store.con, Params(hours=6, days=7.0), Settings(), NOW)
    # Buckets without requests are a rate of 0: a flat line at 0, no growth to speak of.
    assert body["request_rate"]["current"] == 0.0 and body["request_rate"]["growth"] is None
    assert body["recommendation"] == NO_DATA_TEXT
    assert body["cpu_percent"]["points"] == 0 and body["cpu_percent"]["current"] is None
    route = next(r for r in REST_ROUTES if r.report == "forecast")
    assert route.path == "forecast" and route.params[:2] == ("hours", "days")
    params = parse_params({"days": ["14"], "hours": ["48"]}, route.params, 1000)
    assert (params.days, params.hours) == (14.0, 48.0)
