"""Who and what a request was for: user pseudonyms, tenants, Django's OTEL_PERF dict, and
functions recorded outside requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import urllib.request

import pytest

from otel_perf import demo
from tests.e2e.conftest import (
    APP_DIR,
    columns_containing,
    prepare_database,
    query,
    wait_for_rows,
)

pytestmark = pytest.mark.e2e

SECRET_KEY = "example-only-not-secret"  # examples/django_app/mysite/settings.py


def expected_pseudonym(user_id: int) -> str:
    """Computed here from the documented construction, not with the product's helper."""
    key = hmac.new(SECRET_KEY.encode(), b"otel-perf user pseudonym v1", hashlib.sha256).digest()
    return "u_" + hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()[:16]


def session_opener(app) -> tuple[urllib.request.OpenerDirector, int]:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    body = json.dumps({"username": "reader", "password": "example-password"}).encode()
    req = urllib.request.Request(
        app.base + "/login/", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with opener.open(req, timeout=30) as resp:
        return opener, json.loads(resp.read())["id"]


def test_user_pseudonym_only_when_the_request_loaded_the_user(make_app):
    with make_app(server="runserver") as app:
        opener, user_id = session_opener(app)
        for path in ("/me/", "/books/"):
            with opener.open(app.base + path, timeout=30) as resp:
                assert resp.status == 200
        assert app.get("/me/") == 401  # anonymous
        assert wait_for_rows(app.store, 4) == 4
    rows = dict(
        query(app.store, "SELECT path || ':' || coalesce(status_code, 0), user_id FROM requests")
    )
    assert rows["/me/:200"] == expected_pseudonym(user_id)
    assert rows["/login/:200"] == expected_pseudonym(user_id)  # login() set request.user
    assert rows["/books/:200"] is None  # the view never touched request.user
    assert rows["/me/:401"] is None
    # Not evaluating the lazy user means no session/user queries were added to /books/.
    assert query(app.store, "SELECT db_count FROM requests WHERE path = '/books/'") == [(1,)]
    assert columns_containing(app.store, "reader") == []


def test_raw_user_ids_are_opt_in(make_app):
    with make_app(server="runserver", extra_env={"OTEL_PERF_USER_IDS": "raw"}) as app:
        opener, user_id = session_opener(app)
        with opener.open(app.base + "/me/", timeout=30) as resp:
            assert resp.status == 200
        assert wait_for_rows(app.store, 2) == 2
    assert query(app.store, "SELECT user_id FROM requests WHERE path = '/me/'") == [(str(user_id),)]


def test_tenant_header_and_django_settings_dict(make_app):
    # OTEL_PERF = {"slow_request_ms": ...} in Django settings, tiny: every request is slow...
    env = {"EXAMPLE_OTEL_PERF_SLOW_REQUEST_MS": "0.001"}
    with make_app(server="gunicorn", workers=1, extra_env=env) as app:
        assert app.get("/books/", {"X-Tenant-ID": "acme"}) == 200
        assert app.get("/books/1/") == 200
        assert wait_for_rows(app.store, 2) == 2
    rows = query(app.store, "SELECT path, tenant, is_slow FROM requests ORDER BY path")
    assert rows == [("/books/", "acme", True), ("/books/1/", None, True)]
    assert "otel-perf: slow request GET /books/ took" in app.log()

    # ...unless the environment says otherwise: it wins over the Django dict.
    env["OTEL_PERF_SLOW_REQUEST_MS"] = "60000"
    with make_app(server="gunicorn", workers=1, extra_env=env) as app:
        assert app.get("/books/") == 200
        assert wait_for_rows(app.store, 1) == 1
    assert query(app.store, "SELECT is_slow FROM requests") == [(False,)]


def test_tracked_management_command_is_an_operation(tmp_path):
    store = str(tmp_path / "store")
    env = demo.app_environment(store, str(tmp_path / "app.sqlite3"))
    prepare_database(env)
    result = subprocess.run(
        [demo.bin_path("opentelemetry-instrument"), sys.executable, "manage.py", "library_report"],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("books") == 10
    rows = query(store, "SELECT name, kind, db_count, n_plus_one_count FROM operations")
    assert rows == [("library_report", "command", 11, 1)]
    assert query(store, "SELECT count(*) FROM requests") == [(0,)]
