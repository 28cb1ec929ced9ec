"""``otel-perf serve`` as a real process over real HTTP, then schemathesis against its
``/openapi.json``: no 5xx, documented statuses and content types, bodies matching the schema.

Schemathesis runs at most 15 examples per operation (24 operations, one test each), as an
admin so the reports themselves run.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from http import client as http_client

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from otel_perf.settings import Settings
from query_api.openapi import build_openapi
from tests.e2e.conftest import exhaust_anonymous_budget, start_serve
from tests.unit.test_store import fill

ADMIN_TOKEN = "serve-admin-token"
READ_TOKEN = "serve-read-token"
CALLER = ("127.0.0.2", 0)  # any 127.0.0.0/8 address is this machine's loopback on Linux


def http(url: str, headers: dict | None = None, method: str = "GET"):
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    store = str(tmp / "store")
    fill(store, requests=8)
    env = {
        **os.environ,
        "OTEL_PERF_API_TOKENS": f"{ADMIN_TOKEN}:admin,{READ_TOKEN}:read",
        "OTEL_PERF_STORE": store,
    }
    proc, base = start_serve(tmp / "serve.log", env)
    yield base
    proc.terminate()
    proc.wait(10)
    server.log = (tmp / "serve.log").read_text()


def test_should_serve_the_spec_endpoint_over_http(server):
    status, headers, body = http(
        server + "/graphql/performance/?action=stats", {"Authorization": f"Bearer {READ_TOKEN}"}
    )
    assert status == 200
    document = json.loads(body)
    assert document["status"] == "success"
    assert document["data"]["overview"]["total_requests"] == 8
    assert headers["X-RateLimit-Limit"] == "500"
    assert headers["Cache-Control"] == "private, max-age=60"
    status, headers, body = http(
        server + "/graphql/performance/?action=stats",
        {"Authorization": f"Bearer {READ_TOKEN}", "If-None-Match": headers["ETag"]},
    )
    assert status == 304 and body == b""


def test_should_deny_anonymous_and_serve_health_over_http(server):
    status, headers, body = http(server + "/graphql/performance/")
    assert status == 403 and json.loads(body)["error"]["code"] == "PERMISSION_DENIED"
    assert headers["X-RateLimit-Limit"] == "100"
    assert http(server + "/api/v1/performance/health")[0] == 200
    status, _, _ = http(
        server + "/api/v1/performance/analyze",
        {"Authorization": f"Bearer {READ_TOKEN}"},
        method="POST",
    )
    assert status == 403
    status, _, _ = http(
        server + "/api/v1/performance/analyze",
        {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        method="POST",
    )
    assert status == 200


# Loaded at collection, before the server runs (schemathesis' from_fixture does not work with
# pytest 9); the test below pins that the server publishes exactly this document.
schema = schemathesis.openapi.from_dict(build_openapi(max_limit=Settings().api_max_limit))


def test_should_publish_the_document_schemathesis_reads(server):
    status, _, body = http(server + "/openapi.json")
    assert status == 200 and json.loads(body) == schema.raw_schema


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_should_never_answer_5xx_to_schema_generated_requests(case, server):
    case.call_and_validate(
        base_url=server,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


def test_should_refuse_an_anonymous_caller_over_100_a_minute_over_http(server):
    """From its own loopback address (127.0.0.2): schemathesis' requests without a valid token
    count against 127.0.0.1's anonymous budget, which this test must find untouched."""
    host, port = urllib.parse.urlsplit(server).netloc.split(":")

    def get():
        con = http_client.HTTPConnection(host, int(port), timeout=30, source_address=CALLER)
        try:
            con.request("GET", "/api/v1/performance/health")
            response = con.getresponse()
            return response.status, response.headers, response.read()  # any-case names
        finally:
            con.close()

    exhaust_anonymous_budget(get)
