"""The sample suite's N+1 tests (copied in as test_views.py)."""

import pytest


def test_books_n_plus_one(client):
    assert client.get("/books/n-plus-one/").status_code == 200


def test_books_optimized(client):
    assert client.get("/books/optimized/").status_code == 200


@pytest.mark.perf(allow_n_plus_one=True)
def test_books_n_plus_one_waived(client):
    assert client.get("/books/n-plus-one/").status_code == 200


@pytest.mark.perf(max_queries=1)
def test_books_optimized_over_marker(client):
    assert client.get("/books/optimized/").status_code == 200


def test_facts_fixture(client, perf):
    from library.models import Author

    assert perf.queries == 0
    client.get("/books/optimized/")
    assert perf.queries == 2
    assert perf.requests == ["GET /books/optimized/"]
    assert perf.n_plus_one == []
    list(Author.objects.all())
    assert perf.queries == 3
    assert len(perf.fingerprints) == 3


def test_graphql_authors_n_plus_one(graphql):
    assert len(graphql("query AuthorsWithBooks { authors { name books { title } } }")["authors"])
