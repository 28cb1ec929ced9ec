"""The sample suite's budget tests (copied in as test_budget.py)."""

BOOK = "query GetBook($id: ID!) { book(id: $id) { id title } }"
DEEP = """
query DeepBooks {
  books(first: 4) { title author { name books(first: 25) { title author { name } } } }
}
"""


def test_book_detail(client):
    assert client.get("/books/1/").status_code == 200


def test_book_list(client):
    assert client.get("/books/").status_code == 200


def test_books_optimized(client):
    assert client.get("/books/optimized/").status_code == 200


def test_health(client):
    assert client.get("/health/").status_code == 200


def test_graphql_book(graphql):
    assert graphql(BOOK, {"id": "1"})["book"]["title"]


def test_graphql_deep(graphql):
    assert len(graphql(DEEP)["books"]) == 4
