"""The max-complexity rule in each server: over the limit, a GraphQL error and no resolver runs.

Schema everywhere: ``books(first: Int): [Book]`` with ``author: Author``. With the limit at 50,
``books(first: 60) { author { name } }`` scores 1 + 60 × 1 = 61 (rejected) and
``books(first: 5) { author { name } }`` scores 1 + 5 × 1 = 6 (runs).

Graphene and Ariadne are imported per test (``server``): the graphql-core 3.3 stage of
``.ci/compat`` installs Strawberry only (Graphene 3 needs graphql-core 3.2), so their tests skip
there, while the graphql-core and Strawberry tests run in both environments.
"""

import functools
import importlib
import os

import pytest
import strawberry
from graphql import build_schema, execute, parse, specified_rules, validate, version_info
from strawberry.extensions import AddValidationRules

from processors.graphql.complexity import ComplexityConfig
from processors.graphql.enforcement import max_complexity_rule

CONFIG = ComplexityConfig(max_complexity=50)
OVER = "{ books(first: 60) { author { name } } }"
UNDER = "{ books(first: 5) { author { name } } }"
BY_VARIABLE = "query Q($n: Int) { books(first: $n) { author { name } } }"


class Calls:
    count = 0


def server(module: str):
    """Import a server library, or skip its test where that environment does not have it.

    Only the graphql-core 3.3 environment may lack one (it holds Strawberry alone); on 3.2 a
    missing library is a broken environment: an error under CI=true, a skip elsewhere."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI") == "true" and (version_info.major, version_info.minor) < (3, 3):
            raise
        pytest.skip(f"{module} is not installed with graphql-core {version_info}")


@pytest.fixture(autouse=True)
def _reset_calls():
    Calls.count = 0


def books(n):
    Calls.count += 1
    return [{"author": {"name": "Ada"}} for _ in range(n or 1)]


def assert_rejected(errors):
    assert len(errors) == 1
    error = errors[0]
    message = error["message"] if isinstance(error, dict) else error.message
    extensions = error["extensions"] if isinstance(error, dict) else error.extensions
    assert message == "Query complexity 61 exceeds the maximum of 50"
    assert extensions == {"code": "QUERY_TOO_COMPLEX", "complexity": 61, "max_complexity": 50}
    assert Calls.count == 0


# --- graphql-core ---------------------------------------------------------------------------

SDL = """
    type Query { books(first: Int): [Book] }
    type Book { author: Author }
    type Author { name: String }
"""


def test_should_report_an_operation_over_the_limit_with_graphql_core():
    schema = build_schema(SDL)
    errors = validate(schema, parse(OVER), [*specified_rules, max_complexity_rule(CONFIG)])
    assert_rejected(errors)


def test_should_let_an_operation_under_the_limit_through_with_graphql_core():
    schema = build_schema(SDL)
    assert validate(schema, parse(UNDER), [*specified_rules, max_complexity_rule(CONFIG)]) == []


def test_should_count_variable_slicing_arguments_as_the_default_list_size():
    # Variables are unknown during validation: 1 + 10 × 1 = 11, under the limit.
    schema = build_schema(SDL)
    assert validate(schema, parse(BY_VARIABLE), [max_complexity_rule(CONFIG)]) == []
    # Given the request's variables, the rule sees the real size: 1 + 60 × 1 = 61.
    rule = max_complexity_rule(CONFIG, variables={"n": 60})
    assert len(validate(schema, parse(BY_VARIABLE), [rule])) == 1


def test_should_report_each_operation_of_a_document():
    schema = build_schema(SDL)
    document = parse(f"query A {OVER} query B {UNDER}")
    errors = validate(schema, document, [max_complexity_rule(CONFIG)])
    assert [e.nodes[0].name.value for e in errors] == ["A"]


# --- Graphene ------------------------------------------------------------------------------


@functools.cache
def graphene_schema():
    graphene = server("graphene")

    class GAuthor(graphene.ObjectType):
        name = graphene.String()

    class GBook(graphene.ObjectType):
        author = graphene.Field(GAuthor)

    class GQuery(graphene.ObjectType):
        books = graphene.List(GBook, first=graphene.Int())

        def resolve_books(root, info, first=None):
            return books(first)

    return graphene.Schema(query=GQuery)


def graphene_run(text):
    # What graphene-django's GraphQLView does with its validation_rules, which replace the
    # specified rules rather than add to them: hence the explicit specified_rules.
    schema = graphene_schema().graphql_schema
    document = parse(text)
    errors = validate(schema, document, [*specified_rules, max_complexity_rule(CONFIG)])
    return errors or execute(schema, document)


def test_should_reject_an_operation_over_the_limit_in_graphene():
    assert_rejected(graphene_run(OVER))


def test_should_run_an_operation_under_the_limit_in_graphene():
    result = graphene_run(UNDER)
    assert result.errors is None
    assert len(result.data["books"]) == 5
    assert Calls.count == 1


# --- Strawberry ----------------------------------------------------------------------------


@strawberry.type
class SAuthor:
    name: str


@strawberry.type
class SBook:
    author: SAuthor


@strawberry.type
class SQuery:
    @strawberry.field
    def books(self, first: int | None = None) -> list[SBook]:
        return [SBook(author=SAuthor(name=b["author"]["name"])) for b in books(first)]


# A factory, not an instance: Strawberry builds a fresh extension per request.
STRAWBERRY = strawberry.Schema(
    query=SQuery, extensions=[lambda: AddValidationRules([max_complexity_rule(CONFIG)])]
)


def test_should_reject_an_operation_over_the_limit_in_strawberry():
    result = STRAWBERRY.execute_sync(OVER)
    assert result.data is None
    assert_rejected(result.errors)


def test_should_run_an_operation_under_the_limit_in_strawberry():
    result = STRAWBERRY.execute_sync(UNDER)
    assert result.errors is None
    assert len(result.data["books"]) == 5
    assert Calls.count == 1


# --- Ariadne -------------------------------------------------------------------------------


@functools.cache
def ariadne_schema():
    ariadne = server("ariadne")
    query = ariadne.QueryType()

    @query.field("books")
    def resolve_books(*_, first=None):
        return books(first)

    return ariadne.make_executable_schema(SDL, query)


def ariadne_run(data, validation_rules):
    return server("ariadne").graphql_sync(ariadne_schema(), data, validation_rules=validation_rules)


def test_should_reject_an_operation_over_the_limit_in_ariadne():
    success, result = ariadne_run({"query": OVER}, [max_complexity_rule(CONFIG)])
    assert not success
    assert_rejected(result["errors"])


def test_should_run_an_operation_under_the_limit_in_ariadne():
    success, result = ariadne_run({"query": UNDER}, [max_complexity_rule(CONFIG)])
    assert success and "errors" not in result
    assert len(result["data"]["books"]) == 5
    assert Calls.count == 1


def test_should_see_the_request_variables_when_ariadne_builds_rules_per_request():
    def rules(context, document, data):
        return [max_complexity_rule(CONFIG, data.get("variables"))]

    data = {"query": BY_VARIABLE, "variables": {"n": 60}}
    success, result = ariadne_run(data, rules)
    assert not success
    assert_rejected(result["errors"])
