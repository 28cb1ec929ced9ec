"""Attribute names: the semantic conventions we read, and the ``perf.*`` facts we derive.

DB and HTTP attributes are mid-migration in the semantic conventions: spans may carry the old
names, the new ones, or both, so every reader tries both.
"""

# Read (semantic conventions, new name first).
DB_STATEMENT = ("db.query.text", "db.statement")
DB_SYSTEM = ("db.system.name", "db.system")
HTTP_METHOD = ("http.request.method", "http.method")
HTTP_STATUS = ("http.response.status_code", "http.status_code")
HTTP_ROUTE = "http.route"
URL_PATH = ("url.path", "http.target")
URL_FULL = ("url.full", "http.url")  # some servers (runserver) give only the full URL
GRAPHQL_OPERATION_NAME = "graphql.operation.name"
GRAPHQL_OPERATION_TYPE = "graphql.operation.type"
GRAPHQL_DOCUMENT = "graphql.document"
ENDUSER_PSEUDO_ID = "enduser.pseudo.id"
ENDUSER_ID = "enduser.id"

# Derived facts, folded into the local root span so every exporter shows them as tags.
ENDPOINT = "perf.endpoint"
DB_COUNT = "perf.db.count"
DB_TIME_MS = "perf.db.time_ms"
DB_SLOW_COUNT = "perf.db.slow_count"
DB_SLOWEST_MS = "perf.db.slowest_ms"
DB_SLOWEST_STATEMENT = "perf.db.slowest_statement"
DB_TOO_MANY = "perf.db.too_many"
N_PLUS_ONE = "perf.n_plus_one"
N_PLUS_ONE_COUNT = "perf.n_plus_one.count"
N_PLUS_ONE_STATEMENTS = "perf.n_plus_one.statements"
N_PLUS_ONE_FINGERPRINTS = "perf.n_plus_one.fingerprints"
N_PLUS_ONE_EXECUTIONS = "perf.n_plus_one.executions"
SLOW = "perf.slow"
VERY_SLOW = "perf.very_slow"
ERROR = "perf.error"
MEMORY_USAGE_MB = "perf.memory.usage_mb"
MEMORY_DELTA_MB = "perf.memory.delta_mb"
MEMORY_PEAK_MB = "perf.memory.peak_mb"
MEMORY_HIGH = "perf.memory.high"
CACHE_HITS = "perf.cache.hits"
CACHE_MISSES = "perf.cache.misses"
CACHE_TIME_MS = "perf.cache.time_ms"
TENANT = "perf.tenant"
OPERATION_KIND = "perf.operation.kind"
# Set by the graphql-core instrumentor on each operation span (parsing_ms marks the span).
GRAPHQL_QUERY_HASH = "perf.graphql.query_hash"
GRAPHQL_OPERATION_ID = "perf.graphql.operation_id"
GRAPHQL_COMPLEXITY = "perf.graphql.complexity"
GRAPHQL_DEPTH = "perf.graphql.depth"
GRAPHQL_ALIAS_COUNT = "perf.graphql.alias_count"
GRAPHQL_PARSING_MS = "perf.graphql.parsing_ms"
GRAPHQL_VALIDATION_MS = "perf.graphql.validation_ms"
GRAPHQL_EXECUTION_MS = "perf.graphql.execution_ms"
GRAPHQL_VARIABLES = "perf.graphql.variables"
GRAPHQL_ERROR_COUNT = "perf.graphql.error_count"

# (attribute, type, meaning) — the documented table (README is checked against it).
DERIVED = (
    (ENDPOINT, "string", '"METHOD /route", or "METHOD (unmatched)" when no route matched'),
    (DB_COUNT, "int", "DB statements the request executed (twin spans counted once)"),
    (DB_TIME_MS, "double", "total time in those statements, ms"),
    (DB_SLOW_COUNT, "int", "statements at or above OTEL_PERF_SLOW_DB_MS"),
    (DB_SLOWEST_MS, "double", "the slowest statement's duration, ms"),
    (DB_SLOWEST_STATEMENT, "string", "the slowest statement, literals replaced by ?"),
    (DB_TOO_MANY, "bool", "more statements than OTEL_PERF_MAX_QUERIES_PER_REQUEST"),
    (N_PLUS_ONE, "bool", "an N+1 was detected"),
    (N_PLUS_ONE_COUNT, "int", "number of N+1 findings (distinct fingerprints)"),
    (N_PLUS_ONE_STATEMENTS, "string[]", "each finding's normalized statement"),
    (N_PLUS_ONE_FINGERPRINTS, "string[]", "each finding's fingerprint (hex)"),
    (N_PLUS_ONE_EXECUTIONS, "int[]", "each finding's execution count"),
    (SLOW, "bool", "duration >= OTEL_PERF_SLOW_REQUEST_MS"),
    (VERY_SLOW, "bool", "duration >= OTEL_PERF_VERY_SLOW_REQUEST_MS"),
    (ERROR, "bool", "status >= 500 or an unhandled exception"),
    (MEMORY_USAGE_MB, "double", "process resident memory when the request ended, MiB"),
    (MEMORY_DELTA_MB, "double", "end minus start resident memory, MiB (may be negative)"),
    (MEMORY_PEAK_MB, "double", "peak resident memory growth during the request, MiB"),
    (MEMORY_HIGH, "bool", "memory delta >= OTEL_PERF_MEMORY_PER_REQUEST_MB"),
    (CACHE_HITS, "int", "cache reads that hit"),
    (CACHE_MISSES, "int", "cache reads that missed"),
    (CACHE_TIME_MS, "double", "time in cache calls, ms"),
    (GRAPHQL_QUERY_HASH, "string", "GraphQL operation: hash of its normalized signature"),
    (GRAPHQL_OPERATION_ID, "string", "GraphQL operation: Apollo-compatible operation id"),
    (GRAPHQL_COMPLEXITY, "int", "GraphQL operation: complexity score (docs/graphql.md)"),
    (GRAPHQL_DEPTH, "int", "GraphQL operation: deepest field nesting"),
    (GRAPHQL_ALIAS_COUNT, "int", "GraphQL operation: aliased fields"),
    (GRAPHQL_PARSING_MS, "double", "GraphQL operation: time parsing the document, ms"),
    (GRAPHQL_VALIDATION_MS, "double", "GraphQL operation: time validating it, ms"),
    (GRAPHQL_EXECUTION_MS, "double", "GraphQL operation: time executing it, ms"),
    (GRAPHQL_VARIABLES, "string", "GraphQL operation: variables as JSON, redacted by key"),
    (GRAPHQL_ERROR_COUNT, "int", "GraphQL operation: errors in its response"),
    (ENDUSER_PSEUDO_ID, "string", "the authenticated user's pseudonym (semantic convention)"),
    (TENANT, "string", "the tenant, from OTEL_PERF_TENANT_HEADER or OTEL_PERF_TENANT_ATTRIBUTE"),
)


def attribute_dict(span):
    """The span's attributes as a plain mapping, as cheaply as possible.

    The SDK's BoundedAttributes keeps a plain dict; reading it directly avoids a Mapping.get
    (which raises and catches a KeyError on every miss) per lookup on the hot path. Anything
    else falls back to the public ``span.attributes``."""
    attributes = getattr(span, "_attributes", None)
    raw = getattr(attributes, "_dict", None)
    if type(raw) is dict:
        return raw
    return span.attributes or _EMPTY


_EMPTY: dict = {}


def set_facts(span, facts: dict) -> None:
    """Add our derived facts to a still-open span, all at once.

    Our values are already valid attribute values (str, bool, int, float, tuples of them),
    so the SDK's per-value validation (about 0.6 us per attribute) is skipped when the span's
    attribute container is the SDK's and has room; otherwise the public API is used."""
    attributes = getattr(span, "_attributes", None)
    raw = getattr(attributes, "_dict", None)
    if (
        type(raw) is dict
        and getattr(attributes, "_immutable", True) is False
        and getattr(attributes, "max_value_len", 0) is None
        and (attributes.maxlen is None or len(raw) + len(facts) <= attributes.maxlen)
    ):
        with attributes._lock:
            raw.update(facts)
        return
    span.set_attributes(facts)


def first(attributes, names):
    """The first of ``names`` present in ``attributes`` (None when none is)."""
    for name in names:
        value = attributes.get(name)
        if value is not None:
            return value
    return None


def attributes_table_markdown() -> str:
    rows = ["| Attribute | Type | Meaning |", "|---|---|---|"]
    rows += [f"| `{name}` | {kind} | {meaning} |" for name, kind, meaning in DERIVED]
    return "\n".join(rows)
