"""otel-perf: an OpenTelemetry distribution for Python web backends.

Install it and launch the app unchanged (``opentelemetry-instrument python manage.py
runserver``, or under gunicorn/uvicorn): every request's latency, DB queries, N+1 findings
and memory figures are stored in an embedded DuckDB store (``./otel_perf_data/``), readable
with plain SQL while the app runs, and exported over OTLP when ``OTEL_TRACES_EXPORTER=otlp``.
"""

from otel_perf.tracking import track
from otel_perf.version import __version__


def stats() -> dict:
    """This process's pipeline counters (requests written/dropped, evicted traces, errors)."""
    from otel_perf.pipeline import stats as _stats

    return _stats()


__all__ = ["__version__", "stats", "track"]
