"""The one call cache instrumentation makes: ``record(hits, misses, duration_ns)``.

Decouples the instrumentors (which must also work without otel-perf's processor) from the
processor: the processor registers itself as the listener; with none registered a call costs
one global read. The listener attributes the figures to the current local trace (and to the
GraphQL operation running in it, if any); it is O(1) and never raises.
"""

from __future__ import annotations

from collections.abc import Callable

_listener: Callable[[int, int, int], None] | None = None


def set_listener(listener: Callable[[int, int, int], None] | None) -> None:
    global _listener
    _listener = listener


def record(hits: int, misses: int, duration_ns: int) -> None:
    """Count one cache call: ``hits``/``misses`` are the keys found/not found (0/0 for writes)."""
    listener = _listener
    if listener is not None:
        try:
            listener(hits, misses, duration_ns)
        except Exception:  # never break the host app
            pass
