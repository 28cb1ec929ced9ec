"""conftest.py of the sample suite (copied in by the plugin tests): the example app's data."""

import json

import pytest


@pytest.fixture(autouse=True)
def library(db):
    from django.core.management import call_command

    call_command("loaddata", "library", verbosity=0)


@pytest.fixture
def graphql(client):
    def post(document, variables=None):
        body = json.dumps({"query": document, "variables": variables or {}})
        response = client.post("/graphql/", body, content_type="application/json")
        assert response.status_code == 200
        payload = json.loads(response.content)
        assert not payload.get("errors"), payload
        return payload["data"]

    return post
