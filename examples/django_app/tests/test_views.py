"""The example app's own pytest-django suite (settings module only in pytest.ini).

otel-perf's tests run it unchanged under ``opentelemetry-instrument pytest``.
"""

import pytest
from library.views import EXPECTED_QUERIES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def library_data(db):
    from django.core.management import call_command

    call_command("loaddata", "library", verbosity=0)


@pytest.mark.parametrize(
    "path",
    ["/books/", "/books/n-plus-one/", "/books/optimized/", "/books/1/", "/slow/", "/health/"],
)
def test_query_counts_are_the_documented_ones(client, django_assert_num_queries, path, monkeypatch):
    monkeypatch.setenv("EXAMPLE_SLOW_SECONDS", "0")
    with django_assert_num_queries(EXPECTED_QUERIES[path]):
        assert client.get(path).status_code == 200


def test_optimized_returns_the_same_data_as_n_plus_one(client):
    assert client.get("/books/optimized/").json() == client.get("/books/n-plus-one/").json()


def test_missing_book_is_404(client):
    assert client.get("/books/9999/").status_code == 404


def test_error_view_is_500(client):
    client.raise_request_exception = False
    assert client.get("/error/").status_code == 500


def test_create_book(client):
    response = client.post(
        "/books/create/", {"title": "New", "author_id": 1}, content_type="application/json"
    )
    assert response.status_code == 201
    assert client.get(f"/books/{response.json()['id']}/").json()["title"] == "New"
