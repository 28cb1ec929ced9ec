"""Fixed one-minute windows per caller: 100/min per IP for anonymous callers, 500/min per
authenticated principal, 1000/min for admins (the spec's figures).

Counters live in this process only: behind N workers a caller gets up to N times the limit.
That is documented rather than solved with shared state, because the limit exists to stop a
runaway dashboard or script, not to meter anyone. Memory is bounded by ``max_keys``: the
least recently seen callers are forgotten first (a forgotten caller starts a fresh window).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import threading
import time
from collections.abc import Callable

from query_api.auth import ADMIN, Principal

DEFAULT_LIMITS = {"anonymous": 100, "authenticated": 500, "admin": 1000}


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds when the window ends

    def headers(self, now: float) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset - now)))
        return headers


def tier(principal: Principal) -> str:
    if principal.role == ADMIN:
        return "admin"
    return "authenticated" if principal.authenticated else "anonymous"


class RateLimiter:
    def __init__(
        self,
        limits: dict[str, int] | None = None,
        window_s: int = 60,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        # key -> [window start, count]; ordered by last use for eviction
        self._counters: collections.OrderedDict[str, list] = collections.OrderedDict()

    def hit(self, principal: Principal) -> Decision:
        now = self._clock()
        limit = self.limits[tier(principal)]
        window = int(now // self.window_s) * self.window_s
        key = principal.identity
        with self._lock:
            counter = self._counters.get(key)
            if counter is None or counter[0] != window:
                counter = [window, 0]
                self._counters[key] = counter
            self._counters.move_to_end(key)
            allowed = counter[1] < limit
            if allowed:
                counter[1] += 1
            while len(self._counters) > self.max_keys:
                self._counters.popitem(last=False)
            remaining = limit - counter[1]
        return Decision(allowed, limit, remaining, window + self.window_s)

    def __len__(self) -> int:
        return len(self._counters)
