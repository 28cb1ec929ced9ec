"""The query API's pure parts: parameter parsing, tokens, the envelope and the route table."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from query_api.auth import TokenTable, bearer_token, from_headers
from query_api.envelope import ApiError, dumps, utc_timestamp
from query_api.openapi import build_openapi
from query_api.params import Params
from query_api.parsing import parse_action, parse_endpoint, parse_params
from query_api.routes import PARAMS, REST_PREFIX, REST_ROUTES, SPEC_PREFIX, SPEC_ROUTES

ALL = tuple(PARAMS)


def parse(max_limit: int = 1000, names=ALL, path=None, **query) -> Params:
    return parse_params({k: [v] for k, v in query.items()}, names, max_limit, path=path)


def error_of(**query) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse(**query)
    assert caught.value.status == 400 and caught.value.code == "INVALID_PARAMETER"
    return caught.value


def test_should_use_the_documented_defaults():
    assert parse() == Params()
    assert Params().limit == 50 and Params().offset == 0 and Params().format == "json"
    assert parse_action({}) == "stats"


def test_should_reject_a_bad_action_with_the_spec_body():
    with pytest.raises(ApiError) as caught:
        parse_action({"action": ["invalid_action"]})
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400,
        "INVALID_PARAMETER",
        "Invalid action parameter",
    )
    assert caught.value.details == {
        "parameter": "action",
        "value": "invalid_action",
        "allowed_values": ["stats", "alerts", "slow_queries"],
    }


@pytest.mark.parametrize(
    "name, value",
    [
        ("limit", "-1"),
        ("limit", "abc"),
        ("limit", "1001"),
        ("limit", "1.5"),
        ("limit", "1_000"),
        ("limit", ""),
        ("offset", "-5"),
        ("offset", "99999999999999999999"),
        ("top_n", "0"),
        ("hours", "nan"),
        ("hours", "inf"),
        ("hours", "-2"),
        ("hours", "0"),
        ("minutes", "1e9"),
        ("method", "FETCH"),
        ("severity", "severe"),
        ("format", "pdf"),
        ("start_date", "yesterday"),
        ("end_date", "2024-13-01"),
    ],
)
def test_should_name_the_parameter_of_every_bad_value(name, value):
    error = error_of(**{name: value})
    assert error.details["parameter"] == name and error.details["value"] == value
    assert name in error.message


def test_should_cap_limit_at_the_configured_maximum():
    assert parse(max_limit=20, limit="20").limit == 20
    with pytest.raises(ApiError) as caught:
        parse(max_limit=20, limit="21")
    assert caught.value.details["maximum"] == 20


def test_should_convert_dates_to_naive_utc():
    assert parse(start_date="2024-01-15T09:30:00Z").start == datetime(2024, 1, 15, 9, 30)
    assert parse(start_date="2024-01-15T11:30:00+02:00").start == datetime(2024, 1, 15, 9, 30)
    assert parse(start_date="2024-01-15T09:30:00").start == datetime(2024, 1, 15, 9, 30)
    assert parse(end_date="2024-01-15").end == datetime(2024, 1, 15)
    assert parse(start_date="2024-01-15T09:30:00.123456-05:00").start == datetime(
        2024, 1, 15, 14, 30, 0, 123456
    )


def test_should_reject_an_end_before_the_start_but_allow_an_empty_period():
    error = error_of(start_date="2024-01-15T10:00:00Z", end_date="2024-01-15T09:00:00Z")
    assert error.details["parameter"] == "end_date"
    same = parse(start_date="2024-01-15T10:00:00Z", end_date="2024-01-15T12:00:00+02:00")
    assert same.start == same.end


def test_should_map_seed_003_severities_to_the_spec_words():
    assert [parse(severity=s).severity for s in ("low", "medium", "high", "critical")] == [
        "info",
        "warning",
        "error",
        "critical",
    ]
    assert parse(severity="WARNING").severity == "warning"


def test_should_read_only_the_parameters_a_route_declares():
    assert parse(names=("hours",), limit="nonsense", hours="2") == Params(hours=2.0)


def test_should_reject_a_parameter_given_twice():
    with pytest.raises(ApiError) as caught:
        parse_params({"limit": ["1", "2"]}, ("limit",), 1000)
    assert caught.value.details["parameter"] == "limit"


def test_should_take_the_endpoint_from_either_seeds_address():
    assert parse_endpoint("GET /books/<int:pk>/") == ("GET", "/books/<int:pk>/")
    assert parse_endpoint("books/<int:pk>/") == (None, "/books/<int:pk>/")
    detail = parse(names=("method",), path="api/transactions", method="get")
    assert (detail.method, detail.path) == ("GET", "/api/transactions")
    assert parse(names=("method",), path="POST /api/auth/login").method == "POST"
    error_of(names=("method",), path="POST /login", method="GET")


def test_should_parse_tokens_once_and_warn_without_echoing_them(caplog):
    with caplog.at_level(logging.WARNING, logger="otel_perf"):
        table = TokenTable.parse("alpha:admin, beta:read,gamma-secret, :read,delta:root,a:b:read")
    assert table.role_of("alpha") == "admin" and table.role_of("beta") == "read"
    assert table.role_of("a:b") == "read"  # a token may contain ':'
    assert table.role_of("gamma-secret") is None and table.role_of("") is None
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "OTEL_PERF_API_TOKENS" in message and "3 unusable" in message
    assert "gamma" not in message and "delta" not in message


def test_should_never_put_a_token_in_a_principal():
    table = TokenTable.parse("s3cr3t-token:read")
    principal = from_headers({"authorization": "Bearer s3cr3t-token"}, table, "10.0.0.1")
    assert principal.role == "read" and principal.authenticated
    assert "s3cr3t" not in principal.identity
    wrong = from_headers({"authorization": "Bearer nope"}, table, "10.0.0.1")
    assert (wrong.role, wrong.identity, wrong.bad_token) == ("anonymous", "ip:10.0.0.1", True)
    assert bearer_token({"authorization": "Basic abc"}) is None


def test_should_encode_json_as_the_spec_writes_it():
    body = dumps({"a": float("nan"), "b": datetime(2024, 1, 15, 10, 30), "c": [float("inf")]})
    assert body == b'{"a": null, "b": "2024-01-15T10:30:00Z", "c": [null]}'
    assert utc_timestamp(datetime(2024, 1, 15, 10, 30, 0, 999)) == "2024-01-15T10:30:00Z"


def test_should_document_every_route_and_parameter_in_openapi():
    document = build_openapi(max_limit=77)
    spec = document["paths"][SPEC_PREFIX]["get"]
    assert [p["name"] for p in spec["parameters"]] == list(SPEC_ROUTES["stats"].params)
    limit = next(p for p in spec["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 77 and limit["schema"]["default"] == 50
    for route in REST_ROUTES:
        operation = document["paths"][REST_PREFIX + route.path][route.method.lower()]
        names = [p["name"] for p in operation["parameters"] if p["in"] == "query"]
        assert names == list(route.params)
        assert ("security" in operation) == (route.access != "public")
