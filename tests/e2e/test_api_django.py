"""The Django surface in the example app, launched as users launch it (gunicorn under
opentelemetry-instrument), over real HTTP: Django's own users and sessions decide the role."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http import client as http_client

import pytest

from tests.e2e.conftest import APP_DIR, exhaust_anonymous_budget, wait_for_rows

pytestmark = pytest.mark.e2e

TOKEN = "django-admin-token"
READ_TOKEN = "django-read-token"
PASSWORD = "pw-for-tests-only"
CALLER = ("127.0.0.2", 0)  # its own loopback address: an anonymous budget no other test uses

USERS = f"""
from django.contrib.auth.models import Permission, User
reader = User.objects.create_user("perf-reader", password="{PASSWORD}")
reader.user_permissions.add(Permission.objects.get(codename="view_performance"))
User.objects.create_user("perf-staff", password="{PASSWORD}", is_staff=True)
User.objects.create_user("perf-super", password="{PASSWORD}", is_superuser=True)
User.objects.create_user("perf-nobody", password="{PASSWORD}")
"""


def http(url: str, headers: dict | None = None, method: str = "GET", data: bytes | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def raw(base: str, path: str, headers: dict | None = None, method: str = "GET", source=None):
    """One request, redirects not followed, optionally from another loopback address."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    con = http_client.HTTPConnection(host, int(port), timeout=30, source_address=source)
    try:
        con.request(method, path, headers=headers or {})
        response = con.getresponse()
        return response.status, response.headers, response.read()  # any-case names
    finally:
        con.close()


def login(base: str, username: str) -> dict:
    body = json.dumps({"username": username, "password": PASSWORD}).encode()
    status, headers, _ = http(base + "/login/", method="POST", data=body)
    assert status == 200
    cookie = next(c for c in headers.get_all("Set-Cookie") if c.startswith("sessionid="))
    return {"Cookie": cookie.split(";")[0]}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from tests.e2e.conftest import App

    tmp = tmp_path_factory.mktemp("django_api")
    app = App(
        tmp, workers=1, extra_env={"OTEL_PERF_API_TOKENS": f"{TOKEN}:admin,{READ_TOKEN}:read"}
    )
    app.prepare()
    plain = {k: v for k, v in app.env.items() if not k.startswith("OTEL_")}
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", USERS], cwd=APP_DIR, env=plain, check=True
    )
    app.start()
    for _ in range(3):
        assert app.get("/books/") == 200
    assert wait_for_rows(app.store, 3) >= 3
    yield app
    app.stop()


def test_should_deny_anonymous_users_and_users_without_the_permission(app):
    spec = app.base + "/graphql/performance/?action=stats"
    for headers in ({}, login(app.base, "perf-nobody"), {"Authorization": "Bearer wrong"}):
        status, response_headers, body = http(spec, headers)
        assert status == 403
        document = json.loads(body)
        assert document["status"] == "error" and document["timestamp"].endswith("Z")
        assert document["error"] == {
            "code": "PERMISSION_DENIED",
            "message": "Insufficient permissions to access performance data",
        }
        assert response_headers["X-RateLimit-Limit"] in ("100", "500")


def test_should_let_permitted_users_read_and_staff_administer(app):
    reader, staff = login(app.base, "perf-reader"), login(app.base, "perf-staff")
    status, headers, body = http(app.base + "/graphql/performance/?action=stats", reader)
    assert status == 200, body
    assert json.loads(body)["data"]["overview"]["total_requests"] >= 3
    assert headers["X-RateLimit-Limit"] == "500"
    assert "Cookie" in headers["Vary"] and "Authorization" in headers["Vary"]
    assert headers["Cache-Control"].startswith("private, max-age=")
    status, _, _ = http(app.base + "/graphql/performance/?action=stats", staff)
    assert status == 200
    status, headers, _ = http(app.base + "/graphql/performance/summary/", staff)
    assert status == 200 and headers["X-RateLimit-Limit"] == "1000"
    status, headers, _ = http(
        app.base + "/graphql/performance/summary/", login(app.base, "perf-super")
    )
    assert status == 200 and headers["X-RateLimit-Limit"] == "1000"  # superusers are admins


def test_should_give_a_read_token_reports_but_not_the_admin_analysis(app):
    reader = {"Authorization": f"Bearer {READ_TOKEN}"}
    status, headers, body = http(app.base + "/graphql/performance/?action=slow_queries", reader)
    assert status == 200 and "slow_queries" in json.loads(body)["data"]
    assert headers["X-RateLimit-Limit"] == "500"
    assert headers["Cache-Control"] == "private, max-age=120"
    status, _, body = http(app.base + "/graphql/performance/analyze/", reader, method="POST")
    assert status == 403 and json.loads(body)["error"]["code"] == "PERMISSION_DENIED"


def test_should_accept_bearer_tokens_beside_sessions(app):
    admin = {"Authorization": f"Bearer {TOKEN}"}
    status, headers, body = http(app.base + "/graphql/performance/?action=alerts&limit=5", admin)
    assert status == 200 and "alerts" in json.loads(body)["data"]
    status, _, _ = http(app.base + "/graphql/performance/analyze/", admin, method="POST")
    assert status == 200  # a bearer-token POST needs no CSRF token
    etag = headers["ETag"]
    status, _, body = http(
        app.base + "/graphql/performance/?action=alerts&limit=5", {**admin, "If-None-Match": etag}
    )
    assert status == 304 and body == b""


def test_should_keep_csrf_for_session_posts_and_reject_bad_parameters(app):
    staff = login(app.base, "perf-staff")
    status, headers, body = http(app.base + "/graphql/performance/analyze/", staff, method="POST")
    assert status == 403  # Django's CSRF check: a session POST without the token
    error = json.loads(body)["error"]  # in the spec's envelope, not Django's HTML page
    assert error["code"] == "PERMISSION_DENIED" and "CSRF" in error["details"]["reason"]
    assert headers["X-RateLimit-Limit"] == "1000"
    status, headers, body = http(app.base + "/graphql/performance/analyze/", staff)
    assert status == 405 and headers["Allow"] == "POST"
    document = json.loads(body)
    assert document["status"] == "error" and document["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "X-RateLimit-Remaining" in headers
    status, _, body = http(app.base + "/graphql/performance/?action=bogus", staff)
    assert status == 400
    assert json.loads(body)["error"]["details"]["allowed_values"] == [
        "stats",
        "alerts",
        "slow_queries",
    ]
    status, _, body = http(app.base + "/graphql/performance/endpoints/GET%20/books/", staff)
    assert status == 200 and json.loads(body)["status"] == "success"


def test_should_serve_health_to_anyone_and_record_no_report_request(app):
    status, _, _ = http(app.base + "/graphql/performance/health/")
    assert status == 200
    # The report endpoints are excluded paths: never counted as the app's requests.
    assert (
        wait_for_rows(
            app.store,
            1,
            "SELECT count(*) FROM requests WHERE path LIKE '/graphql/performance/%'",
            timeout=1,
        )
        == 0
    )


def test_should_answer_unknown_paths_below_the_include_in_the_envelope(app):
    """Not Django's HTML 404: the API's, with the rate-limit headers; APPEND_SLASH still works."""
    for headers, limit in (({}, "100"), (login(app.base, "perf-staff"), "1000")):
        for method in ("GET", "POST"):  # a session POST: a 404, not a CSRF page
            status, response_headers, body = raw(
                app.base, "/graphql/performance/nothing-here/", headers, method
            )
            assert status == 404, body
            assert response_headers["Content-Type"] == "application/json"
            document = json.loads(body)
            assert document["status"] == "error" and document["error"]["code"] == "NOT_FOUND"
            assert document["timestamp"].endswith("Z")
            assert response_headers["X-RateLimit-Limit"] == limit
            assert "X-RateLimit-Remaining" in response_headers
            assert "X-RateLimit-Reset" in response_headers
    # A report's path without its slash is redirected to it (CommonMiddleware's APPEND_SLASH);
    # an unknown one too, and then gets the 404 above.
    for path in ("/graphql/performance/summary", "/graphql/performance/nothing-here"):
        status, headers, _ = raw(app.base, path)
        assert status == 301 and headers["Location"] == path + "/"
    status, headers, _ = raw(app.base, "/graphql/performance/health")
    assert status == 301
    assert http(app.base + "/graphql/performance/health")[0] == 200  # followed


def test_should_refuse_an_anonymous_caller_over_100_a_minute_over_http(app):
    """The Django surface's counters (per process: the app runs one worker), exhausted from
    127.0.0.2 so that the anonymous budget of the other tests' 127.0.0.1 stays untouched."""
    _, headers, _ = exhaust_anonymous_budget(
        lambda: raw(app.base, "/graphql/performance/health/", source=CALLER)
    )
    # Every answer to this caller is now the 429, a report's 403 and the 404 included.
    reset = int(headers["X-RateLimit-Reset"])
    for path in ("/graphql/performance/?action=stats", "/graphql/performance/nothing-here/"):
        status, headers, _ = raw(app.base, path, source=CALLER)
        if time.time() >= reset - 0.5:
            break  # the window ended meanwhile: a fresh budget
        assert status == 429 and headers["X-RateLimit-Remaining"] == "0", path
