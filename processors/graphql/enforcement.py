"""Reject operations over the maximum complexity, as a graphql-core validation rule.

Validation runs before execution, so an operation the rule reports fails as a whole and no
resolver runs. Every Python server built on graphql-core accepts extra rules (see
``docs/graphql.md``), and the instrumentor adds this one itself when
``OTEL_PERF_GRAPHQL_ENFORCE_COMPLEXITY`` is true.

Variables are not known at validation time (graphql-core's ``validate`` does not get them),
so a slicing argument given as a variable counts as ``default_list_size``: a client can
therefore ask for ``books(first: $n)`` with a large ``$n`` and pass. Servers that can build
rules per request (Ariadne) can pass the request's variables to ``max_complexity_rule`` and
close that gap; elsewhere, cap page sizes in the resolvers too (graphene-django's
``RELAY_CONNECTION_MAX_LIMIT``, for instance).

If the analysis itself fails (a document nested deeper than Python's recursion limit), the
rule reports nothing and leaves the decision to the other rules: it must never turn a
request the app would serve into a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, ValidationRule

from processors.graphql.complexity import ComplexityConfig, analyze_operation

__all__ = ["QUERY_TOO_COMPLEX", "max_complexity_rule"]

QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"


def max_complexity_rule(
    config: ComplexityConfig, variables: Mapping[str, Any] | None = None
) -> type[ValidationRule]:
    """A validation rule reporting each operation whose complexity exceeds the maximum.

    ``variables``: the request's variables when the server builds rules per request;
    None (the default) counts variable slicing arguments as ``default_list_size``.
    """

    class MaxComplexityRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any):
            context = self.context
            try:
                result = analyze_operation(
                    context.schema, context.document, node, variables, config
                )
            except Exception:
                return self.SKIP
            if result.score > config.max_complexity:
                context.report_error(
                    GraphQLError(
                        f"Query complexity {result.score} exceeds the maximum of "
                        f"{config.max_complexity}",
                        node,
                        extensions={
                            "code": QUERY_TOO_COMPLEX,
                            "complexity": result.score,
                            "max_complexity": config.max_complexity,
                        },
                    )
                )
            # The analysis walked the operation already: nothing more to visit for this rule.
            return self.SKIP

    return MaxComplexityRule
