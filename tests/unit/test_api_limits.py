"""Rate limits and the response cache, on an injected clock (nothing sleeps)."""

from __future__ import annotations

from query_api.auth import Principal, anonymous
from query_api.caching import ResponseCache, etag_matches, strong_etag
from query_api.ratelimit import RateLimiter


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_should_allow_the_limit_then_refuse_until_the_window_ends():
    clock = Clock(1_700_000_010.0)  # 10 s into a minute window
    limiter = RateLimiter({"anonymous": 3}, clock=clock)
    caller = anonymous("10.0.0.1")
    decisions = [limiter.hit(caller) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.reset == 1_700_000_040  # the minute boundary, epoch seconds
    headers = refused.headers(clock())
    assert headers["Retry-After"] == "30" and headers["X-RateLimit-Limit"] == "3"
    assert limiter.hit(anonymous("10.0.0.2")).allowed  # per IP
    clock.now = 1_700_000_040.0
    assert limiter.hit(caller).allowed


def test_should_give_each_tier_its_own_limit():
    limiter = RateLimiter(clock=Clock())
    assert limiter.hit(anonymous("1.2.3.4")).limit == 100
    assert limiter.hit(Principal("read", "token:read:ab", authenticated=True)).limit == 500
    assert limiter.hit(Principal("anonymous", "user:7", authenticated=True)).limit == 500
    assert limiter.hit(Principal("admin", "user:1", authenticated=True)).limit == 1000


def test_should_keep_memory_bounded():
    limiter = RateLimiter(max_keys=100, clock=Clock())
    for i in range(1000):
        limiter.hit(anonymous(f"10.0.{i // 256}.{i % 256}"))
    assert len(limiter) == 100


def test_should_expire_entries_and_evict_the_least_recently_used():
    clock = Clock()
    cache = ResponseCache(max_entries=2, clock=clock)
    cache.put("a", cache.make(b"A", 60))
    cache.put("b", cache.make(b"B", 30))
    assert cache.get("a").body == b"A"  # a is now the most recently used
    cache.put("c", cache.make(b"C", 60))
    assert cache.get("b") is None and cache.get("c").body == b"C"
    clock.now += 59
    assert cache.get("a").max_age(clock()) == 1
    clock.now += 1
    assert cache.get("a") is None


def test_should_compare_etags_as_if_none_match_does():
    etag = strong_etag(b"body")
    assert etag.startswith('"') and etag == strong_etag(b"body") != strong_etag(b"other")
    assert etag_matches(etag, etag)
    assert etag_matches(f'"x", W/{etag}', etag)
    assert etag_matches("*", etag)
    assert not etag_matches('"x"', etag) and not etag_matches(None, etag)
