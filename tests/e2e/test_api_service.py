"""The standalone service in-process (httpx over ASGI) against a real store in a temp dir:
roles, every error path, rate limits, caching, date filters and the store connection."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from email.utils import formatdate, parsedate_to_datetime

import duckdb
import httpx
import pytest

from otel_perf.settings import Settings
from query_api.asgi import create_app
from query_api.ratelimit import RateLimiter
from tests.unit.test_store import fill

TOKENS = "admin-secret-1:admin,read-secret-2:read"
ADMIN = {"Authorization": "Bearer admin-secret-1"}
READ = {"Authorization": "Bearer read-secret-2"}
SPEC = "/graphql/performance/"
REST = "/api/v1/performance/"


class Clock:
    """Real time at the start, then moved only by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Api:
    def __init__(self, store: str, limits: dict | None = None, **settings) -> None:
        self.clock = Clock()
        self.settings = Settings(store=store, api_tokens=TOKENS, **settings)
        self.app = create_app(
            self.settings,
            clock=self.clock,
            limiter=RateLimiter(limits, clock=self.clock),
        )
        self.service = self.app.state.service

    def request(self, method: str, url: str, headers: dict | None = None) -> httpx.Response:
        async def go():
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.request(method, url, headers=headers)

        return asyncio.run(go())

    def get(self, url: str, headers: dict | None = None) -> httpx.Response:
        return self.request("GET", url, headers)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("api") / "store")
    fill(path, requests=6)
    return path


@pytest.fixture
def api(store):
    api = Api(store)
    yield api
    api.service.close()


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["error"]["code"] == code
    assert body["timestamp"].endswith("Z")
    assert response.headers["cache-control"] == "no-store"
    return body["error"]


def test_should_answer_the_spec_envelope_for_each_action(api):
    for action, key in (("stats", "overview"), ("alerts", "alerts"), ("slow_queries", None)):
        response = api.get(f"{SPEC}?action={action}", READ)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"status", "data", "timestamp"} and body["status"] == "success"
        assert key is None or key in body["data"]
    assert api.get(SPEC, READ).json()["data"]["overview"]["total_requests"] == 6


def test_should_deny_anonymous_callers_with_the_spec_body(api):
    error = assert_error(api.get(SPEC), 403, "PERMISSION_DENIED")
    assert error == {
        "code": "PERMISSION_DENIED",
        "message": "Insufficient permissions to access performance data",
    }
    # Parameter errors are not disclosed before the caller is allowed in.
    assert_error(api.get(f"{SPEC}?action=nope"), 403, "PERMISSION_DENIED")
    assert_error(api.get(REST + "summary"), 403, "PERMISSION_DENIED")


def test_should_say_when_a_token_is_wrong(api):
    response = api.get(SPEC, {"Authorization": "Bearer not-a-token"})
    assert_error(response, 403, "PERMISSION_DENIED")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_should_serve_health_to_everyone_and_analysis_to_admins_only(api):
    assert api.get(REST + "health").status_code == 200
    assert_error(api.request("POST", REST + "analyze"), 403, "PERMISSION_DENIED")
    assert_error(api.request("POST", REST + "analyze", READ), 403, "PERMISSION_DENIED")
    analysis = api.request("POST", REST + "analyze", ADMIN)
    assert analysis.status_code == 200 and analysis.headers["cache-control"] == "no-store"


def test_should_open_reports_to_anonymous_callers_only_when_public(store):
    api = Api(store, api_public=True)
    try:
        assert api.get(SPEC).status_code == 200
        assert_error(api.request("POST", REST + "analyze"), 403, "PERMISSION_DENIED")
    finally:
        api.service.close()


def test_should_answer_every_rest_route(api):
    for path in (
        "summary",
        "endpoints?top_n=3",
        "endpoints/GET%20/items/%3Cint:pk%3E/",
        "endpoints/items/%3Cint:pk%3E/?method=GET&hours=2",
        "analyze/endpoint/items/%3Cint:pk%3E/?method=GET",
        "slow-requests?limit=20",
        "database?minutes=10",
        "users",
        "system-metrics?hours=24",
        "metrics?minutes=5",
        "report?hours=24&format=summary",
        "alerts?hours=24&severity=high",
    ):
        response = api.get(REST + path, ADMIN)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["status"] == "success"


def test_should_reject_bad_parameters_on_every_surface_route(api):
    for url, parameter in (
        (f"{SPEC}?action=invalid_action", "action"),
        (f"{SPEC}?limit=-1", "limit"),
        (f"{SPEC}?limit=1001", "limit"),
        (f"{SPEC}?offset=x", "offset"),
        (f"{SPEC}?start_date=tomorrow", "start_date"),
        (f"{SPEC}?start_date=2024-01-02&end_date=2024-01-01", "end_date"),
        (REST + "endpoints?top_n=0", "top_n"),
        (REST + "alerts?severity=extreme", "severity"),
        (REST + "report?format=pdf", "format"),
        (REST + "endpoints/%20?method=GET", "path"),
        (REST + "database?minutes=abc", "minutes"),
        (REST + "system-metrics?hours=-1", "hours"),
    ):
        error = assert_error(api.get(url, READ), 400, "INVALID_PARAMETER")
        assert error["details"]["parameter"] == parameter, url


def test_should_filter_by_dates_given_with_z_or_an_offset(api):
    def total(query: str) -> int:
        response = api.get(f"{SPEC}?action=stats&{query}", READ)
        assert response.status_code == 200, response.text
        return response.json()["data"]["overview"]["total_requests"]

    assert total("start_date=2000-01-01T00:00:00Z") == 6
    assert total("start_date=2999-01-01T00:00:00%2B02:00") == 0
    assert total("end_date=2000-01-01") == 0


def test_should_send_rate_limit_headers_and_refuse_with_429(store):
    api = Api(store, limits={"anonymous": 2, "authenticated": 3, "admin": 4})
    try:
        statuses = [api.get(REST + "health").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        refused = api.get(REST + "health")
        assert_error(refused, 429, "RATE_LIMITED")
        assert refused.headers["x-ratelimit-limit"] == "2"
        assert refused.headers["x-ratelimit-remaining"] == "0"
        reset = int(refused.headers["x-ratelimit-reset"])
        assert int(refused.headers["retry-after"]) == max(1, reset - int(api.clock.now))
        first = api.get(SPEC, READ)
        assert first.headers["x-ratelimit-limit"] == "3"
        assert first.headers["x-ratelimit-remaining"] == "2"
        assert api.get(SPEC, ADMIN).headers["x-ratelimit-limit"] == "4"
        api.clock.now = reset
        assert api.get(REST + "health").status_code == 200
    finally:
        api.service.close()


def test_should_cache_per_role_with_etag_and_answer_304(api):
    first = api.get(f"{SPEC}?action=stats&limit=5", READ)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "private, max-age=60"
    assert first.headers["vary"] == "Authorization, Cookie"
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["last-modified"].endswith("GMT")
    api.clock.now += 20
    again = api.get(f"{SPEC}?action=stats&limit=05", READ)  # the same normalized parameters
    assert again.content == first.content
    assert again.headers["cache-control"] == "private, max-age=40"
    not_modified = api.get(f"{SPEC}?action=stats&limit=5", {**READ, "If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag and "x-ratelimit-limit" in not_modified.headers
    cached = len(api.service.cache)
    api.get(f"{SPEC}?action=stats&limit=5", ADMIN)
    assert len(api.service.cache) == cached + 1  # never shared across roles
    api.clock.now += 41
    fresh = api.get(f"{SPEC}?action=stats&limit=5", READ)
    assert fresh.json()["timestamp"] != first.json()["timestamp"]


def test_should_answer_304_to_if_modified_since_unless_if_none_match_decides(api):
    first = api.get(f"{SPEC}?action=alerts", READ)
    last_modified = first.headers["last-modified"]
    api.clock.now += 5
    since = {**READ, "If-Modified-Since": last_modified}
    assert api.get(f"{SPEC}?action=alerts", since).status_code == 304
    earlier = formatdate(parsedate_to_datetime(last_modified).timestamp() - 1, usegmt=True)
    changed = api.get(f"{SPEC}?action=alerts", {**READ, "If-Modified-Since": earlier})
    assert changed.status_code == 200 and changed.content == first.content
    # A date that does not parse is ignored (RFC 9110): the full answer.
    odd = api.get(f"{SPEC}?action=alerts", {**READ, "If-Modified-Since": "yesterday"})
    assert odd.status_code == 200
    # So is a date later than the server's clock (RFC 9110 §13.1.3).
    future = formatdate(api.clock.now + 3600, usegmt=True)
    ahead = api.get(f"{SPEC}?action=alerts", {**READ, "If-Modified-Since": future})
    assert ahead.status_code == 200 and ahead.content == first.content
    # If-None-Match, when sent, decides alone: another ETag means 200 whatever the date says.
    both = {**since, "If-None-Match": '"another"'}
    assert api.get(f"{SPEC}?action=alerts", both).status_code == 200
    # Once the 30 s lifetime is over the result is computed again: a later Last-Modified.
    api.clock.now += 30
    again = api.get(f"{SPEC}?action=alerts", since)
    assert again.status_code == 200 and again.headers["last-modified"] != last_modified


def test_should_use_the_spec_lifetimes(api):
    lifetimes = {
        action: api.get(f"{SPEC}?action={action}", READ).headers["cache-control"]
        for action in ("stats", "alerts", "slow_queries")
    }
    assert lifetimes == {
        "stats": "private, max-age=60",
        "alerts": "private, max-age=30",
        "slow_queries": "private, max-age=120",
    }


def test_should_log_every_access_without_the_token(api, caplog):
    with caplog.at_level(logging.INFO, logger="otel_perf.access"):
        api.get(SPEC, READ)
        api.get(SPEC)
        api.get(REST + "health")
    lines = [r.getMessage() for r in caplog.records if r.name == "otel_perf.access"]
    assert len(lines) == 2
    assert "role=read" in lines[0] and "report=stats" in lines[0] and "status=200" in lines[0]
    assert "token:read:" in lines[0] and "read-secret" not in caplog.text
    assert "role=anonymous" in lines[1] and "status=403" in lines[1]


def test_should_see_rows_committed_after_the_reader_opened(tmp_path):
    store = str(tmp_path / "store")
    api = Api(store)
    try:
        missing = assert_error(api.get(SPEC, READ), 503, "STORE_UNAVAILABLE")
        assert "no otel-perf store" in missing["details"]["reason"]
        fill(store, requests=2)  # the store appears: the next request opens it
        assert api.get(SPEC, READ).json()["data"]["overview"]["total_requests"] == 2
        fill(store, requests=3)  # committed while the service keeps its connection open
        api.clock.now += 61
        assert api.get(SPEC, READ).json()["data"]["overview"]["total_requests"] == 5
    finally:
        api.service.close()


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(60)
"""


def test_should_answer_503_while_another_process_holds_a_duckdb_file(tmp_path):
    path = str(tmp_path / "perf.duckdb")
    fill(path, requests=1)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, path], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        api = Api(path)
        error = assert_error(api.get(SPEC, READ), 503, "STORE_UNAVAILABLE")
        assert "lock" in error["details"]["reason"].lower()
    finally:
        holder.kill()
        holder.wait()
    # Released: the file store is opened per request, so it is served at once.
    assert api.get(SPEC, READ).status_code == 200


def test_should_answer_500_without_internals_when_a_report_fails(tmp_path, caplog):
    # A store whose requests table lacks every column the report reads: a real failure.
    path = str(tmp_path / "broken.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE requests (x INTEGER)")
    con.close()
    api = Api(path)
    with caplog.at_level(logging.ERROR, logger="otel_perf.api"):
        response = api.get(SPEC, READ)
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert error == {
        "code": "INTERNAL_ERROR",
        "message": "An internal error occurred while processing the request",
    }
    assert "requests" not in response.text
    assert any(r.exc_info for r in caplog.records)  # the cause is in the server's log


def test_should_answer_unknown_paths_and_methods_in_the_envelope(api):
    assert_error(api.get(REST + "nothing-here"), 404, "NOT_FOUND")
    assert_error(api.get("/favicon.ico"), 404, "NOT_FOUND")
    refused = api.request("DELETE", SPEC)
    assert_error(refused, 405, "METHOD_NOT_ALLOWED")
    assert sorted(refused.headers["allow"].split(", ")) == ["GET", "HEAD"]  # a set's order
    assert_error(api.request("POST", "/openapi.json"), 405, "METHOD_NOT_ALLOWED")


def test_should_rate_limit_unknown_paths_wrong_methods_and_the_openapi_document(store):
    """Every response carries the X-RateLimit-* headers, so each of these counts too."""
    api = Api(store, limits={"anonymous": 4, "authenticated": 3, "admin": 5})
    try:
        answers = [
            api.get(REST + "nothing-here"),
            api.request("DELETE", SPEC),
            api.request("GET", REST + "analyze"),  # a POST route
            api.get("/openapi.json"),
        ]
        assert [a.status_code for a in answers] == [404, 405, 405, 200]
        for remaining, answer in zip(("3", "2", "1", "0"), answers, strict=True):
            assert answer.headers["x-ratelimit-limit"] == "4"
            assert answer.headers["x-ratelimit-remaining"] == remaining
            assert int(answer.headers["x-ratelimit-reset"]) > api.clock.now
            assert "retry-after" not in answer.headers
        assert answers[3].headers["content-type"] == "application/json"
        for method, url in (("GET", "/openapi.json"), ("GET", "/nope"), ("PUT", SPEC)):
            refused = api.request(method, url)
            assert_error(refused, 429, "RATE_LIMITED")
            assert refused.headers["x-ratelimit-remaining"] == "0"
            assert int(refused.headers["retry-after"]) >= 1
        # A token's own budget: its 404 says 3, not the anonymous 4.
        assert api.get(REST + "nope", READ).headers["x-ratelimit-limit"] == "3"
    finally:
        api.service.close()


def test_should_log_unknown_paths_by_a_name_never_by_the_path(api, caplog):
    with caplog.at_level(logging.INFO, logger="otel_perf.access"):
        api.get(REST + "read-secret-2/leaked", READ)
        api.request("DELETE", REST + "summary", READ)
        api.request("POST", SPEC)
        api.get("/openapi.json")
    lines = [r.getMessage() for r in caplog.records if r.name == "otel_perf.access"]
    assert len(lines) == 3  # the OpenAPI document is public, like health: not logged
    assert "report=unknown" in lines[0] and "status=404" in lines[0]
    assert "report=summary" in lines[1] and "status=405" in lines[1]
    assert "report=(spec)" in lines[2] and "status=405" in lines[2]
    assert "read-secret" not in caplog.text and "leaked" not in caplog.text


def test_should_name_a_report_that_is_not_registered(api):
    # Every route of this version has its report, so the service is asked directly for one
    # that a later issue would add (the route table gains the row before the report lands).
    from query_api.auth import Principal
    from query_api.reports import REST_REPORTS
    from query_api.routes import Route
    from query_api.service import ApiRequest

    route = Route("not_yet", "not-yet", (), 60, "A report of a later issue")
    assert route.report not in REST_REPORTS
    reader = Principal("read", "token:read:test", authenticated=True)
    response = api.service.handle(ApiRequest(route, {}, {}, reader))
    body = response.json()
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    assert body["status"] == "success" and body["data"] == {}
    assert "not_yet" in body["note"] and body["timestamp"].endswith("Z")


def test_should_serve_openapi_from_the_route_table(api):
    document = api.get("/openapi.json").json()
    assert SPEC in document["paths"] and REST + "endpoints/{path}" in document["paths"]
    limit = document["paths"][SPEC]["get"]["parameters"][1]
    assert limit["name"] == "limit" and limit["schema"]["maximum"] == 1000
