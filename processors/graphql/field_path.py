"""The GraphQL field being resolved, as a context variable the span processor can read.

Set by the instrumentor around graphql-core's ``ExecutionContext.execute_field`` (which runs
the resolver *and* completes its value, so SQL from lazy QuerySets evaluated after the
resolver returns still lands inside it). The processor stores the raw ``Path`` object with
each DB observation (a pointer, no work on the hot path) and renders it only for the few
statements it reports. No graphql-core import here: the processor imports this module.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

current_path: ContextVar[Any] = ContextVar("otel_perf_graphql_field_path", default=None)


def path_string(path: Any) -> str | None:
    """``allCategories.ingredients`` from a graphql-core ``Path`` (list indices dropped)."""
    if path is None:
        return None
    keys = []
    try:
        while path is not None:
            if isinstance(path.key, str):
                keys.append(path.key)
            path = path.prev
    except AttributeError:
        return None
    return ".".join(reversed(keys)) or None
