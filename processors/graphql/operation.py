"""The operation span: one per GraphQL operation, from the start of parsing to the end of execution.

graphql-core has no hooks around parsing and validation, and every server calls its
``parse``, ``validate`` and ``execute`` functions one after the other. So the wrappers time
each call and hand the figures forward in a context variable: ``parse`` notes its start and
duration with the document it returned, ``validate`` adds its duration for that same document,
and ``execute`` starts the operation span back-dated to the start of parsing, makes it current
while resolvers run (so DB and cache spans land inside it), and ends it when execution
finishes. A document that fails to parse or validate still gets its (errored) span.
Servers that cache parsed documents skip ``parse``: their parsing_ms is 0, truthfully.

The three phases tile the span: parsing runs from its start to the end of ``parse``,
validation from there to the end of ``validate``, execution from there to the end. So they
add up to the operation's duration exactly, and the server's own steps between the calls
(and otel-perf's analysis of a document it has not seen before) count in the phase they
precede — as in Apollo's tracing, where execution is everything after validation.

When otel-perf's store is the trace's only reader (no exporter), the operation is a record
kept by the processor rather than an SDK span (``processors/operation_record.py``): the same
fields, a fraction of the cost; the root then stays current while resolvers run.

Every wrapper calls the original unchanged and lets its exceptions through; our own work is
guarded so it can never break the query.
"""

from __future__ import annotations

import inspect
import logging
import time
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from processors import attributes as A
from processors.graphql.field_path import current_path, path_string
from processors.graphql.variables import variables_json
from processors.perf_processor import store_operation

_logger = logging.getLogger("otel_perf")
_NS_PER_MS = 1_000_000.0


class _Pending:
    """What parse and validate learnt about a document that is about to be executed."""

    __slots__ = ("document", "start_ns", "parsed_ns", "validated_ns")

    def __init__(self, document: Any, start_ns: int, parsed_ns: int) -> None:
        self.document = document
        self.start_ns = start_ns  # wall clock (ns) when parsing started
        self.parsed_ns = parsed_ns  # ... when parsing ended
        self.validated_ns = parsed_ns  # ... when the last validation of it ended


_pending: ContextVar[_Pending | None] = ContextVar("otel_perf_graphql_pending", default=None)


class OperationTracer:
    """Holds the tracer and the settings-derived configuration the wrappers share."""

    def __init__(self, tracer: trace.Tracer, settings) -> None:
        from processors.graphql.complexity import ComplexityConfig

        self.tracer = tracer
        self.settings = settings
        self.config = ComplexityConfig.from_settings(settings)
        self._rule = None
        self.internal_errors = 0
        self.resolver_spans = settings.graphql_resolver_spans

    # -- parse -------------------------------------------------------------------------------
    def parse(self, original, source, *args, **kwargs):
        start_ns = time.time_ns()
        try:
            document = original(source, *args, **kwargs)
        except Exception as exc:
            end_ns = time.time_ns()
            self._failed(start_ns, end_ns, end_ns, exc)
            raise
        try:
            _pending.set(_Pending(document, start_ns, time.time_ns()))
        except Exception:
            self.internal_errors += 1
        return document

    # -- validate ----------------------------------------------------------------------------
    def validate(self, original, schema, document_ast, rules=None, *args, **kwargs):
        if self.settings.graphql_enforce_complexity:
            rules = self._with_complexity_rule(rules)
        start_ns = time.time_ns()
        errors = original(schema, document_ast, rules, *args, **kwargs)
        end_ns = time.time_ns()
        try:
            pending = _pending.get()
            if pending is not None and pending.document is document_ast:
                pending.validated_ns = end_ns
                if errors:
                    _pending.set(None)
                    self._failed(
                        pending.start_ns,
                        pending.parsed_ns,
                        end_ns,
                        None,
                        errors,
                        schema,
                        document_ast,
                    )
            elif errors:
                self._failed(start_ns, start_ns, end_ns, None, errors, schema, document_ast)
        except Exception:
            self.internal_errors += 1
        return errors

    def _with_complexity_rule(self, rules):
        from graphql.validation import specified_rules

        from processors.graphql.enforcement import max_complexity_rule

        if self._rule is None:
            self._rule = max_complexity_rule(self.config)
        rules = tuple(specified_rules if rules is None else rules)
        return rules if self._rule in rules else (*rules, self._rule)

    # -- execute -----------------------------------------------------------------------------
    def execute(self, original, schema, document, *args, **kwargs):
        try:
            span, token, executing_since = self._start(schema, document, args, kwargs)
        except Exception:
            self.internal_errors += 1
            return original(schema, document, *args, **kwargs)
        try:
            result = original(schema, document, *args, **kwargs)
        except BaseException as exc:
            if token is not None:
                otel_context.detach(token)
            self._finish(span, executing_since, None, exc)
            raise
        if token is not None:
            otel_context.detach(token)
        if inspect.isawaitable(result):
            return self._finish_later(span, executing_since, result)
        self._finish(span, executing_since, result, None)
        return result

    async def _finish_later(self, span, executing_since: int, awaitable):
        # Resolvers awaited here run in this task: the span is current for them (a record
        # never is: its trace's root stays current).
        is_span = isinstance(span, trace.Span)
        token = otel_context.attach(trace.set_span_in_context(span)) if is_span else None
        try:
            result = await awaitable
        except BaseException as exc:
            if token is not None:
                otel_context.detach(token)
            self._finish(span, executing_since, None, exc)
            raise
        if token is not None:
            otel_context.detach(token)
        self._finish(span, executing_since, result, None)
        return result

    def _start(self, schema, document, args, kwargs):
        pending = _pending.get()
        if pending is not None and pending.document is document:
            _pending.set(None)
            start_ns, parsed_ns, validated_ns = (
                pending.start_ns,
                pending.parsed_ns,
                pending.validated_ns,
            )
        else:  # parsed and validated elsewhere (a server's document cache): not timed here
            start_ns = parsed_ns = validated_ns = time.time_ns()
        variables = _argument(args, kwargs, 2, "variable_values")
        operation_name = _argument(args, kwargs, 3, "operation_name")
        attributes = self._operation_attributes(schema, document, operation_name, variables)
        attributes[A.GRAPHQL_PARSING_MS] = (parsed_ns - start_ns) / _NS_PER_MS
        attributes[A.GRAPHQL_VALIDATION_MS] = (validated_ns - parsed_ns) / _NS_PER_MS
        name = _span_name(attributes)
        # Variables only where the document's facts are known, as the other attributes.
        variables = variables if A.GRAPHQL_OPERATION_TYPE in attributes else None
        # When only the store reads this trace: a record, not a span (operation_record.py).
        local = store_operation(self.tracer, trace.get_current_span(), name, start_ns, attributes)
        if local is not None:
            local.record.variables = variables  # redacted by the store writer, off this thread
            return local, None, validated_ns
        if variables:
            attributes[A.GRAPHQL_VARIABLES] = variables_json(
                variables, self.settings.redact_variables
            )
        span = self.tracer.start_span(name, start_time=start_ns, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        return span, token, validated_ns

    def _operation_attributes(self, schema, document, operation_name, variables) -> dict:
        from processors.graphql.document_facts import operation_facts

        attributes: dict[str, Any] = {}
        facts = operation_facts(schema, document, operation_name, variables, self.config)
        if facts is None:
            if operation_name:
                attributes[A.GRAPHQL_OPERATION_NAME] = operation_name
            return attributes
        if facts.name:
            attributes[A.GRAPHQL_OPERATION_NAME] = facts.name
        attributes[A.GRAPHQL_OPERATION_TYPE] = facts.type
        attributes[A.GRAPHQL_DOCUMENT] = facts.stripped_document
        attributes[A.GRAPHQL_QUERY_HASH] = facts.query_hash
        attributes[A.GRAPHQL_OPERATION_ID] = facts.operation_id
        attributes[A.GRAPHQL_COMPLEXITY] = facts.complexity
        attributes[A.GRAPHQL_DEPTH] = facts.depth
        attributes[A.GRAPHQL_ALIAS_COUNT] = facts.alias_count
        return attributes

    def _finish(self, span, executing_since: int, result, exc: BaseException | None) -> None:
        end_ns = time.time_ns()
        try:
            span.set_attribute(A.GRAPHQL_EXECUTION_MS, (end_ns - executing_since) / _NS_PER_MS)
            errors = getattr(result, "errors", None) if result is not None else None
            if exc is not None:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.set_attribute(A.GRAPHQL_ERROR_COUNT, 1)
            elif errors:
                span.set_attribute(A.GRAPHQL_ERROR_COUNT, len(errors))
                span.set_status(Status(StatusCode.ERROR, "GraphQL errors"))
        except Exception:
            self.internal_errors += 1
        span.end(end_time=end_ns)

    def _failed(
        self,
        start_ns: int,
        parsed_ns: int,
        end_ns: int,
        exc: BaseException | None,
        errors=None,
        schema=None,
        document=None,
    ) -> None:
        """A span for an operation that never executed (syntax or validation errors)."""
        try:
            attributes: dict[str, Any] = {
                A.GRAPHQL_PARSING_MS: (parsed_ns - start_ns) / _NS_PER_MS,
                A.GRAPHQL_VALIDATION_MS: (end_ns - parsed_ns) / _NS_PER_MS,
                A.GRAPHQL_EXECUTION_MS: 0.0,
                A.GRAPHQL_ERROR_COUNT: len(errors) if errors else 1,
            }
            if document is not None:
                attributes.update(self._operation_attributes(schema, document, None, None))
            span = self.tracer.start_span(
                _span_name(attributes), start_time=start_ns, attributes=attributes
            )
            if exc is not None:
                span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, "GraphQL errors"))
            span.end(end_time=end_ns)
        except Exception:
            self.internal_errors += 1

    # -- execute_field -----------------------------------------------------------------------
    def execute_field(self, original, context, parent_type, source, field_nodes, path, *rest):
        """Opt-in (OTEL_PERF_GRAPHQL_RESOLVER_SPANS): one span per resolved field. Without
        it, the instrumentor's inlined wrapper only sets the field path."""
        first = field_nodes[0]
        field = getattr(first, "node", first).name.value  # 3.3 passes FieldDetails
        span = self.tracer.start_span(
            f"resolve {parent_type.name}.{field}",
            attributes={"graphql.field.name": field, "graphql.field.path": str(path_string(path))},
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        path_token = current_path.set(path)
        try:
            result = original(context, parent_type, source, field_nodes, path, *rest)
        except BaseException:
            span.end()
            raise
        finally:
            current_path.reset(path_token)
            otel_context.detach(token)
        if context.is_awaitable(result):
            return _in_span(span, path, result)
        span.end()
        return result


async def _in_span(span, path, awaitable):
    token = otel_context.attach(trace.set_span_in_context(span))
    path_token = current_path.set(path)
    try:
        return await awaitable
    finally:
        current_path.reset(path_token)
        otel_context.detach(token)
        span.end()


async def with_path(path, awaitable):
    # An async field completes after execute_field returned: keep its path current for it.
    token = current_path.set(path)
    try:
        return await awaitable
    finally:
        current_path.reset(token)


def _argument(args: tuple, kwargs: dict, index: int, name: str):
    """``execute(schema, document, root_value, context_value, variable_values, ...)``."""
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else None


def _span_name(attributes: dict) -> str:
    # Semantic conventions: "{graphql.operation.type} {graphql.operation.name}", falling back
    # to the type alone, or "GraphQL Operation" when the type is unknown.
    kind = attributes.get(A.GRAPHQL_OPERATION_TYPE)
    if not kind:
        return "GraphQL Operation"
    name = attributes.get(A.GRAPHQL_OPERATION_NAME)
    return f"{kind} {name}" if name else kind
