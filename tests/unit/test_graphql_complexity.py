"""Complexity against a small real schema: every expected score is worked out by hand.

cost(field) = own (1 composite, 0 leaf) + multiplier × sum(children) [+ mutation_cost];
multiplier = slicing argument, else default_list_size (10) for a list, else 1.
"""

import time

import pytest
from graphql import build_schema, parse

from processors.graphql import document_facts
from processors.graphql.complexity import Complexity, ComplexityConfig, analyze
from processors.graphql.document_facts import operation_facts

SCHEMA = build_schema(
    """
    type Query {
      books(first: Int, last: Int, genre: String): [Book!]!
      book(id: ID!): Book
      authors(limit: Int): [Author]
      search(pageSize: Int): [Result]
      top(n: Int): [Book]
      bookConnection(first: Int): BookConnection
      count: Int
    }
    type Book { title: String year: Int author: Author reviews(first: Int): [Review!] }
    type Review { stars: Int text: String }
    type Author { name: String books(first: Int): [Book] }
    union Result = Book | Author
    type BookConnection { edges: [BookEdge] pageInfo: PageInfo }
    type BookEdge { node: Book }
    type PageInfo { hasNextPage: Boolean }
    type Mutation { addBook(title: String!): Book deleteBook(id: ID!): Boolean }
    """
)
CONFIG = ComplexityConfig(max_complexity=100, default_list_size=10, mutation_cost=10)


def score(text, variables=None, config=CONFIG, schema=SCHEMA, name=None) -> Complexity:
    return analyze(schema, parse(text), name, variables, config)


def test_should_count_a_list_of_leaves_once():
    # books: 1 + 10 × title 0 = 1
    assert score("{ books { title } }") == Complexity(1, 2, 0)


def test_should_multiply_by_the_default_list_size_without_first():
    # books: 1 + 10 × (title 0 + author (1 + 1 × name 0)) = 11
    assert score("{ books { title author { name } } }") == Complexity(11, 3, 0)


def test_should_multiply_by_a_literal_first():
    # books: 1 + 3 × author 1 = 4
    assert score("{ books(first: 3) { author { name } } }").score == 4


def test_should_multiply_by_a_variable_first_when_its_value_is_known():
    text = "query Q($n: Int) { books(first: $n) { author { name } } }"
    assert score(text, {"n": 7}).score == 1 + 7 * 1
    # Variables unknown (validation): default_list_size.
    assert score(text, None).score == 1 + 10 * 1


def test_should_use_the_variable_default_when_the_variable_is_not_sent():
    text = "query Q($n: Int = 2) { books(first: $n) { author { name } } }"
    assert score(text, {}).score == 1 + 2 * 1


def test_should_take_the_largest_slicing_argument():
    # books: 1 + max(2, 6) × author 1 = 7
    assert score("{ books(first: 2, last: 6) { author { name } } }").score == 7


def test_should_multiply_nested_lists():
    # reviews: 1 + 2 × 0 = 1; books: 1 + 10 × 1 = 11; authors: 1 + 5 × 11 = 56
    text = "{ authors(limit: 5) { books { reviews(first: 2) { stars } } } }"
    assert score(text) == Complexity(56, 4, 0)


def test_should_expand_fragments():
    # B: author 1 + reviews (1 + 10 × 0) = 2; books: 1 + 2 × 2 = 5
    text = """
        query { books(first: 2) { ...B } }
        fragment B on Book { author { name } reviews { stars } }
    """
    assert score(text) == Complexity(5, 3, 0)


def test_should_add_up_inline_fragment_branches():
    # Book branch: author 1; Author branch: books 1 + 10 × 0 = 1; search: 1 + 4 × (1 + 1) = 9
    text = """
        { search(pageSize: 4) {
            ... on Book { author { name } }
            ... on Author { books { title } }
        } }
    """
    assert score(text) == Complexity(9, 3, 0)


def test_should_count_aliases_and_each_aliased_field():
    # a: 1 + 0, b: 1 + 0
    text = '{ a: book(id: "1") { t: title } b: book(id: "2") { title } }'
    assert score(text) == Complexity(2, 2, 3)


def test_should_count_aliases_in_a_fragment_once():
    text = "{ book(id: 1) { ...F ...F } } fragment F on Book { t: title }"
    assert score(text).alias_count == 1


def test_should_add_the_mutation_cost_per_root_field():
    # addBook: 1 + 1 × 0 + 10 = 11; deleteBook: 0 + 10 = 10
    text = 'mutation { addBook(title: "x") { title } deleteBook(id: 1) }'
    assert score(text).score == 21


def test_should_ignore_introspection_when_configured():
    text = "{ __typename books(first: 1) { __typename title } __schema { types { name } } }"
    # books: 1 + 1 × 0 = 1; the rest is ignored, depth included
    assert score(text) == Complexity(1, 2, 0)
    counted = ComplexityConfig(ignore_introspection=False)
    # __schema: 1 + 1 × types (1 + 10 × name 0) = 2; __typename 0; books 1
    assert score(text, config=counted) == Complexity(3, 3, 0)


def test_should_apply_per_field_costs_and_multiplier_arguments():
    config = ComplexityConfig(field_costs=(("Book.reviews", 5, ()), ("Query.top", 2, ("n",))))
    # reviews: 5 + 10 × 0 = 5; author 1; top: 2 + 6 × (1 + 5) = 38
    text = "{ top(n: 6) { author { name } reviews { stars } } }"
    assert score(text, config=config).score == 38


def test_should_not_multiply_a_connections_edges_again():
    # edges: 1 + 1 × node (1 + 0) = 2; pageInfo 1; bookConnection: 1 + 5 × 3 = 16
    text = "{ bookConnection(first: 5) { edges { node { title } } pageInfo { hasNextPage } } }"
    assert score(text) == Complexity(16, 4, 0)


def test_should_honour_literal_and_known_skip_and_include():
    text = """
        query Q($r: Boolean!) {
          books(first: 2) { author @skip(if: true) { name } reviews @include(if: $r) { stars } }
        }
    """
    # reviews dropped: books 1 + 2 × 0 = 1
    assert score(text, {"r": False}).score == 1
    # $r unknown: reviews counts, 1 + 10 × 0 = 1; books 1 + 2 × 1 = 3
    assert score(text, None).score == 3


def test_should_fall_back_without_a_schema():
    # books has a selection set (composite) and first (a list): 1 + 3 × author (1 + 0) = 4
    assert score("{ books(first: 3) { author { name } title } }", schema=None).score == 4
    # Without a slicing argument nothing is known to be a list: 1 + 1 × 1 = 2
    assert score("{ books { author { name } } }", schema=None).score == 2


def test_should_apply_root_field_costs_without_a_schema():
    config = ComplexityConfig(field_costs=(("Query.books", 4, ()),))
    assert score("{ books { title } }", schema=None, config=config).score == 4


def test_should_measure_depth_across_fragments():
    text = "{ authors { ...A } } fragment A on Author { books { author { name } } }"
    assert score(text).depth == 4


def test_should_not_hang_on_a_fragment_cycle():
    text = """
        { book(id: 1) { ...A } }
        fragment A on Book { author { name } ...B }
        fragment B on Book { title ...A }
    """
    # A: author 1 + B (title 0 + the repeat of A: nothing) = 1; book: 1 + 1 = 2
    assert score(text).score == 2


def test_should_expand_a_fragment_bomb_in_linear_time():
    # F0 = author 1; Fk spreads F(k-1) twice, so F20 = 2^20; book: 1 + 2^20
    fragments = ["fragment F0 on Book { author { name } }"]
    fragments += [
        f"fragment F{k} on Book {{ ...F{k - 1} ... on Book {{ ...F{k - 1} }} }}"
        for k in range(1, 21)
    ]
    text = "{ book(id: 1) { ...F20 } } " + " ".join(fragments)
    start = time.perf_counter()
    assert score(text).score == 1 + 2**20
    assert time.perf_counter() - start < 1.0


def test_should_give_zeros_when_no_operation_can_be_chosen():
    assert score("query A { count } query B { count }") == Complexity(0, 0, 0)


def test_should_build_the_config_from_settings():
    from otel_perf.settings import Settings

    config = ComplexityConfig.from_settings(Settings())
    assert (config.max_complexity, config.default_list_size, config.mutation_cost) == (100, 10, 10)
    assert config.ignore_introspection is True


# --- operation_facts: the cached entry point ------------------------------------------------


@pytest.fixture(autouse=True)
def _empty_cache():
    document_facts.clear_cache()
    yield
    document_facts.clear_cache()


def test_should_give_the_facts_of_the_operation():
    text = 'query Books($n: Int) { list: books(first: $n, genre: "sf") { author { name } } }'
    facts = operation_facts(SCHEMA, parse(text), None, {"n": 4}, CONFIG)
    assert facts.name == "Books"
    assert facts.type == "query"
    assert facts.signature == 'query Books($n:Int){books(first:$n,genre:""){author{name}}}'
    assert facts.stripped_document == (
        'query Books($n:Int){list:books(first:$n,genre:""){author{name}}}'
    )
    assert len(facts.query_hash) == 16 and len(facts.operation_id) == 40
    assert (facts.complexity, facts.depth, facts.alias_count) == (1 + 4 * 1, 3, 1)


def test_should_compute_once_per_document_text():
    text = "query Q { books { author { name } } }"
    first = operation_facts(SCHEMA, parse(text), None, None, CONFIG)
    again = operation_facts(SCHEMA, parse(text), "Q", None, CONFIG)
    assert operation_facts(SCHEMA, parse(text), None, None, CONFIG) is first
    assert again == first
    assert document_facts.cache_len() == 2  # operation name None and "Q": two keys


def test_should_key_complexity_by_the_values_of_slicing_variables():
    text = "query Q($n: Int, $other: String) { books(first: $n) { author { name } } }"
    document = parse(text)
    assert operation_facts(SCHEMA, document, None, {"n": 3}, CONFIG).complexity == 4
    assert operation_facts(SCHEMA, document, None, {"n": 50}, CONFIG).complexity == 51
    assert operation_facts(SCHEMA, document, None, {"n": 3, "other": "x"}, CONFIG).complexity == 4
    assert operation_facts(SCHEMA, document, None, {"n": [1]}, CONFIG).complexity == 11


def test_should_give_none_when_there_is_no_operation_to_describe():
    assert (
        operation_facts(SCHEMA, parse("query A { count } query B { count }"), None, None, CONFIG)
        is None
    )
    assert operation_facts(SCHEMA, parse("query A { count }"), "Missing", None, CONFIG) is None


def test_should_never_raise_on_odd_input():
    assert operation_facts(SCHEMA, None, None, None, CONFIG) is None
    assert operation_facts(SCHEMA, "{ count }", None, None, CONFIG) is None
    assert operation_facts(SCHEMA, parse("{ count }"), None, "not a mapping", CONFIG) is not None


def test_should_compute_documents_without_source_text_uncached():
    facts = operation_facts(SCHEMA, parse("{ count }", no_location=True), None, None, CONFIG)
    assert facts.signature == "{count}"
    assert document_facts.cache_len() == 0


def test_should_accept_a_graphene_schema():
    # Absent from the graphql-core 3.3 environment (.ci/compat): Graphene 3 needs 3.2.
    graphene = pytest.importorskip("graphene")

    class Query(graphene.ObjectType):
        tags = graphene.List(graphene.String)
        nested = graphene.List(lambda: Query)

    # nested: 1 + 10 × tags (0) = 1; graphene's schema is read through its graphql_schema
    text = "{ nested { tags } }"
    assert analyze(graphene.Schema(query=Query), parse(text), None, None, CONFIG).score == 1


def test_should_not_confuse_true_with_one_in_the_cache():
    text = "query Q($n: Int) { books(first: $n) { author { name } } }"
    document = parse(text)
    assert operation_facts(SCHEMA, document, None, {"n": 1}, CONFIG).complexity == 2
    # Not a valid Int: counts as unknown, 1 + 10 × 1
    assert operation_facts(SCHEMA, document, None, {"n": True}, CONFIG).complexity == 11


def test_should_not_key_the_cache_by_variables_that_do_not_matter():
    text = """
        query Q($id: ID!, $n: Int) { book(id: $id) { author { name } } books(first: $n) { title } }
    """
    document = parse(text)
    first = operation_facts(SCHEMA, document, None, {"id": "0", "n": 2}, CONFIG)
    for i in range(1, 40):
        assert operation_facts(SCHEMA, document, None, {"id": str(i), "n": 2}, CONFIG) is first
