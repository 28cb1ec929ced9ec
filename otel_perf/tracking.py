"""``@otel_perf.track``: record a function outside requests as an operation (seed 004's
``track_performance``). Works as a decorator (sync and async) and as a context manager.

A tracked call that runs inside a request is part of that request's trace (a child span);
one that runs on its own (a management command, a Celery task, a cron job) becomes a row in
the ``operations`` table with its duration, DB queries, N+1 findings and memory figures.
"""

from __future__ import annotations

import contextlib
import functools
import inspect

from opentelemetry import trace

from processors.attributes import OPERATION_KIND

_tracer = None


def _get_tracer():
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer("otel_perf.track")
    return _tracer


class track(contextlib.ContextDecorator):
    """``@track``, ``@track("name")``, ``@track(name="x", kind="task")`` or ``with track("x"):``."""

    def __new__(cls, name=None, kind: str = "function"):
        if callable(name):  # bare @track
            return cls(None, kind)(name)
        return super().__new__(cls)

    def __init__(self, name=None, kind: str = "function") -> None:
        self.name = name
        self.kind = kind
        self._stack: list = []

    def __call__(self, func):
        name = self.name or f"{func.__module__}.{func.__qualname__}"
        kind = self.kind
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args, **kwargs):
                with _get_tracer().start_as_current_span(name, attributes={OPERATION_KIND: kind}):
                    return await func(*args, **kwargs)

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with _get_tracer().start_as_current_span(name, attributes={OPERATION_KIND: kind}):
                return func(*args, **kwargs)

        return wrapper

    def __enter__(self):
        cm = _get_tracer().start_as_current_span(
            self.name or "operation", attributes={OPERATION_KIND: self.kind}
        )
        self._stack.append(cm)
        return cm.__enter__()

    def __exit__(self, *exc):
        return self._stack.pop().__exit__(*exc)

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, *exc):
        return self.__exit__(*exc)
