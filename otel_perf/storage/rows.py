"""Turning finished roots (span + folded facts) into columns for the store's tables.

Runs on the writer's background thread, never on the request path. Columns are built as
Python lists and handed to DuckDB as Arrow tables: one ``INSERT ... SELECT`` per table per
batch (``executemany`` runs about 1k rows/s and is never used).
"""

from __future__ import annotations

import pyarrow as pa

from otel_perf.storage import schema
from processors import attributes as A
from processors.facts import endpoint_key, request_path, suggestion
from processors.root_fold import operation_attributes, root_attributes

_NS_PER_MS = 1_000_000.0

_ARROW_TYPES = {
    "TIMESTAMP": pa.timestamp("us"),
    "BLOB": pa.binary(),
    "UBIGINT": pa.uint64(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "SMALLINT": pa.int16(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "VARCHAR": pa.string(),
}

ARROW_SCHEMAS = {
    table: pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in columns])
    for table, columns in schema.TABLES.items()
}


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


class Columns:
    """Column lists for one table, appended row by row, emitted as one Arrow table."""

    __slots__ = ("table", "names", "data")

    def __init__(self, table: str) -> None:
        self.table = table
        self.names = [name for name, _ in schema.TABLES[table]]
        self.data: dict[str, list] = {name: [] for name in self.names}

    def add(self, row: dict) -> None:
        for name in self.names:
            self.data[name].append(row.get(name))

    def __len__(self) -> int:
        return len(self.data[self.names[0]])

    def to_arrow(self) -> pa.Table:
        return pa.table(self.data, schema=ARROW_SCHEMAS[self.table])


class ResourceInfo:
    """Service identity from the OTel resource; the same for every span of a process."""

    def __init__(self, resource_attributes) -> None:
        get = resource_attributes.get
        self.service_name = get("service.name") or "unknown_service"
        self.service_instance = get("service.instance.id")
        self.service_version = get("service.version")
        self.deployment_environment = get("deployment.environment.name") or get(
            "deployment.environment"
        )
        self.host_name = get("host.name")


class Batch:
    """One transaction's worth of rows, for every table."""

    def __init__(self, slow_query_ms: float = 1000.0) -> None:
        self.slow_query_ms = slow_query_ms
        self.requests = Columns("requests")
        self.db_statements = Columns("db_statements")
        self.n_plus_one = Columns("n_plus_one")
        self.operations = Columns("operations")
        self.graphql_operations = Columns("graphql_operations")
        self.slow: list[dict] = []

    def tables(self) -> list[Columns]:
        return [
            c
            for c in (
                self.requests,
                self.db_statements,
                self.n_plus_one,
                self.operations,
                self.graphql_operations,
            )
            if len(c)
        ]

    def add(
        self, item, resource: ResourceInfo, host_name: str, instance_id: str, weight: float = 1.0
    ) -> None:
        """``weight``: the request's store-sampling weight, carried by every row it yields."""
        kind, span, trace = item
        origin = getattr(trace, "origin", None)
        if origin is not None:  # received over OTLP (otel_perf/receiver): the sender's identity
            resource, instance_id = origin
        attrs = root_attributes(span, trace)
        ctx = span.context
        base = {
            "timestamp": span.start_time // 1000,
            "trace_id": ctx.trace_id.to_bytes(16, "big"),
            "span_id": ctx.span_id,
            "service_name": resource.service_name,
            "weight": weight,
        }
        summary = trace.summary
        memory = trace.memory or (None, None, None)
        duration_ms = (span.end_time - span.start_time) / _NS_PER_MS
        error = bool(attrs.get(A.ERROR))
        first_operation = trace.operations[0].span.attributes if trace.operations else {}
        if kind == "operation":
            self._add_graphql(trace, base, None, resource, host_name, instance_id)
            self.operations.add(
                {
                    **base,
                    "service_instance": instance_id,
                    "host_name": resource.host_name or host_name,
                    "kind": attrs.get(A.OPERATION_KIND),
                    "name": span.name,
                    "duration_ms": duration_ms,
                    "error": error,
                    "db_count": summary.count if summary else 0,
                    "db_time_ms": summary.time_ms if summary else 0.0,
                    "n_plus_one_count": len(summary.n_plus_one) if summary else 0,
                    "memory_usage_mb": memory[0],
                    "memory_delta_mb": memory[1],
                }
            )
            return
        method = A.first(attrs, A.HTTP_METHOD)
        route = attrs.get(A.HTTP_ROUTE)
        endpoint = attrs.get(A.ENDPOINT) or endpoint_key(method, route)
        status = A.first(attrs, A.HTTP_STATUS)
        base["endpoint"] = endpoint
        row = {
            **base,
            "service_instance": instance_id,
            "service_version": resource.service_version,
            "deployment_environment": resource.deployment_environment,
            "host_name": resource.host_name or host_name,
            "method": method,
            "route": route,
            "path": request_path(attrs),
            "status_code": int(status) if isinstance(status, int) else None,
            "error": error,
            "duration_ms": duration_ms,
            "db_count": attrs.get(A.DB_COUNT, 0),
            "db_time_ms": attrs.get(A.DB_TIME_MS, 0.0),
            "db_slow_count": attrs.get(A.DB_SLOW_COUNT, 0),
            "db_slowest_ms": attrs.get(A.DB_SLOWEST_MS),
            "db_slowest_fingerprint": _signed64(summary.slowest.fingerprint)
            if summary and summary.slowest
            else None,
            "cache_hits": attrs.get(A.CACHE_HITS, 0),
            "cache_misses": attrs.get(A.CACHE_MISSES, 0),
            "cache_time_ms": attrs.get(A.CACHE_TIME_MS, 0.0),
            "n_plus_one_count": attrs.get(A.N_PLUS_ONE_COUNT, 0),
            "is_slow": bool(attrs.get(A.SLOW)),
            "is_very_slow": bool(attrs.get(A.VERY_SLOW)),
            "memory_usage_mb": memory[0],
            "memory_delta_mb": memory[1],
            "peak_memory_mb": memory[2],
            "user_id": attrs.get(A.ENDUSER_PSEUDO_ID) or attrs.get(A.ENDUSER_ID),
            "tenant": attrs.get(A.TENANT),
            # A request running several operations is described by its first.
            "graphql_operation_name": first_operation.get(A.GRAPHQL_OPERATION_NAME),
            "graphql_operation_type": first_operation.get(A.GRAPHQL_OPERATION_TYPE),
            "graphql_query_hash": first_operation.get(A.GRAPHQL_QUERY_HASH),
            "graphql_complexity": first_operation.get(A.GRAPHQL_COMPLEXITY),
        }
        self.requests.add(row)
        self._add_graphql(trace, base, endpoint, resource, host_name, instance_id)
        if row["is_slow"]:
            self.slow.append(row)
        if summary is None:
            return
        for group in summary.groups:
            self.db_statements.add(
                {
                    **base,
                    "fingerprint": _signed64(group.fingerprint),
                    "statement": group.statement,
                    "db_system": group.db_system,
                    "calls": group.calls,
                    "total_ms": group.total_ns / _NS_PER_MS,
                    "max_ms": group.max_ns / _NS_PER_MS,
                    "slow_count": group.slow_count,
                    "graphql_field_path": group.graphql_field_path,
                }
            )
        for group in summary.n_plus_one:
            self.n_plus_one.add(
                {
                    **base,
                    "fingerprint": _signed64(group.fingerprint),
                    "statement": group.statement,
                    "executions": group.calls,
                    "total_ms": group.total_ns / _NS_PER_MS,
                    "graphql_operation_name": _operation_name_of(trace, group)
                    or row["graphql_operation_name"],
                    "graphql_field_path": group.graphql_field_path,
                    "suggestion": suggestion(group.graphql_field_path),
                }
            )

    def _add_graphql(self, trace, base, endpoint, resource, host_name, instance_id) -> None:
        for operation in trace.operations:
            span = operation.span
            attrs = operation_attributes(operation)
            summary = operation.summary
            memory = operation.memory or (None, None)
            duration_ms = (span.end_time - span.start_time) / _NS_PER_MS
            self.graphql_operations.add(
                {
                    **base,
                    "span_id": span.context.span_id,
                    "root_span_id": base["span_id"],
                    "timestamp": span.start_time // 1000,
                    "service_instance": instance_id,
                    "host_name": resource.host_name or host_name,
                    "endpoint": endpoint,
                    "operation_name": attrs.get(A.GRAPHQL_OPERATION_NAME),
                    "operation_type": attrs.get(A.GRAPHQL_OPERATION_TYPE),
                    "query_hash": attrs.get(A.GRAPHQL_QUERY_HASH),
                    "operation_id": attrs.get(A.GRAPHQL_OPERATION_ID),
                    "query_text": attrs.get(A.GRAPHQL_DOCUMENT),
                    "variables": attrs.get(A.GRAPHQL_VARIABLES),
                    "complexity_score": attrs.get(A.GRAPHQL_COMPLEXITY),
                    "depth": attrs.get(A.GRAPHQL_DEPTH),
                    "alias_count": attrs.get(A.GRAPHQL_ALIAS_COUNT),
                    "duration_ms": duration_ms,
                    "parsing_ms": attrs.get(A.GRAPHQL_PARSING_MS, 0.0),
                    "validation_ms": attrs.get(A.GRAPHQL_VALIDATION_MS, 0.0),
                    "execution_ms": attrs.get(A.GRAPHQL_EXECUTION_MS, 0.0),
                    "database_ms": summary.time_ms if summary else 0.0,
                    "database_queries": summary.count if summary else 0,
                    "cache_ms": attrs.get(A.CACHE_TIME_MS, 0.0),
                    "cache_hits": attrs.get(A.CACHE_HITS, 0),
                    "cache_misses": attrs.get(A.CACHE_MISSES, 0),
                    "memory_usage_mb": memory[0],
                    "memory_delta_mb": memory[1],
                    "error": bool(attrs.get(A.GRAPHQL_ERROR_COUNT)),
                    "error_count": attrs.get(A.GRAPHQL_ERROR_COUNT, 0),
                    "n_plus_one_count": len(summary.n_plus_one) if summary else 0,
                    "is_slow": duration_ms >= self.slow_query_ms,
                }
            )


def _operation_name_of(trace, group) -> str | None:
    """The GraphQL operation whose statements include this N+1 group, if any."""
    for operation in trace.operations:
        if operation.summary is not None and any(
            g.fingerprint == group.fingerprint for g in operation.summary.n_plus_one
        ):
            return operation.span.attributes.get(A.GRAPHQL_OPERATION_NAME)
    return None
