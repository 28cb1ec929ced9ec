"""Everything the operation span says about a document, computed once per distinct document.

The instrumentor calls ``operation_facts`` on every execution. Clients send the same few
documents again and again, so the signature, hashes, stripped text and complexity are kept
in a bounded cache keyed by (document source text, operation name, schema, configuration).

Complexity also depends on some variable values: those given to slicing arguments
(``books(first: $n)``) and to ``@skip``/``@include``. Leaving them out of the key would
serve a stale score (the first caller's ``$n``) to every later one; computing complexity
outside the cache would cost a full walk per execution (measured with
``python -m benchmarks.graphql_complexity``: a hit costs about 1-2 µs, ``analyze`` alone
7 µs for a 3-field document and ~150 µs for a 100-field one). So each entry holds the names of
the variables that matter (a superset, found syntactically once) and a small map from their
values to the finished facts. Documents without such variables, the common case, have one.

Bounds, as in ``sql_fingerprint``: two generations of ``CACHE_SIZE // 2`` documents (an
approximate LRU: a hit in the old generation is promoted), at most ``MAX_VALUE_SETS``
variable-value combinations per document (more are computed, not cached), and documents
longer than ``MAX_CACHED_CHARS`` are computed every time rather than crowd out the rest;
each generation also holds at most ``CACHE_CHARS // 2`` characters (source, signature and
stripped text), so the cache stays near 8 MB of text however large the documents (a few
hundred kB for a typical app). Documents without source text (built in code, parsed with
``no_location``) are computed every time. No lock: under the GIL dict operations are atomic
and racing misses compute the same value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLSchema

from processors.graphql.complexity import ComplexityConfig, analyze_operation, variables_that_matter
from processors.graphql.signature import (
    apollo_operation_id,
    choose_operation,
    query_hash,
    signature,
    stripped_document,
)

__all__ = ["OperationFacts", "cache_len", "clear_cache", "operation_facts"]

CACHE_SIZE = 1024
CACHE_CHARS = 8 * 1024 * 1024
MAX_CACHED_CHARS = 64 * 1024
MAX_VALUE_SETS = 16


@dataclass(frozen=True)
class OperationFacts:
    name: str | None
    type: str  # "query", "mutation" or "subscription"
    signature: str
    query_hash: str
    operation_id: str
    stripped_document: str
    complexity: int
    depth: int
    alias_count: int


class _Entry:
    """One document's facts: what does not depend on variables, and the rest by their values."""

    # No AST here: a parsed document weighs tens of times its text. The operation is found
    # again in the caller's document (the same text) when complexity must be computed.
    __slots__ = ("base", "names", "by_values")

    def __init__(self, base: dict, names: tuple[str, ...]) -> None:
        self.base = base
        self.names = names
        self.by_values: dict[tuple, OperationFacts] = {}


_young: dict[tuple, _Entry] = {}
_old: dict[tuple, _Entry] = {}
_young_chars = 0


def operation_facts(
    schema: GraphQLSchema | None,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    config: ComplexityConfig,
) -> OperationFacts | None:
    """The facts of the operation graphql-core will execute; None if there is none, or on
    anything unexpected (this runs inside the app's request and must never raise)."""
    try:
        if variables is not None and not isinstance(variables, Mapping):
            variables = None
        source = _source(document)
        if source is None or len(source) > MAX_CACHED_CHARS:
            entry = _entry(document, operation_name, config)
            return None if entry is None else _facts(entry, schema, document, variables, config)
        key = (source, operation_name, schema, config)
        entry = _young.get(key)
        if entry is None:
            entry = _miss(key, document, operation_name, config)
            if entry is None:
                return None
        return _with_values(entry, schema, document, variables, config)
    except Exception:
        return None


def _source(document: DocumentNode) -> str | None:
    loc = getattr(document, "loc", None)
    source = getattr(loc, "source", None)
    body = getattr(source, "body", None)
    return body if isinstance(body, str) else None


def _miss(key: tuple, document, operation_name, config) -> _Entry | None:
    global _young, _old, _young_chars
    entry = _old.get(key)
    if entry is None:
        entry = _entry(document, operation_name, config)
        if entry is None:
            return None
    # An entry holds its source (the key), signature and stripped text: about 3x the source.
    chars = 3 * len(key[0])
    if len(_young) >= CACHE_SIZE // 2 or _young_chars + chars > CACHE_CHARS // 2:
        _old, _young, _young_chars = _young, {}, 0
    _young[key] = entry
    _young_chars += chars
    return entry


def _entry(document: DocumentNode, operation_name: str | None, config) -> _Entry | None:
    if not isinstance(document, DocumentNode):
        return None
    operation = choose_operation(document, operation_name)
    if operation is None:
        return None
    name = operation.name.value if operation.name is not None else None
    text = signature(document, name)
    base = {
        "name": name,
        "type": operation.operation.value,
        "signature": text,
        "query_hash": query_hash(text),
        "operation_id": apollo_operation_id(name, text),
        "stripped_document": stripped_document(document, name),
    }
    return _Entry(base, variables_that_matter(document, operation, config))


def _with_values(entry: _Entry, schema, document, variables, config) -> OperationFacts:
    if variables is None or not entry.names:
        values: tuple = ()
    else:
        # With their types: 1, 1.0 and True are equal keys but not the same argument.
        values = tuple((type(v), v) for v in map(variables.get, entry.names))
    try:
        hit = entry.by_values.get(values)
    except TypeError:  # an unhashable value (a list given for $first): compute, don't cache
        return _facts(entry, schema, document, variables, config)
    if hit is None:
        hit = _facts(entry, schema, document, variables, config)
        if len(entry.by_values) < MAX_VALUE_SETS:
            entry.by_values[values] = hit
    return hit


def _facts(entry: _Entry, schema, document, variables, config) -> OperationFacts:
    operation = choose_operation(document, entry.base["name"])
    # Variables not sent are known to be absent (their definitions' defaults apply), unlike
    # during validation, where they are unknown.
    complexity = analyze_operation(schema, document, operation, variables or {}, config)
    return OperationFacts(
        **entry.base,
        complexity=complexity.score,
        depth=complexity.depth,
        alias_count=complexity.alias_count,
    )


def clear_cache() -> None:
    """Empty the cache (tests, benchmarks)."""
    global _young, _old, _young_chars
    _young, _old, _young_chars = {}, {}, 0


def cache_len() -> int:
    """Documents held now, both generations."""
    return len(_young) + len(_old)
