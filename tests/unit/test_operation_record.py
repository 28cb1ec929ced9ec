"""A GraphQL operation whose trace only the store reads is a record, not an SDK span; with an
exporter it is a span as before. Both give the same ``graphql_operations`` rows: real
graphql-core execution through the instrumentor, a real store writer in a temp dir, the SDK's
provider and in-memory exporter."""

from __future__ import annotations

import asyncio
import json

import pytest
from graphql import build_schema, graphql, graphql_sync
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, use_span

from otel_perf import pipeline
from otel_perf.settings import Settings
from otel_perf.storage import open_store, parse_address
from processors.graphql.instrumentor import GraphQLCoreInstrumentor
from processors.operation_record import OperationRecord
from processors.perf_processor import PerfSpanProcessor
from tests.unit.spans import server_root
from tests.unit.stored import stored_provider

SCHEMA = build_schema(
    "type Query { authors(token: String): [Author!]! broken: Int }"
    " type Author { id: Int! name: String! }"
)
AUTHORS = 5


_TRACER: list = []  # the test's provider's tracer, for the statements
_CURRENT: list = []  # the current span while each resolver ran


def _statement(n: int) -> None:
    """What a DB instrumentation does around one statement: a CLIENT span under the current one."""
    span = _TRACER[0].start_span("SELECT", kind=SpanKind.CLIENT)
    span.set_attribute("db.statement", f"SELECT name FROM author WHERE id = {n}")
    span.set_attribute("db.system", "sqlite")
    span.end()


def _name(author, info):
    _CURRENT.append(trace.get_current_span())
    _statement(author["id"])  # an N+1: one statement per author
    return f"author {author['id']}"


def _broken(root, info):
    raise ValueError("no such field")


ROOT = {"authors": lambda info, token=None: [{"id": i} for i in range(AUTHORS)], "broken": _broken}
SCHEMA.get_type("Author").fields["name"].resolve = _name
QUERY = "query Authors($token: String) { authors(token: $token) { id name } }"


def _request(tracer, document: str, variables: dict | None = None, run=graphql_sync):
    root = server_root(tracer, None, "graphql/", "/graphql/")
    with use_span(root, end_on_exit=True):
        result = run(SCHEMA, document, ROOT, variable_values=variables)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
    return result


def _workload(tracer, run=graphql_sync) -> None:
    assert not _request(tracer, QUERY, {"token": "s3cr3t"}, run).errors
    assert _request(tracer, "query Broken { broken }", None, run).errors


def _stored(tmp_path, name: str, exporter=None, run=graphql_sync) -> list:
    store = str(tmp_path / name)
    settings = Settings(store=store, flush_interval_s=0.05, n_plus_one_threshold=3)
    provider = stored_provider(settings, "records", exporter)
    instrumentor = GraphQLCoreInstrumentor()
    instrumentor.instrument(tracer_provider=provider, settings=settings)
    _TRACER[:] = [provider.get_tracer("db")]
    _CURRENT.clear()
    try:
        _workload(provider.get_tracer("django"), run)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
        pipeline._processor = None
    con = open_store(parse_address(store), read_only=True)
    try:
        return con.execute(
            "SELECT operation_name, operation_type, query_hash, query_text, variables, "
            "complexity_score, depth, database_queries, n_plus_one_count, error, error_count, "
            "cache_hits, duration_ms, parsing_ms + validation_ms + execution_ms, "
            "root_span_id <> span_id FROM graphql_operations ORDER BY timestamp"
        ).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("run", [graphql_sync, graphql], ids=["sync", "async"])
def test_the_store_alone_gets_the_same_operation_rows_from_records_as_from_spans(tmp_path, run):
    alone = _stored(tmp_path, "alone", run=run)
    # Stored alone, the operation was a record: the request's span stayed current in resolvers.
    assert [span.name for span in _CURRENT] == ["GET"] * AUTHORS
    exporter = InMemorySpanExporter()
    exported = _stored(tmp_path, "exported", exporter, run=run)
    assert [span.name for span in _CURRENT] == ["query Authors"] * AUTHORS
    # With an exporter the operations are spans, their facts tags, the statements their children.
    operations = {s.name: s for s in exporter.get_finished_spans() if s.name.startswith("query")}
    assert set(operations) == {"query Authors", "query Broken"}
    statements = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    authors = operations["query Authors"].context.span_id
    assert len(statements) == AUTHORS and all(s.parent.span_id == authors for s in statements)

    def fixed(row):  # durations are timed: compared for consistency, not equality
        return row[:12]

    assert [fixed(r) for r in alone] == [fixed(r) for r in exported]
    (authors_row, broken_row) = alone
    assert authors_row[:2] == ("Authors", "query")
    assert json.loads(authors_row[4]) == {"token": "[REDACTED]"}
    assert authors_row[7:11] == (AUTHORS, 1, False, 0)  # five statements, one N+1, no error
    assert broken_row[0] == "Broken" and broken_row[9:11] == (True, 1)
    for row in alone:
        assert row[12] > 0 and row[13] == pytest.approx(row[12], abs=1e-3)  # phases tile it
        assert row[14]  # its own span id, not the root's


def test_an_operation_is_a_record_only_when_the_store_alone_reads_its_trace():
    from tests.unit.test_root_fold import FoldingSink

    sink = FoldingSink()
    settings = Settings()
    provider = TracerProvider()
    provider.add_span_processor(PerfSpanProcessor(sink, settings))
    instrumentor = GraphQLCoreInstrumentor()
    instrumentor.instrument(tracer_provider=provider, settings=settings)
    _TRACER[:] = [provider.get_tracer("db")]
    try:
        root = server_root(provider.get_tracer("django"), None, "graphql/", "/graphql/")
        _CURRENT.clear()
        with use_span(root, end_on_exit=True):
            assert not graphql_sync(SCHEMA, QUERY, ROOT).errors
        # The record is never current: the root stays the current span for the resolvers.
        assert _CURRENT == [root] * AUTHORS
    finally:
        instrumentor.uninstrument()
    ((_, _, local),) = sink.items
    (operation,) = local.operations
    record = operation.span
    assert isinstance(record, OperationRecord)
    assert record.name == "query Authors" and record.end_time > record.start_time
    assert record.context.trace_id == root.context.trace_id
    assert record.context.span_id not in (0, root.context.span_id)
    assert operation.end[0] == AUTHORS  # noted where it ended: five statements so far
    provider.shutdown()
