"""``opentelemetry-instrument`` hooks: run whichever distro and configurator won.

pre_instrument: make the Django instrumentation wait until the app has configured Django
(the upstream instrumentor calls ``settings.configure()`` when DJANGO_SETTINGS_MODULE is not
exported yet, which breaks ``manage.py runserver`` and pytest-django suites).
post_instrument: add our pipeline when another configurator built the SDK.
"""

from __future__ import annotations

import logging

_logger = logging.getLogger("otel_perf")


def _enabled() -> bool:
    from otel_perf.settings import get_settings

    return get_settings().enabled


def pre_instrument() -> None:
    if not _enabled():
        return
    try:
        from otel_perf.django.instrument import defer_django_instrumentation

        defer_django_instrumentation()
    except Exception as exc:  # never break start-up
        _logger.warning("otel-perf: could not prepare the Django instrumentation: %s", exc)


def post_instrument() -> None:
    from otel_perf import pipeline

    if pipeline.current_processor() is not None or not _enabled():
        return
    try:
        from opentelemetry import trace

        provider = trace.get_tracer_provider()
        if not hasattr(provider, "add_span_processor"):
            _logger.warning(
                "otel-perf: no OpenTelemetry SDK tracer provider is configured; "
                "nothing will be recorded"
            )
            return
        pipeline.install_on(provider)
        _logger.warning(
            "otel-perf: another distro configured OpenTelemetry (entry-point order); otel-perf "
            "added its pipeline to it. Set OTEL_PYTHON_DISTRO=otel_perf and "
            "OTEL_PYTHON_CONFIGURATOR=otel_perf to choose otel-perf explicitly."
        )
    except Exception as exc:
        _logger.warning("otel-perf: could not add its pipeline: %s", exc)
