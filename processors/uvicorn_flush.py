"""Flush the pipeline when uvicorn shuts down, before uvicorn ends the process.

    UvicornFlushInstrumentor().instrument()   # the ``uvicorn_flush`` entry point does this

uvicorn (0.29 and later) shuts down gracefully on SIGTERM and then raises the signal again
with the handler it found, usually the default one: the process is killed by the signal, and
``atexit`` (where the SDK flushes its span processors and our writer commits its queue) never
runs. Under ``uvicorn app:app`` and gunicorn's ``uvicorn.workers.UvicornWorker`` alike, the
requests of the last flush interval (up to ``OTEL_PERF_FLUSH_INTERVAL_S``) were lost.

``uvicorn.server.Server.shutdown`` runs after the last request and the app's lifespan
shutdown, and before that signal: flushing the tracer provider there (bounded by a timeout)
commits those requests and exports pending spans. Nothing changes on the request path.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

_logger = logging.getLogger("otel_perf")

FLUSH_TIMEOUT_MS = 5000


def flush_now(timeout_millis: int = FLUSH_TIMEOUT_MS) -> None:
    try:
        from opentelemetry import trace

        provider = trace.get_tracer_provider()
        flush = getattr(provider, "force_flush", None)
        if flush is not None:
            flush(timeout_millis)
    except Exception as exc:  # shutting down: say so, never raise into the server
        _logger.warning("otel-perf: could not flush at uvicorn shutdown: %s", exc)


async def _shutdown_then_flush(wrapped, _server, args, kwargs):
    try:
        return await wrapped(*args, **kwargs)
    finally:
        flush_now()


class UvicornFlushInstrumentor(BaseInstrumentor):
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("uvicorn >= 0.20",)

    def _instrument(self, **kwargs) -> None:
        try:
            from uvicorn.server import Server
            from wrapt import wrap_function_wrapper
        except ImportError:
            return
        try:
            wrap_function_wrapper(Server, "shutdown", _shutdown_then_flush)
        except Exception as exc:
            _logger.warning("otel-perf: could not hook uvicorn's shutdown: %s", exc)

    def _uninstrument(self, **kwargs) -> None:
        from opentelemetry.instrumentation.utils import unwrap
        from uvicorn.server import Server

        unwrap(Server, "shutdown")
