"""The system sampler inside the real app: gunicorn with two workers under
opentelemetry-instrument, a 1 s interval; one sampler for the host, every worker sampled."""

from __future__ import annotations

import time

import psutil

from tests.e2e.conftest import query, wait_for_rows


def test_one_sampler_per_host_samples_every_worker(make_app):
    env = {"OTEL_PERF_SYSTEM_SAMPLE_INTERVAL_S": "1"}
    with make_app(server="gunicorn", workers=2, extra_env=env) as app:
        workers = {p.pid for p in psutil.Process(app.proc.pid).children()}
        assert len(workers) == 2
        deadline = time.monotonic() + 30
        seen: set[int] = set()
        while seen != workers and time.monotonic() < deadline:
            for _ in range(10):
                assert app.get("/books/") == 200
            rows = wait_for_rows(app.store, 1, "SELECT count(*) FROM process_samples", 5)
            if rows > 0:
                seen = {
                    r[0]
                    for r in query(
                        app.store,
                        "SELECT DISTINCT pid FROM process_samples "
                        "WHERE timestamp = (SELECT max(timestamp) FROM process_samples)",
                    )
                }
        assert seen == workers, app.log()
        # Requests now, counted by a later sample (windows close 1.6 s after the fact here).
        sampled = query(app.store, "SELECT count(*) FROM system_samples")[0][0]
        for _ in range(10):
            assert app.get("/books/") == 200
        wait_for_rows(app.store, sampled + 4, "SELECT count(*) FROM system_samples", 20)
        times = [
            r[0]
            for r in query(app.store, "SELECT timestamp FROM system_samples ORDER BY timestamp")
        ]
        # One sampler: never two samples of the host within one interval (0.9 s allowed).
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= 0.85, gaps
        rates = query(app.store, "SELECT sum(request_rate) FROM system_samples")[0][0]
        assert rates > 0
        hosts = query(app.store, "SELECT DISTINCT host_name, source FROM system_samples")
        assert len(hosts) == 1 and hosts[0][1] == "sampler"
    assert "background job" not in app.log() and "system metric" not in app.log()
