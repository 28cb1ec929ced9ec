"""Django cache hits, misses and time, per request, in the store: the example app under
``opentelemetry-instrument gunicorn`` with a local-memory cache and with Redis.

One gunicorn worker: local memory is per process, so the "first request misses, the next ones
hit" script is only deterministic with one process (Redis would not need it; the same command
keeps the two runs comparable).
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.e2e.conftest import query, wait_for_rows

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379"

# (path, hits, misses) of each request, in order (library/cache_views.py).
SCRIPT = [
    ("/cache/books/", 0, 1),  # empty cache: miss, then set
    ("/cache/books/", 1, 0),
    ("/cache/books/", 1, 0),
    ("/cache/mixed/", 1, 2),  # delete, get miss, set, get hit, has_key miss
    ("/cache/mixed/", 1, 2),
    ("/cache/async/", 1, 1),  # adelete, aget miss, aset, aget hit (async view under WSGI)
    ("/books/", 0, 0),  # no cache call at all
]


def run_script(make_app, extra_env: dict) -> list[tuple]:
    with make_app(server="gunicorn", workers=1, extra_env=extra_env) as app:
        for path, _, _ in SCRIPT:
            assert app.get(path) == 200, app.log()
        assert wait_for_rows(app.store, len(SCRIPT)) >= len(SCRIPT), app.log()
    paths = tuple({p for p, _, _ in SCRIPT})
    return query(
        app.store,
        "SELECT path, cache_hits, cache_misses, cache_time_ms, duration_ms FROM requests "
        f"WHERE path IN ({', '.join('?' * len(paths))}) ORDER BY timestamp",
        list(paths),
    )


def check(rows: list[tuple]) -> None:
    assert [(p, h, m) for p, h, m, _, _ in rows] == SCRIPT
    for path, hits, misses, time_ms, duration_ms in rows:
        if hits or misses:
            assert 0 < time_ms <= duration_ms, (path, time_ms, duration_ms)
        else:
            assert time_ms == 0, (path, time_ms)


def test_cache_figures_per_request_with_local_memory(make_app):
    check(run_script(make_app, {"EXAMPLE_CACHE": "locmem"}))


def test_cache_figures_per_request_with_redis(make_app):
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except Exception:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {REDIS_URL} (required when CI=true)")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"otel-perf-e2e-{uuid.uuid4().hex}"
    try:
        env = {"EXAMPLE_CACHE": "redis", "EXAMPLE_CACHE_PREFIX": prefix}
        check(run_script(make_app, env))
    finally:  # only this run's keys: never FLUSHDB a shared server
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
