"""Computed report bodies, kept for their route's lifetime (stats 60 s, alerts 30 s, slow
queries 120 s, ...) per (report, normalized parameters, role): never shared across roles.

A body is stored as the exact bytes sent, with its strong ETag (hash of those bytes) and the
time it was computed (``Last-Modified``). Size is bounded: the least recently used entry goes
first. Like the rate limits, the cache is per process.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import math
import threading
import time
from collections.abc import Callable, Hashable
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime


@dataclasses.dataclass(frozen=True)
class Entry:
    body: bytes
    etag: str
    computed_at: float  # epoch seconds
    expires_at: float

    @property
    def last_modified(self) -> str:
        return formatdate(self.computed_at, usegmt=True)

    def max_age(self, now: float) -> int:
        return max(0, math.ceil(self.expires_at - now))


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match uses the weak comparison: ``W/"x"`` matches ``"x"``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = (c.strip() for c in if_none_match.split(","))
    return any(c.removeprefix("W/") == etag for c in candidates)


def not_modified(
    entry: Entry, if_none_match: str | None, if_modified_since: str | None, now: float
) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present; otherwise If-Modified-Since does
    (a 304 when the body was computed no later than the given date). A date that does not
    parse is ignored, as the RFC says, and so is one later than ``now`` (RFC 9110 §13.1.3: a
    client's clock ahead of ours would otherwise keep it on a stale body)."""
    if if_none_match:
        return etag_matches(if_none_match, entry.etag)
    if not if_modified_since:
        return False
    try:
        date = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    if date.tzinfo is None:  # "-0000": an HTTP-date is GMT
        date = date.replace(tzinfo=UTC)
    since = date.timestamp()
    return since <= now and math.floor(entry.computed_at) <= since  # Last-Modified: whole s


class ResponseCache:
    def __init__(self, max_entries: int = 512, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[Hashable, Entry] = collections.OrderedDict()

    def get(self, key: Hashable) -> Entry | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires_at <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def make(self, body: bytes, ttl: float) -> Entry:
        now = self._clock()
        return Entry(body, strong_etag(body), now, now + ttl)

    def put(self, key: Hashable, entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
