"""Every document on every GraphQL server of the example: answers and Django's query count."""

import json

import pytest
from django.core.cache import cache
from gql import documents as D

pytestmark = pytest.mark.django_db(transaction=True)

CASES = {
    "BookCount": (D.BOOK_COUNT, None),
    "GetBook": (D.GET_BOOK, {"id": "1"}),
    "AuthorsWithBooks": (D.AUTHORS_N_PLUS_ONE, None),
    "AuthorsOptimized": (D.AUTHORS_OPTIMIZED, None),
    "DeepBooks": (D.DEEP, None),
    "AuthorsAliased": (D.AUTHORS_ALIASED, None),
    "CachedCount": (D.CACHED, None),
    "Failing": (D.FAILING, None),
    "CreateBook": (D.CREATE_BOOK, {"title": "New", "authorId": "1", "published": 2024}),
    "Login": (D.LOGIN, {"username": "reader", "password": "canary-pw"}),
    "Slow": (D.SLOW, {"ms": 1}),
}


@pytest.fixture(autouse=True)
def library_data(db):
    from django.core.management import call_command

    call_command("loaddata", "library", verbosity=0)
    cache.clear()


def post(client, endpoint, document, variables):
    body = {"query": document, "variables": variables or {}}
    response = client.post(endpoint, json.dumps(body), content_type="application/json")
    return response.status_code, json.loads(response.content)


# The async Strawberry schema serves the query documents only.
PAIRS = [
    (server, name)
    for server in D.ENDPOINTS
    for name in CASES
    if server != "strawberry-async" or name in D.ASYNC_DOCUMENTS
]


@pytest.mark.parametrize(("server", "name"), PAIRS)
def test_document_answers_with_the_expected_query_count(
    client, django_assert_num_queries, server, name
):
    document, variables = CASES[name]
    with django_assert_num_queries(D.EXPECTED_QUERIES[name]):
        status, body = post(client, D.ENDPOINTS[server], document, variables)
    assert status == 200
    if name == "Failing":
        assert body["errors"][0]["message"] == "this field always fails"
        assert body["data"]["bookCount"] == 30
    else:
        assert not body.get("errors"), body
    if name == "AuthorsWithBooks":
        assert len(body["data"]["authors"]) == 10
        assert all(len(a["books"]) == 3 for a in body["data"]["authors"])


@pytest.mark.parametrize("server", list(D.ENDPOINTS))
def test_cached_count_hits_the_cache_the_second_time(client, django_assert_num_queries, server):
    post(client, D.ENDPOINTS[server], D.CACHED, None)
    with django_assert_num_queries(0):
        status, body = post(client, D.ENDPOINTS[server], D.CACHED, None)
    assert body["data"]["cachedBookCount"] == 30
