"""Instrument Django once the app has configured it, never before.

``opentelemetry-instrument`` runs before the app's own code: under ``python manage.py
runserver`` DJANGO_SETTINGS_MODULE is set by manage.py *after* start-up, and pytest-django
takes it from pytest's configuration. The upstream instrumentor reads ``settings.MIDDLEWARE``
at instrument time and calls ``settings.configure()`` (empty settings!) when it cannot. So the
instrumentor's work is held back until ``django.setup()`` returns — every Django entry point
(manage.py, get_wsgi_application, get_asgi_application, pytest-django) calls it before it
builds the request handler that reads MIDDLEWARE.

The same step adds our request/response hooks (tenant header, user pseudonym) and reads the
optional ``OTEL_PERF`` dict from Django's settings.
"""

from __future__ import annotations

import functools
import logging

from otel_perf.settings import get_settings
from processors.attributes import ENDUSER_ID, ENDUSER_PSEUDO_ID, TENANT
from processors.pseudonym import pseudonymize

_logger = logging.getLogger("otel_perf")

_pending: list[tuple[object, dict]] = []
_state = {"installed": False, "key": None}


def _django_ready() -> bool:
    from django.apps import apps

    return apps.ready


def defer_django_instrumentation() -> None:
    if _state["installed"]:
        return
    try:
        import django
        from opentelemetry.instrumentation.django import DjangoInstrumentor
    except ImportError:
        return
    _state["installed"] = True
    original_instrument = DjangoInstrumentor._instrument

    def _instrument(self, **kwargs):
        kwargs["request_hook"] = _chain_request(kwargs.get("request_hook"))
        kwargs["response_hook"] = _chain_response(kwargs.get("response_hook"))
        if _django_ready():
            _configure_from_django()
            return original_instrument(self, **kwargs)
        _pending.append((self, kwargs))
        return None

    DjangoInstrumentor._instrument = _instrument
    original_setup = django.setup

    def setup(*args, **kwargs):
        original_setup(*args, **kwargs)
        _activate(original_instrument)

    setup.__wrapped__ = original_setup
    django.setup = setup


def _activate(original_instrument) -> None:
    if not _pending:
        return
    try:
        _configure_from_django()
    except Exception as exc:
        _logger.warning("otel-perf: could not read Django settings: %s", exc)
    while _pending:
        instrumentor, kwargs = _pending.pop()
        try:
            original_instrument(instrumentor, **kwargs)
        except Exception as exc:
            _logger.warning("otel-perf: instrumenting Django failed: %s", exc)


def _configure_from_django() -> None:
    from django.conf import settings as django_settings

    from otel_perf import pipeline
    from otel_perf.settings import load_settings
    from processors.pseudonym import derive_key

    options = getattr(django_settings, "OTEL_PERF", None) or {}
    settings = load_settings(django_options=options)
    pipeline.apply_settings(settings)
    secret = settings.pseudonym_key or getattr(django_settings, "SECRET_KEY", "") or ""
    _state["key"] = derive_key(secret) if secret else None


def _chain_request(user_hook):
    def request_hook(span, request):
        try:
            _record_tenant(span, request)
        except Exception:
            pass
        if user_hook is not None:
            user_hook(span, request)

    return request_hook


def _chain_response(user_hook):
    def response_hook(span, request, response):
        try:
            _record_user(span, request)
        except Exception:
            pass
        if user_hook is not None:
            user_hook(span, request, response)

    return response_hook


@functools.lru_cache(maxsize=8)
def _meta_key(header: str) -> str:
    """The WSGI ``request.META`` key of an HTTP header (``X-Tenant-ID`` -> ``HTTP_X_TENANT_ID``)."""
    return "HTTP_" + header.upper().replace("-", "_")


def _record_tenant(span, request) -> None:
    header = get_settings().tenant_header
    if not header or not span.is_recording():
        return
    value = request.META.get(_meta_key(header))
    if value:
        span.set_attribute(TENANT, value[:128])


def _record_user(span, request) -> None:
    """The user, only if this request already evaluated it: evaluating Django's lazy
    ``request.user`` ourselves would add session and user queries to the app's request."""
    mode = get_settings().user_ids
    if mode == "off" or not span.is_recording():
        return
    user = request.__dict__.get("user")
    if user is None:
        return
    wrapped = user.__dict__.get("_wrapped", user)
    if wrapped is _django_empty() or not getattr(wrapped, "is_authenticated", False):
        return
    user_id = wrapped.pk
    if mode == "raw":
        span.set_attribute(ENDUSER_ID, str(user_id))
    elif _state["key"] is not None:
        span.set_attribute(ENDUSER_PSEUDO_ID, pseudonymize(_state["key"], user_id))


def _django_empty():
    """Django's marker of a lazy object not evaluated yet (imported once: this module loads
    where Django may be missing, and the hooks run on every request)."""
    empty = _state.get("empty")
    if empty is None:
        from django.utils.functional import empty

        _state["empty"] = empty
    return empty
