"""The graphql-core instrumentor on a real SDK provider with an in-memory exporter."""

from __future__ import annotations

import pytest
from graphql import build_schema, graphql_sync
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_perf.settings import Settings
from processors.graphql.instrumentor import GraphQLCoreInstrumentor

SCHEMA = build_schema("type Query { books(first: Int): [Book!]! } type Book { title: String! }")
ROOT = {"books": lambda info, first=None: [{"title": "a"}, {"title": "b"}][:first]}


@pytest.fixture
def traced(request):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = GraphQLCoreInstrumentor()
    instrumentor.instrument(tracer_provider=provider, settings=Settings(**request.param))
    yield exporter
    instrumentor.uninstrument()


@pytest.mark.parametrize("traced", [{}], indirect=True)
def test_should_make_one_operation_span_with_semantic_attributes(traced):
    result = graphql_sync(SCHEMA, "query Few { books(first: 1) { title } }", ROOT)
    assert result.errors is None and result.data == {"books": [{"title": "a"}]}
    (span,) = traced.get_finished_spans()  # no resolver spans by default
    assert span.name == "query Few"
    attributes = span.attributes
    assert attributes["graphql.operation.name"] == "Few"
    assert attributes["graphql.operation.type"] == "query"
    assert attributes["graphql.document"] == "query Few{books(first:0){title}}"
    assert attributes["perf.graphql.complexity"] == 1  # books(1): 1 + 1 x (title 0)
    phases = sum(attributes[f"perf.graphql.{p}_ms"] for p in ("parsing", "validation", "execution"))
    assert phases == pytest.approx((span.end_time - span.start_time) / 1e6, abs=1e-3)


@pytest.mark.parametrize("traced", [{"graphql_resolver_spans": True}], indirect=True)
def test_should_add_a_span_per_resolved_field_when_asked(traced):
    graphql_sync(SCHEMA, "query All { books { title } }", ROOT)
    spans = {s.name: s for s in traced.get_finished_spans()}
    operation = spans["query All"]
    books = spans["resolve Query.books"]
    assert books.parent.span_id == operation.context.span_id
    titles = [s for s in traced.get_finished_spans() if s.name == "resolve Book.title"]
    assert len(titles) == 2
    assert {s.attributes["graphql.field.path"] for s in titles} == {"books.title"}
    assert all(s.parent.span_id == books.context.span_id for s in titles)


@pytest.mark.parametrize("traced", [{}], indirect=True)
def test_should_restore_graphql_core_when_uninstrumented(traced):
    import graphql

    assert getattr(graphql.execute, "__wrapped_by_otel_perf__", False)
    GraphQLCoreInstrumentor().uninstrument()  # the fixture's instance is the same singleton
    assert not getattr(graphql.execute, "__wrapped_by_otel_perf__", False)
    # Through graphql_sync too (graphql-core 3.3 calls the functions through its harness).
    assert graphql_sync(SCHEMA, "query Q { books { title } }", ROOT).errors is None
    assert traced.get_finished_spans() == ()
    GraphQLCoreInstrumentor().instrument(tracer_provider=TracerProvider())  # for the fixture


@pytest.mark.parametrize("traced", [{}], indirect=True)
def test_should_count_its_own_failure_and_still_answer(traced, monkeypatch):
    import otel_perf
    from processors.graphql import operation

    def broken(*args):
        raise RuntimeError("bookkeeping failed")

    monkeypatch.setattr(operation, "_Pending", broken)
    before = otel_perf.stats()["graphql_internal_errors"]
    result = graphql_sync(SCHEMA, "query Few { books(first: 1) { title } }", ROOT)
    assert result.errors is None and result.data == {"books": [{"title": "a"}]}
    assert otel_perf.stats()["graphql_internal_errors"] == before + 1
