"""The Django cache instrumentation against real caches (local memory and Redis) and a real SDK.

Django is configured in-process (no app, no database); the processor is the real
PerfSpanProcessor, fed through ``processors.cache_events`` exactly as in production.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_perf import settings as perf_settings
from otel_perf.settings import Settings
from processors import cache_events
from processors.django_cache import DjangoCacheInstrumentor
from processors.perf_processor import PerfSpanProcessor
from tests.unit.sinks import ListSink

REDIS_URL = "redis://127.0.0.1:6379"


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


@pytest.fixture(scope="module")
def django_configured():
    from django.conf import settings

    if not settings.configured:
        settings.configure(CACHES={}, USE_TZ=True)


@pytest.fixture
def pipeline(django_configured):
    """A provider with PerfSpanProcessor as the cache listener, and the instrumentor on."""
    provider = TracerProvider()
    sink = ListSink()
    processor = PerfSpanProcessor(sink, Settings())
    exporter = InMemorySpanExporter()
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = cache_events._listener
    cache_events.set_listener(processor.record_cache)
    instrumentor = DjangoCacheInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield provider.get_tracer("test"), processor, sink, exporter
    finally:
        instrumentor.uninstrument()
        cache_events.set_listener(previous)


@pytest.fixture(params=["locmem", "redis", "file"])
def cache(request, django_configured, tmp_path):
    from django.core.cache import caches
    from django.test import override_settings

    if request.param == "redis":
        if not redis_reachable():
            if os.environ.get("CI") == "true":
                pytest.fail(f"Redis is not reachable at {REDIS_URL} (required when CI=true)")
            pytest.skip(f"Redis is not reachable at {REDIS_URL}")
        prefix = f"otel-perf-test-{uuid.uuid4().hex}"
        config = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    elif request.param == "file":
        prefix = None
        config = {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    else:
        prefix = None
        config = {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{uuid.uuid4().hex}",
        }
    with override_settings(CACHES={"default": config}):
        yield caches["default"]
    if prefix is not None:  # only our keys: never FLUSHDB a shared server
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)


def in_request(tracer, work):
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER) as root:
        work()
    return root


def root_of(sink):
    assert len(sink.items) == 1
    return sink.items[0][1]


def test_should_count_hits_and_misses_of_a_scripted_sequence(pipeline, cache):
    tracer, _, sink, _ = pipeline
    results = {}

    async def async_part():
        results["aget hit"] = await cache.aget("b")  # hit
        results["aget miss"] = await cache.aget("nope", "fallback")  # miss
        results["aget_or_set"] = await cache.aget_or_set("ag", 3)  # miss
        results["ahas_key"] = await cache.ahas_key("ag")  # hit
        await cache.aset("as", 1)  # write

    def script():
        results["miss"] = cache.get("a")  # miss
        cache.set("a", 1)
        results["hit"] = cache.get("a")  # hit
        cache.set("n", None)
        results["stored None"] = cache.get("n", "dflt")  # hit: None was stored
        cache.set("zero", 0)
        results["stored 0"] = cache.get("zero", 5)  # hit
        results["default kw"] = cache.get("absent", default=7)  # miss
        cache.set("b", 2)
        results["many"] = cache.get_many(["a", "b", "c"])  # 2 hits, 1 miss
        results["gos 1"] = cache.get_or_set("g", 5)  # miss
        results["gos 2"] = cache.get_or_set("g", lambda: 6)  # hit
        results["has a"] = cache.has_key("a")  # hit
        results["has zz"] = "zz" in cache  # miss (__contains__ -> has_key)
        cache.set_many({"m1": 1, "m2": 2})
        cache.incr("b")
        cache.touch("b")
        cache.delete("a")
        cache.delete_many(["m1", "m2"])
        with pytest.raises(ValueError):
            cache.incr("not-there")  # the backend's exception, unchanged
        asyncio.run(async_part())

    root = in_request(tracer, script)
    assert results == {
        "miss": None,
        "hit": 1,
        "stored None": None,
        "stored 0": 0,
        "default kw": 7,
        "many": {"a": 1, "b": 2},
        "gos 1": 5,
        "gos 2": 5,
        "has a": True,
        "has zz": False,
        "aget hit": 3,  # 2, then incr
        "aget miss": "fallback",
        "aget_or_set": 3,
        "ahas_key": True,
    }
    attrs = root_of(sink).attributes
    # hits: hit, stored None, stored 0, many x2, gos 2, has a, aget hit, ahas_key = 9
    # misses: miss, default kw, many x1, gos 1, has zz, aget miss, aget_or_set = 7
    assert attrs["perf.cache.hits"] == 9
    assert attrs["perf.cache.misses"] == 7
    duration_ms = (root.end_time - root.start_time) / 1e6
    assert 0 < attrs["perf.cache.time_ms"] <= duration_ms


def test_should_count_a_generator_of_keys_and_duplicates_once(pipeline, cache):
    tracer, _, sink, _ = pipeline
    cache.set("k1", 1)  # outside any request: not counted
    found = {}
    in_request(tracer, lambda: found.update(cache.get_many(k for k in ("k1", "k1", "k2"))))
    assert found == {"k1": 1}
    attrs = root_of(sink).attributes
    assert (attrs["perf.cache.hits"], attrs["perf.cache.misses"]) == (1, 1)


def test_should_count_only_the_outermost_call_of_a_custom_backend(pipeline, django_configured):
    from django.core.cache.backends.locmem import LocMemCache

    class TwiceCache(LocMemCache):  # defined after instrument(): patched by the subclass hook
        def get(self, key, default=None, version=None):
            super().get(key, default, version)
            return super().get(key, default, version)

    class NativeAsyncCache(TwiceCache):  # an async method of its own, calling sync code
        async def aget(self, key, default=None, version=None):
            return self.get(key, default, version)

    tracer, _, sink, _ = pipeline
    cache = NativeAsyncCache(f"twice-{uuid.uuid4().hex}", {})
    cache.set("x", 1)

    def script():
        cache.get("x")  # hit
        cache.get("y")  # miss
        cache.get_many(["x", "y"])  # hit + miss
        assert asyncio.run(cache.aget("x")) == 1  # hit
        assert asyncio.run(cache.aget_many(["x", "y"])) == {"x": 1}  # hit + miss

    in_request(tracer, script)
    attrs = root_of(sink).attributes
    assert (attrs["perf.cache.hits"], attrs["perf.cache.misses"]) == (4, 3)


def test_calls_outside_a_request_are_not_counted_and_do_not_fail(pipeline, cache):
    tracer, processor, sink, exporter = pipeline
    assert cache.get("outside") is None
    cache.set("outside", 1)
    assert cache.get_or_set("outside", 2) == 1
    assert asyncio.run(cache.aget("outside")) == 1
    assert processor.open_traces() == 0 and sink.items == [] and exporter.get_finished_spans() == ()
    in_request(tracer, lambda: None)
    assert "perf.cache.hits" not in root_of(sink).attributes


def test_should_make_a_span_per_call_only_when_asked(pipeline, cache):
    tracer, _, sink, exporter = pipeline
    in_request(tracer, lambda: cache.get("s"))
    assert [s.name for s in exporter.get_finished_spans()] == ["GET"]
    exporter.clear()
    previous = perf_settings.get_settings()
    perf_settings.set_settings(Settings(cache_spans=True))
    try:
        in_request(tracer, lambda: (cache.get("s"), cache.get_many(["s", "t"]), cache.set("s", 1)))
    finally:
        perf_settings.set_settings(previous)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"GET", "cache get", "cache get_many", "cache set"}
    get = spans["cache get"]
    assert get.parent.span_id == spans["GET"].context.span_id
    assert get.kind is SpanKind.INTERNAL
    assert get.attributes["db.operation.name"] == "get"
    assert get.attributes["perf.cache.hit"] is False
    assert spans["cache get_many"].attributes["perf.cache.keys"] == 2
    if type(cache).__name__ == "RedisCache":
        assert get.attributes["db.system.name"] == "redis"
    assert "perf.cache.hit" not in spans["cache set"].attributes


def test_uninstrument_restores_every_method(django_configured):
    from django.core.cache.backends.base import BaseCache
    from django.core.cache.backends.locmem import LocMemCache
    from django.core.cache.backends.redis import RedisCache

    before = {
        (cls, name): cls.__dict__[name]
        for cls in (BaseCache, LocMemCache, RedisCache)
        for name in ("get", "aget", "get_many", "get_or_set", "has_key", "set", "incr")
        if name in cls.__dict__
    }
    instrumentor = DjangoCacheInstrumentor()
    instrumentor.instrument()
    instrumentor.instrument()  # twice: a warning, not a crash
    try:
        assert all(cls.__dict__[name] is not fn for (cls, name), fn in before.items())
        assert "__init_subclass__" in BaseCache.__dict__
    finally:
        instrumentor.uninstrument()
    assert all(cls.__dict__[name] is fn for (cls, name), fn in before.items())
    assert "__init_subclass__" not in BaseCache.__dict__

    class Later(LocMemCache):
        def get(self, key, default=None, version=None):
            return super().get(key, default, version)

    assert not hasattr(Later.__dict__["get"], "__otel_perf_cache__")


INSTRUMENT_FIRST = r"""
import sys
if sys.argv[1] == "no-django":
    sys.modules["django"] = None  # as if Django were not installed
from processors import cache_events
from processors.django_cache import DjangoCacheInstrumentor
DjangoCacheInstrumentor().instrument()  # before Django is configured, as opentelemetry-instrument
if sys.argv[1] == "no-django":
    DjangoCacheInstrumentor().uninstrument()
    print("ok")
    raise SystemExit
from django.conf import settings
assert not settings.configured  # importing the cache module read no setting
calls = []
cache_events.set_listener(lambda h, m, ns: calls.append((h, m)))
settings.configure(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
from django.core.cache import cache
cache.get("k")
cache.set("k", 1)
cache.get("k")
print(calls)
"""


@pytest.mark.parametrize(
    ("situation", "output"), [("no-django", "ok"), ("unconfigured", "[(0, 1), (0, 0), (1, 0)]")]
)
def test_instrumenting_before_django_is_configured_or_without_django(situation, output):
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run(
        [sys.executable, "-c", INSTRUMENT_FIRST, situation],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == output
