"""OpenTelemetry instrumentation for every GraphQL server built on graphql-core.

Graphene/graphene-django, Strawberry and Ariadne all call graphql-core's ``parse``,
``validate`` and ``execute`` functions, each imported by name into the server's own module.
So the functions are replaced where graphql-core defines and re-exports them (servers
imported afterwards bind the wrappers; ``opentelemetry-instrument`` runs instrumentors before
the app is imported) and in any already-imported module that holds the original; graphql-core
3.3's ``graphql()``/``graphql_sync()`` reach them through ``default_harness``, replaced too. Field
paths come from ``ExecutionContext.execute_field``, which Strawberry's and graphene's
execution contexts inherit.

    GraphQLCoreInstrumentor().instrument(tracer_provider=provider)

Attributes: ``graphql.operation.name``, ``graphql.operation.type``, ``graphql.document``
(literal values hidden), and the ``perf.graphql.*`` facts (README's attribute table).
"""

from __future__ import annotations

import functools
import logging
import sys
import types
from collections.abc import Collection

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from otel_perf.settings import get_settings
from otel_perf.version import __version__

_logger = logging.getLogger("otel_perf")

# (defining module, function name, modules that re-export it by name)
_FUNCTIONS = (
    ("graphql.language.parser", "parse", ("graphql.language", "graphql", "graphql.graphql")),
    (
        "graphql.validation.validate",
        "validate",
        ("graphql.validation", "graphql", "graphql.graphql"),
    ),
    ("graphql.execution.execute", "execute", ("graphql.execution", "graphql", "graphql.graphql")),
)


class GraphQLCoreInstrumentor(BaseInstrumentor):
    def __init__(self) -> None:
        super().__init__()
        # BaseInstrumentor is a singleton and __init__ runs on every construction: keep what
        # an earlier construction patched, or uninstrument() would restore nothing.
        if not hasattr(self, "_patched"):
            self._patched: list[tuple[object, str, object]] = []
            self.operations = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("graphql-core >= 3.2",)

    def _instrument(self, **kwargs) -> None:
        from processors.graphql.operation import OperationTracer

        provider = kwargs.get("tracer_provider")
        tracer = trace.get_tracer(__name__, __version__, tracer_provider=provider)
        operations = self.operations = OperationTracer(
            tracer, kwargs.get("settings") or get_settings()
        )
        handlers = {
            "parse": operations.parse,
            "validate": operations.validate,
            "execute": operations.execute,
        }
        wrapped: dict[str, tuple[object, object]] = {}  # name -> (original, wrapper)
        for module_name, name, exporters in _FUNCTIONS:
            module = sys.modules.get(module_name) or __import__(module_name, fromlist=[name])
            original = getattr(module, name)
            wrapper = _wrap(original, handlers[name])
            wrapped[name] = (original, wrapper)
            self._replace(module, name, original, wrapper)
            for exporter in exporters:
                target = sys.modules.get(exporter)
                if target is not None and getattr(target, name, None) is original:
                    self._replace(target, name, original, wrapper)
            # Servers imported before us bound the original by name: rebind theirs too.
            for target in list(sys.modules.values()):
                if getattr(target, name, None) is original and _is_module(target):
                    self._replace(target, name, original, wrapper)
        self._patch_harness(wrapped)
        executor = _executor_class()
        original_field = executor.execute_field
        self._replace(
            executor,
            "execute_field",
            original_field,
            _wrap_method(original_field, operations),
        )

    def _patch_harness(self, wrapped: dict[str, tuple[object, object]]) -> None:
        """graphql-core 3.3's ``graphql()`` and ``graphql_sync()`` call parse, validate and
        execute through ``default_harness``, a NamedTuple of the functions taken when
        graphql-core was imported and bound as those functions' default argument: rebinding
        the module attributes alone leaves them uninstrumented. So a harness of the wrappers
        replaces it, as a module attribute and as a default value. (3.2 has no harness.)"""
        harness_module = sys.modules.get("graphql.harness")
        if harness_module is None:
            try:
                import graphql.harness as harness_module
            except ImportError:
                return
        original = getattr(harness_module, "default_harness", None)
        if original is None or not hasattr(original, "_replace"):
            return
        changes = {
            name: wrapper
            for name, (function, wrapper) in wrapped.items()
            if getattr(original, name, None) is function
        }
        if not changes:
            return
        harness = original._replace(**changes)
        for target in list(sys.modules.values()):
            if _is_module(target) and getattr(target, "default_harness", None) is original:
                self._replace(target, "default_harness", original, harness)
        for module_name in ("graphql.graphql", "graphql"):
            module = sys.modules.get(module_name)
            for function in vars(module).values() if module is not None else ():
                if isinstance(function, types.FunctionType):
                    self._replace_default(function, original, harness)

    def _replace_default(self, function, old, new) -> None:
        defaults = getattr(function, "__defaults__", None)
        if defaults and any(value is old for value in defaults):
            changed = tuple(new if value is old else value for value in defaults)
            self._replace(function, "__defaults__", defaults, changed)
        kwdefaults = getattr(function, "__kwdefaults__", None)
        if kwdefaults and any(value is old for value in kwdefaults.values()):
            changed = {k: new if value is old else value for k, value in kwdefaults.items()}
            self._replace(function, "__kwdefaults__", kwdefaults, changed)

    def _replace(self, target, name: str, original, wrapper) -> None:
        setattr(target, name, wrapper)
        self._patched.append((target, name, original))

    def _uninstrument(self, **kwargs) -> None:
        for target, name, original in reversed(self._patched):
            setattr(target, name, original)
        self._patched.clear()
        self.operations = None


def _executor_class():
    """The class whose ``execute_field`` resolves each field: graphql-core 3.2's
    ExecutionContext, 3.3's Executor (servers' own execution contexts inherit it)."""
    try:
        from graphql.execution.executor import Executor

        return Executor
    except ImportError:
        from graphql.execution.execute import ExecutionContext

        return ExecutionContext


def _is_module(value) -> bool:
    return type(value).__name__ == "module"


def _wrap(original, handler):
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        return handler(original, *args, **kwargs)

    wrapper.__wrapped_by_otel_perf__ = True
    return wrapper


def _wrap_method(original, operations):
    """``execute_field`` runs once per resolved field: the common case is inlined here (one
    frame, a context-variable set and reset); resolver spans take the slower path."""
    from processors.graphql.field_path import current_path
    from processors.graphql.operation import with_path

    set_path, reset_path = current_path.set, current_path.reset

    # graphql-core 3.3 passes one more argument (position_context): carried through as *rest.
    @functools.wraps(original)
    def execute_field(self, parent_type, source, field_nodes, path, *rest):
        if operations.resolver_spans:
            return operations.execute_field(
                original, self, parent_type, source, field_nodes, path, *rest
            )
        token = set_path(path)
        try:
            result = original(self, parent_type, source, field_nodes, path, *rest)
        finally:
            reset_path(token)
        if self.is_awaitable(result):
            return with_path(path, result)
        return result

    return execute_field
