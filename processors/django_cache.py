"""Django cache instrumentation: hits, misses and time of every cache call, folded into the request.

    DjangoCacheInstrumentor().instrument(tracer_provider=provider)

Each outermost call on any ``BaseCache`` subclass (local memory, Redis, DB, file, memcached,
custom backends) reports ``cache_events.record(hits, misses, duration_ns)``; the processor adds
the figures to the current local trace (``perf.cache.*`` on the root, ``cache_*`` columns).

Where we patch: the methods each class *defines itself* (``cls.__dict__``), on ``BaseCache``
and every subclass — those that exist at instrument time and, through a
``BaseCache.__init_subclass__`` hook, those created later (backends are imported lazily by
``CacheHandler.create_connection``, after ``opentelemetry-instrument`` ran). Class level and
once, so a call costs the same whichever instance or alias it goes through, caches built
directly (``LocMemCache(...)``) are covered too, and ``_uninstrument`` restores an exact list.
Inherited and overriding methods are both wrapped; the reentrancy guard below keeps only the
outermost call (``BaseCache.get_many`` calls ``get`` per key, ``aget`` runs ``get`` in a thread
through ``sync_to_async``, a subclass's ``get`` calls ``super().get``).

Semantics (docs/cache.md): ``get`` hit = key present (a private sentinel is passed as the
default so a stored ``None`` is a hit); ``get_many`` hits = keys found, misses = the others;
``get_or_set`` and ``has_key`` hit or miss once; writes count 0/0 but their time counts.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import time
from collections.abc import Collection

from opentelemetry import context, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.semconv.attributes.db_attributes import DB_OPERATION_NAME, DB_SYSTEM_NAME
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import SpanKind

from otel_perf.settings import get_settings
from otel_perf.version import __version__
from processors import cache_events

_logger = logging.getLogger("otel_perf")

_GET, _GET_MANY, _GET_OR_SET, _HAS_KEY, _WRITE = "get", "get_many", "get_or_set", "has_key", "w"
_READS = {"get": _GET, "get_many": _GET_MANY, "get_or_set": _GET_OR_SET, "has_key": _HAS_KEY}
_WRITES = (
    "set",
    "add",
    "set_many",
    "delete",
    "delete_many",
    "touch",
    "incr",
    "decr",
    "incr_version",
    "decr_version",
    "clear",
)
# method name -> (span/operation name, kind); every method has its async twin ``a<name>``.
_METHODS: dict[str, tuple[str, str]] = {}
for _name, _kind in (*_READS.items(), *((w, _WRITE) for w in _WRITES)):
    _METHODS[_name] = (_name, _kind)
    _METHODS["a" + _name] = (_name, _kind)

_MARK = "__otel_perf_cache__"
_MISSING = object()  # "no such key": never equal to anything a cache stores
# True while an instrumented cache call runs in this context (thread or task); inner calls
# then pass straight through. A ContextVar, not a thread-local: ``sync_to_async`` copies the
# context into its worker thread, so ``aget``'s inner ``get`` sees it.
_inside = contextvars.ContextVar("otel_perf_cache_call", default=False)
_tracer: trace.Tracer | None = None
# Span attribute values of the backends that have a well-known ``db.system.name``.
_SYSTEMS = {"RedisCache": "redis", "PyMemcacheCache": "memcached", "PyLibMCCache": "memcached"}


class DjangoCacheInstrumentor(BaseInstrumentor):
    def __init__(self) -> None:
        super().__init__()
        # BaseInstrumentor is a singleton and __init__ runs on every construction: keep what
        # an earlier construction patched, or uninstrument() would restore nothing.
        if not hasattr(self, "_patched"):
            self._patched: list[tuple[type, str, object]] = []
            self._base: type | None = None
            self._hook_original: object = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("django >= 4.2",)

    def _instrument(self, **kwargs) -> None:
        global _tracer
        # opentelemetry-instrument checks otel-perf's own requirements, not Django: an app
        # without Django reaches this point, and an exception here would stop its start-up.
        try:
            from django.core.cache.backends.base import BaseCache
        except ImportError as exc:
            _logger.debug("otel-perf: no Django cache to instrument: %s", exc)
            return
        try:
            _tracer = trace.get_tracer(__name__, __version__, kwargs.get("tracer_provider"))
            self._base = BaseCache
            pending = [BaseCache]
            while pending:
                cls = pending.pop()
                self._patch_class(cls)
                pending.extend(cls.__subclasses__())
            self._hook_subclasses(BaseCache)
        except Exception as exc:  # never break the host app: leave the cache as it was
            _logger.warning("otel-perf: Django cache not instrumented: %s", exc)
            self._uninstrument()

    def _uninstrument(self, **kwargs) -> None:
        global _tracer
        base = self._base
        if base is not None:
            if self._hook_original is not None:
                base.__init_subclass__ = self._hook_original
            elif "__init_subclass__" in base.__dict__:
                del base.__init_subclass__
        for cls, name, original in reversed(self._patched):
            setattr(cls, name, original)
        self._patched.clear()
        self._base = self._hook_original = _tracer = None

    def _patch_class(self, cls: type) -> None:
        for name, (operation, kind) in _METHODS.items():
            original = cls.__dict__.get(name)
            # Only plain functions: a wrapper of ours (an alias of a patched method) or a
            # staticmethod/descriptor is left as it is.
            if not inspect.isfunction(original) or getattr(original, _MARK, False):
                continue
            if inspect.iscoroutinefunction(original):
                wrapper = _wrap_async(original, operation, kind)
            else:
                wrapper = _wrap_sync(original, operation, kind)
            setattr(cls, name, wrapper)
            self._patched.append((cls, name, original))

    def _hook_subclasses(self, base: type) -> None:
        """Patch each BaseCache subclass when its class statement runs (lazy backend imports)."""
        previous = base.__dict__.get("__init_subclass__")
        self._hook_original = previous
        patch = self._patch_class

        def __init_subclass__(cls, **kwargs):
            if previous is not None:
                previous.__get__(None, cls)(**kwargs)
            else:
                super(base, cls).__init_subclass__(**kwargs)
            try:
                patch(cls)
            except Exception as exc:  # never break the app's import
                _logger.warning("otel-perf: cache class %r not instrumented: %s", cls, exc)

        base.__init_subclass__ = classmethod(__init_subclass__)


# -- per call -----------------------------------------------------------------------------------
class _Probe:
    """``get_or_set``'s default, replaced: Django calls a callable default only on a miss."""

    __slots__ = ("default", "missed")

    def __init__(self, default) -> None:
        self.default = default
        self.missed = False

    def __call__(self):
        self.missed = True
        default = self.default
        return default() if callable(default) else default


def _prepare(kind: str, args: tuple, kwargs: dict):
    """The call's arguments with our probe in place, and what ``_outcome`` needs to judge it."""
    if kind is _GET:
        if "default" in kwargs:
            state = kwargs["default"]
            kwargs = {**kwargs, "default": _MISSING}
        elif len(args) >= 2:
            state = args[1]
            args = (args[0], _MISSING, *args[2:])
        elif args:
            state, args = None, (args[0], _MISSING)
        else:
            state, kwargs = None, {**kwargs, "default": _MISSING}
        return args, kwargs, state
    if kind is _GET_MANY:
        keys = args[0] if args else kwargs.get("keys", ())
        if not isinstance(keys, Collection):  # a generator: read it once, pass the list on
            keys = list(keys)
            args, kwargs = ((keys, *args[1:]), kwargs) if args else (args, {**kwargs, "keys": keys})
        return args, kwargs, keys
    if kind is _GET_OR_SET:
        if "default" in kwargs:
            probe = _Probe(kwargs["default"])
            kwargs = {**kwargs, "default": probe}
        elif len(args) >= 2:
            probe = _Probe(args[1])
            args = (args[0], probe, *args[2:])
        else:
            return args, kwargs, None  # a call Django itself would reject: leave it alone
        return args, kwargs, probe
    return args, kwargs, None


def _outcome(kind: str, result, state):
    """(value to return, hits, misses)."""
    if kind is _GET:
        return (state, 0, 1) if result is _MISSING else (result, 1, 0)
    if kind is _GET_MANY:
        try:
            wanted = len(set(state))  # a key asked twice is one key
        except Exception:  # unhashable keys: the backend will have said so already
            return result, 0, 0
        found = len(result) if isinstance(result, dict) else 0
        return result, found, max(wanted - found, 0)
    if kind is _GET_OR_SET:
        if state is None:
            return result, 0, 0
        return (result, 0, 1) if state.missed else (result, 1, 0)
    if kind is _HAS_KEY:
        return (result, 1, 0) if result else (result, 0, 1)
    return result, 0, 0


def _start_span(operation: str, kind: str, backend):
    """A span for this call when OTEL_PERF_CACHE_SPANS is on and a trace is being recorded."""
    tracer = _tracer
    if tracer is None or not get_settings().cache_spans:
        return None
    if not trace.get_current_span().is_recording():
        return None  # a cache call outside any trace would make a root of its own
    cls = type(backend)
    attributes = {DB_OPERATION_NAME: operation, "perf.cache.backend": cls.__name__}
    for klass in cls.__mro__:  # a custom subclass of RedisCache is still Redis
        system = _SYSTEMS.get(klass.__name__)
        if system is not None:
            attributes[DB_SYSTEM_NAME] = system
            break
    span = tracer.start_span("cache " + operation, kind=SpanKind.INTERNAL, attributes=attributes)
    # Current while the call runs, so a Redis/DB client span made inside nests under it.
    return span, context.attach(trace.set_span_in_context(span))


def _finish(span_scope, kind: str, hits: int, misses: int, elapsed: int, error=None) -> None:
    cache_events.record(hits, misses, elapsed)
    if span_scope is None:
        return
    span, token = span_scope
    try:
        if error is not None:
            span.record_exception(error)
            span.set_status(trace.StatusCode.ERROR, type(error).__name__)
            span.set_attribute(ERROR_TYPE, type(error).__qualname__)
        elif kind is _GET_MANY:
            span.set_attribute("perf.cache.keys", hits + misses)
            span.set_attribute("perf.cache.keys_found", hits)
        elif kind is not _WRITE:
            span.set_attribute("perf.cache.hit", hits > 0)
    except Exception:  # never break the host app
        pass
    try:
        context.detach(token)
        span.end()
    except Exception:
        pass


def _begin(operation: str, kind: str, self, args: tuple, kwargs: dict):
    """Our work before the call; None when it failed (the call then runs as it came)."""
    try:
        call_args, call_kwargs, state = _prepare(kind, args, kwargs)
        return call_args, call_kwargs, state, _start_span(operation, kind, self)
    except Exception:
        return None


def _wrap_sync(original, operation: str, kind: str):
    @functools.wraps(original)
    def wrapper(self, *args, **kwargs):
        if _inside.get():
            return original(self, *args, **kwargs)
        token = _inside.set(True)
        try:
            begun = _begin(operation, kind, self, args, kwargs)
            if begun is None:
                return original(self, *args, **kwargs)
            call_args, call_kwargs, state, span_scope = begun
            start = time.perf_counter_ns()
            try:
                result = original(self, *call_args, **call_kwargs)
            except BaseException as exc:
                _finish(span_scope, kind, 0, 0, time.perf_counter_ns() - start, exc)
                raise
            elapsed = time.perf_counter_ns() - start
            result, hits, misses = _outcome(kind, result, state)
            _finish(span_scope, kind, hits, misses, elapsed)
            return result
        finally:
            _inside.reset(token)

    setattr(wrapper, _MARK, True)
    return wrapper


def _wrap_async(original, operation: str, kind: str):
    @functools.wraps(original)
    async def wrapper(self, *args, **kwargs):
        if _inside.get():
            return await original(self, *args, **kwargs)
        token = _inside.set(True)
        try:
            begun = _begin(operation, kind, self, args, kwargs)
            if begun is None:
                return await original(self, *args, **kwargs)
            call_args, call_kwargs, state, span_scope = begun
            start = time.perf_counter_ns()
            try:
                result = await original(self, *call_args, **call_kwargs)
            except BaseException as exc:
                _finish(span_scope, kind, 0, 0, time.perf_counter_ns() - start, exc)
                raise
            elapsed = time.perf_counter_ns() - start
            result, hits, misses = _outcome(kind, result, state)
            _finish(span_scope, kind, hits, misses, elapsed)
            return result
        finally:
            _inside.reset(token)

    setattr(wrapper, _MARK, True)
    return wrapper
