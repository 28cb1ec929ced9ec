"""The example app's own pytest-django suite (settings module only in pytest.ini).

otel-perf's tests run it unchanged under ``opentelemetry-instrument pytest``.
"""

import pytest
from library.views import EXPECTED_QUERIES

pytestmark = pytest.mark.django_db

# Every GET endpoint with the status it answers on the fixture's data.
GET_STATUS = {
    "/books/": 200,
    "/books/n-plus-one/": 200,
    "/books/optimized/": 200,
    "/books/1/": 200,
    "/books/9999/": 404,
    "/slow/": 200,
    "/error/": 500,
    "/health/": 200,
}


@pytest.fixture(autouse=True)
def library_data(db):
    from django.core.management import call_command

    call_command("loaddata", "library", verbosity=0)


@pytest.mark.parametrize("path", list(GET_STATUS))
def test_status_and_query_count(client, django_assert_num_queries, monkeypatch, path):
    monkeypatch.setenv("EXAMPLE_SLOW_SECONDS", "0")  # /slow/ reads it per request
    client.raise_request_exception = False  # /error/: the 500 response, not the exception
    with django_assert_num_queries(EXPECTED_QUERIES[path]):
        assert client.get(path).status_code == GET_STATUS[path]


def test_optimized_returns_the_n_plus_one_data_without_repeating_a_statement(
    client, django_assert_num_queries
):
    with django_assert_num_queries(EXPECTED_QUERIES["/books/optimized/"]) as captured:
        optimized = client.get("/books/optimized/").json()
    assert len({q["sql"] for q in captured.captured_queries}) == len(captured.captured_queries)
    assert optimized == client.get("/books/n-plus-one/").json()


def test_create_book(client, django_assert_num_queries):
    with django_assert_num_queries(EXPECTED_QUERIES["/books/create/"]):
        response = client.post(
            "/books/create/", {"title": "New", "author_id": 1}, content_type="application/json"
        )
    assert response.status_code == 201
    assert client.get(f"/books/{response.json()['id']}/").json()["title"] == "New"
