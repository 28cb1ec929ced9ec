"""The dashboard in a real browser: headless Chromium (Debian's) driven by selenium through
Debian's chromedriver, against a real ``otel-perf serve`` over a store filled by a real
instrumented run of the example app (REST, N+1, errors, GraphQL), alerts from the real
evaluator.

What the page shows is checked against the JSON reports the same service gives for the same
period (each figure carries its raw value in ``data-value``; the text is checked for format).
The Django surface is checked on the running app: the dashboard view is refused to
anonymous users, served to a token holder, and none of its requests is recorded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import numpy
import pytest

from otel_perf.storage import parse_address
from otel_perf.storage.session import StoreSession
from tests.e2e.conftest import APP_DIR, REPO, query, start_serve, wait_for_rows
from tests.e2e.test_graphql import post

sys.path.insert(0, str(APP_DIR))
from gql import documents as D  # noqa: E402

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
READ_TOKEN = "dash-read-token"
ADMIN_TOKEN = "dash-admin-token"
TRACE_TEMPLATE = "http://jaeger.example:16686/trace/{trace_id}"
SLOW_QUERY_MS = 300
PLAN = {"/books/": 6, "/books/n-plus-one/": 4, "/books/optimized/": 3, "/error/": 2}
MARKER = 1  # one more /books/optimized/ after the Django dashboard's requests
GRAPHQL = [(D.SLOW, {"ms": 350})] * 2 + [(D.AUTHORS_N_PLUS_ONE, None)] * 2 + [(D.BOOK_COUNT, None)]
DOCS_IMAGES = REPO / "docs" / "images"


def _need(path: str, what: str) -> None:
    if not (os.path.exists(path) or shutil.which(path)):
        message = f"{what} not found at {path} (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def http(url: str, headers: dict | None = None, data: bytes | None = None):
    """(status, headers, body) without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A store filled by the instrumented example app; the Django dashboard checked on it."""
    from tests.e2e.conftest import App

    tmp = tmp_path_factory.mktemp("dashboard")
    env = {
        "OTEL_PERF_SLOW_QUERY_MS": str(SLOW_QUERY_MS),
        "OTEL_PERF_MEMORY_WARNING_MB": "1",  # every request: a memory_warning alert
        "OTEL_PERF_API_TOKENS": f"{READ_TOKEN}:read",
    }
    app = App(tmp, workers=1, extra_env=env).prepare()
    app.start()
    django = {}
    try:
        for path, times in PLAN.items():
            for _ in range(times):
                app.get(path)
        for document, variables in GRAPHQL:
            post(app.base, "/graphql/", document, variables)
        sent = sum(PLAN.values()) + len(GRAPHQL)
        assert wait_for_rows(app.store, sent) == sent, app.log()
        # The Django surface: refused anonymously, served with a token, never recorded.
        page = app.base + "/graphql/performance/dashboard/"
        django["anonymous"] = http(page)
        django["token"] = http(page, {"Authorization": f"Bearer {READ_TOKEN}"})
        django["static"] = http(app.base + "/graphql/performance/dashboard/static/dashboard.js")
        django["report"] = http(
            app.base + "/graphql/performance/timeseries/?hours=1",
            {"Authorization": f"Bearer {READ_TOKEN}"},
        )
        app.get("/books/optimized/")  # a marker: once it is stored, all before it is too
        assert wait_for_rows(app.store, sent + MARKER) >= sent + MARKER
        time.sleep(0.7)  # two flush intervals more
        django["stored"] = query(app.store, "SELECT count(*) FROM requests")[0][0]
    finally:
        app.stop()
    session = StoreSession(parse_address(app.store))
    try:
        from otel_perf.settings import Settings
        from otel_perf.storage.rows import Columns
        from query_api.alert_evaluator import evaluate

        last = session.con.execute("SELECT max(timestamp) FROM requests").fetchone()[0]
        settings = Settings(store=app.store, slow_query_ms=SLOW_QUERY_MS, memory_warning_mb=1.0)
        columns = Columns("alerts")
        for alert in evaluate(session.con, settings, last + timedelta(seconds=1), None):
            columns.add(alert.row())
        session.insert([columns])
    finally:
        session.close()
    return app.store, sent + MARKER, django


@pytest.fixture(scope="module")
def server(run, tmp_path_factory):
    store = run[0]
    tmp = tmp_path_factory.mktemp("serve")
    env = {
        **os.environ,
        "OTEL_PERF_STORE": store,
        "OTEL_PERF_API_TOKENS": f"{ADMIN_TOKEN}:admin,{READ_TOKEN}:read",
        "OTEL_PERF_SLOW_QUERY_MS": str(SLOW_QUERY_MS),
        "OTEL_PERF_TRACE_URL_TEMPLATE": TRACE_TEMPLATE,
    }
    proc, base = start_serve(tmp / "serve.log", env)
    yield base
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    _need(CHROMIUM, "Chromium")
    _need(CHROMEDRIVER, "chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1366,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def report(base: str, name: str, query: dict, token: str = READ_TOKEN) -> dict:
    url = f"{base}/api/v1/performance/{name}?{urllib.parse.urlencode(query)}"
    status, _, body = http(url, {"Authorization": f"Bearer {token}"})
    assert status == 200, body
    return json.loads(body)["data"]


def wait_loaded(driver, after: int = 0, timeout: float = 20.0) -> int:
    """Until the page finished a refresh numbered above ``after``; returns its number."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = driver.execute_script(
            "return [document.body.dataset.state, document.body.dataset.refreshes]"
        )
        if state[0] == "loaded" and state[1] and int(state[1]) > after:
            return int(state[1])
        time.sleep(0.05)
    raise AssertionError(f"the dashboard did not finish loading: {state}")


def value(driver, element_id: str):
    raw = driver.find_element("id", element_id).get_attribute("data-value")
    return None if raw in (None, "") else float(raw)


def text(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def page_start(driver) -> str:
    """The start_date the page asked its reports for (from the resource timing entries)."""
    urls = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(u => u.includes('/api/v1/performance/summary'))"
    )
    return urllib.parse.parse_qs(urllib.parse.urlsplit(urls[-1]).query)["start_date"][0]


def find(driver, css: str, timeout: float = 10.0):
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    located = expected_conditions.presence_of_element_located(("css selector", css))
    return WebDriverWait(driver, timeout).until(located)


def click(driver, css: str) -> None:
    """Click what ``css`` finds, scrolled to the middle of the window (the header is sticky)."""
    element = driver.find_element("css selector", css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def severe(driver) -> list[dict]:
    entries = driver.get_log("browser")
    found = [entry for entry in entries if entry["level"] == "SEVERE"]
    if found:
        print(entries)
    return found


def screenshot(driver, path: Path, width: int) -> None:
    driver.set_window_size(width, 900)
    time.sleep(0.4)  # the page redraws its charts 300 ms after a resize
    wait_loaded(driver, 0)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(height + 140, 6000))
    time.sleep(0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))


@pytest.fixture(scope="module")
def signed_in(browser, server):
    """The anonymous browser gets the login form; a read token signs it in."""
    browser.get(server + "/")
    assert browser.find_elements("id", "token"), "anonymous: the login form"
    assert not browser.find_elements("id", "kpis")
    browser.find_element("id", "token").send_keys("not-a-token")
    browser.find_element("css selector", "form button").click()
    assert "Unknown token" in find(browser, ".login-error").text
    find(browser, "#token").send_keys(READ_TOKEN)
    browser.get_log("browser")  # the refusals above are logged as errors: not the page's
    browser.find_element("css selector", "form button").click()
    wait_loaded(browser)
    return browser


def test_should_refuse_anonymous_users(server, run):
    status, headers, body = http(server + "/")
    assert status == 401 and b'name="token"' in body and b"otel-perf-config" not in body
    assert http(server + "/api/v1/performance/timeseries")[0] == 403
    status, headers, body = http(server + "/login", data=b"token=wrong")
    assert status == 401 and "set-cookie" not in {k.lower() for k in headers}
    status, headers, _ = http(server + "/login", data=f"token={READ_TOKEN}".encode())
    cookie = headers["Set-Cookie"]
    assert status == 303 and "HttpOnly" in cookie and "SameSite=strict" in cookie
    jar = {"Cookie": cookie.split(";")[0]}
    status, headers, body = http(server + "/", jar)
    assert status == 200 and b"otel-perf-config" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert http(server + "/api/v1/performance/timeseries", jar)[0] == 200
    # The cookie is for reading only: the admin POST needs a real Authorization header.
    admin = {"Cookie": f"otel_perf_token={ADMIN_TOKEN}"}
    request = urllib.request.Request(
        server + "/api/v1/performance/analyze", data=b"", headers=admin, method="POST"
    )
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("a cookie alone ran an admin POST")
    except urllib.error.HTTPError as error:
        assert error.code == 403
    # Static files hold nothing secret; unknown names are 404, never a file elsewhere.
    assert http(server + "/dashboard/static/dashboard.js")[0] == 200
    assert http(server + "/dashboard/static/..%2Fauth.py")[0] == 404


def test_should_serve_the_django_dashboard_without_recording_it(run):
    _, sent, django = run
    status, headers, _ = django["anonymous"]
    assert status == 302 and "login" in headers["Location"]
    status, headers, body = django["token"]
    assert status == 200 and b"otel-perf-config" in body
    config = json.loads(re.search(rb'id="otel-perf-config">(.*?)</script>', body).group(1))
    assert config["api"] == "/graphql/performance/" and config["suffix"] == "/"
    assert django["static"][0] == 200 and django["report"][0] == 200
    assert django["stored"] == sent  # the requests sent and the marker; nothing else


def test_should_show_the_reports_figures(signed_in, server, run, tmp_path):
    driver = signed_in
    store, sent, _ = run
    start = page_start(driver)
    period = {"start_date": start}
    summary = report(server, "summary", period)
    series = report(server, "timeseries", period)
    assert summary["total_requests"] == sent
    assert value(driver, "kpi-requests") == sent and text(driver, "kpi-requests") == str(sent)
    assert value(driver, "kpi-errors") == summary["error_rate"]
    assert text(driver, "kpi-errors") == f"{summary['error_rate'] * 100:.2f}%"
    for name in ("p50", "p95", "p99"):
        assert value(driver, f"kpi-{name}") == series["totals"][f"{name}_ms"]
        assert re.fullmatch(r"[0-9.,]+ (ms|s)", text(driver, f"kpi-{name}"))
    assert value(driver, "kpi-rate") == series["totals"]["rate_per_min"]
    # The report itself against numpy over the stored durations (linear interpolation, as
    # quantile_cont), and the rate against the count over the page's hour.
    durations = [d for (d,) in query(store, "SELECT duration_ms FROM requests")]
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        assert series["totals"][f"{name}_ms"] == pytest.approx(
            numpy.percentile(durations, q), abs=1e-3
        )
    assert series["totals"]["rate_per_min"] == pytest.approx(sent / 60.0, abs=0.01)
    assert sum(p["count"] for p in series["points"]) == sent
    # One-minute buckets over the hour, empty ones included (count 0, latencies unknown).
    assert series["bucket_seconds"] == 60 and 60 <= len(series["points"]) <= 62
    assert any(p["count"] == 0 and p["p95_ms"] is None for p in series["points"])
    assert value(driver, "kpi-alerts") == summary["open_alerts"] > 0
    assert driver.find_element("id", "empty").is_displayed() is False
    # Charts: one path per percentile, drawn from the series' points.
    paths = driver.find_elements("css selector", "#chart-latency path[data-series]")
    assert [p.get_attribute("data-series") for p in paths] == ["p50_ms", "p95_ms", "p99_ms"]

    # Top endpoints: every row's figures are the endpoints report's.
    endpoints = report(server, "endpoints", {**period, "top_n": 50})["endpoints"]
    rows = driver.find_elements("css selector", "#endpoints tbody tr")
    assert len(rows) == len(endpoints) >= 4
    shown = {
        row.get_attribute("data-endpoint"): {
            cell.get_attribute("data-col"): cell.get_attribute("data-value")
            for cell in row.find_elements("css selector", "td")
        }
        for row in rows
    }
    for e in endpoints:
        assert float(shown[e["endpoint"]]["count"]) == e["count"]
        assert float(shown[e["endpoint"]]["p95_ms"]) == e["p95_ms"]
        assert float(shown[e["endpoint"]]["error_rate"]) == e["error_rate"]
    assert float(shown["GET /error/"]["error_rate"]) == 1.0
    # Sortable: by p95, slowest first, then fastest first.
    click(driver, '#endpoints button[data-key="p95_ms"]')
    cells = driver.find_elements("css selector", '#endpoints td[data-col="p95_ms"]')
    by_p95 = [float(c.get_attribute("data-value")) for c in cells]
    assert by_p95 == sorted(by_p95, reverse=True)
    click(driver, '#endpoints button[data-key="p95_ms"]')
    cells = driver.find_elements("css selector", '#endpoints td[data-col="p95_ms"]')
    assert [float(c.get_attribute("data-value")) for c in cells] == sorted(by_p95)

    # GraphQL: operations by name with their breakdown; the slow ones from action=slow_queries.
    operations = report(server, "operations", {**period, "top_n": 20})["operations"]
    shown_ops = [
        r.get_attribute("data-operation")
        for r in driver.find_elements("css selector", "#operations tbody tr")
    ]
    assert shown_ops == [o["operation_name"] or "" for o in operations]
    assert {"Slow", "AuthorsWithBooks", "BookCount"} <= set(shown_ops)
    assert driver.find_elements("css selector", "#operations .bar .seg-db")
    slow = driver.find_elements("css selector", "#slow-operations li")
    assert len(slow) == 2 and all("Slow" in s.text and "parse" in s.text for s in slow)

    # N+1 findings and statements by total time: the database report's.
    database = report(server, "database", {**period, "limit": 20})
    cards = driver.find_elements("css selector", "#n-plus-one li")
    assert len(cards) == len(database["n_plus_one"]) >= 2
    page_text = driver.find_element("id", "n-plus-one").text
    for finding in database["n_plus_one"]:
        assert finding["statement"] in page_text and finding["suggestion"] in page_text
    assert any(f["graphql_field_path"] for f in database["n_plus_one"])
    assert "AuthorsWithBooks → " in page_text
    fingerprints = [
        r.get_attribute("data-fingerprint")
        for r in driver.find_elements("css selector", "#database tbody tr")
    ]
    assert fingerprints == [s["fingerprint"] for s in database["slowest_statements"]]
    totals = driver.find_elements("css selector", '#database td[data-col="total_ms"]')
    assert [float(t.get_attribute("data-value")) for t in totals] == [
        s["total_ms"] for s in database["slowest_statements"]
    ]

    # Alerts with severity.
    alerts = report(server, "alerts", {**period, "limit": 50})["alerts"]
    shown_alerts = driver.find_elements("css selector", "#alerts li")
    assert len(shown_alerts) == len(alerts) > 0
    assert {a["severity"] for a in alerts} <= {
        b.text.lower() for b in driver.find_elements("css selector", "#alerts .sev")
    }
    # System metrics: the sampler's figures with their health level, or an empty state.
    system = report(server, "system-metrics", period)
    assert text(driver, "system-health") == system["system_health"]
    if system["samples_total"]:
        avg = system["averages"]["avg_cpu_percent"]
        assert f"{avg:.1f}% avg" in text(driver, "system")
    else:
        assert "No system samples" in text(driver, "system")

    assert severe(driver) == [], "console errors"
    # Screenshots (laptop and phone widths) into the test's folder; into docs/images with
    # UPDATE_DOCS_IMAGES=1, so that an ordinary run leaves the working tree alone.
    for name, width in (("dashboard.png", 1366), ("dashboard-narrow.png", 390)):
        screenshot(driver, tmp_path / name, width)
        if os.environ.get("UPDATE_DOCS_IMAGES") == "1":
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / name, DOCS_IMAGES / name)
    driver.set_window_size(1366, 900)


def test_should_follow_the_range_picker(signed_in, server, run):
    driver = signed_in
    _, sent, _ = run
    done = wait_loaded(driver)
    # A custom range before the run: nothing, and the empty state says how to send data.
    driver.find_element("css selector", '[data-range="custom"]').click()
    driver.execute_script(
        "const d = new Date(Date.now() - 3 * 3600e3);"
        "const local = t => new Date(t - t.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);"
        "document.getElementById('custom-from').value = local(d);"
        "document.getElementById('custom-to').value = local(new Date(d.getTime() + 3600e3));"
    )
    driver.find_element("css selector", "#custom-range button").click()
    done = wait_loaded(driver, done)
    assert value(driver, "kpi-requests") == 0
    empty = driver.find_element("id", "empty")
    assert empty.is_displayed() and "opentelemetry-instrument" in empty.text
    assert "No requests in this period" in text(driver, "endpoints")
    assert "No data in this period" in text(driver, "chart-latency")
    # 15 minutes holds the whole run again; so do 7 days, with wider buckets.
    driver.find_element("css selector", '[data-range="15m"]').click()
    done = wait_loaded(driver, done)
    assert value(driver, "kpi-requests") == sent
    assert not driver.find_element("id", "empty").is_displayed()
    series = report(server, "timeseries", {"start_date": page_start(driver)})
    assert series["bucket_seconds"] == 60
    assert value(driver, "kpi-p99") == series["totals"]["p99_ms"]
    driver.find_element("css selector", '[data-range="7d"]').click()
    done = wait_loaded(driver, done)
    assert value(driver, "kpi-requests") == sent
    assert report(server, "timeseries", {"start_date": page_start(driver)})["bucket_seconds"] > 60
    assert severe(driver) == [], "console errors"


def test_should_refresh_by_itself_until_paused(signed_in, server):
    driver = signed_in
    driver.get(server + "/?refresh=1")  # a refresh a second instead of every 30 s
    done = wait_loaded(driver)
    done = wait_loaded(driver, done, timeout=5)  # the next one came by itself
    pause = driver.find_element("id", "pause")
    pause.click()
    assert pause.get_attribute("aria-pressed") == "true" and pause.text == "Resume"
    time.sleep(0.3)  # a refresh already under way may still land
    paused_at = int(driver.execute_script("return document.body.dataset.refreshes"))
    time.sleep(2.5)
    assert int(driver.execute_script("return document.body.dataset.refreshes")) == paused_at
    pause.click()  # resume: at once
    wait_loaded(driver, paused_at, timeout=3)
    assert pause.get_attribute("aria-pressed") == "false" and pause.text == "Pause"
    driver.find_element("id", "pause").click()  # leave it paused for the next test
    assert severe(driver) == [], "console errors"


def test_should_drill_down_to_an_endpoint_and_an_operation(signed_in, server, run):
    driver = signed_in
    store, _, _ = run
    done = wait_loaded(driver)
    click(driver, '#endpoints tr[data-endpoint="GET /books/n-plus-one/"]')
    deadline = time.monotonic() + 10
    while not driver.find_elements("css selector", "#detail-slowest tbody tr"):
        assert time.monotonic() < deadline, "no drill-down"
        time.sleep(0.05)
    detail = report(
        server, "timeseries/GET%20%2Fbooks%2Fn-plus-one%2F", {"start_date": page_start(driver)}
    )
    assert text(driver, "detail-title") == "GET /books/n-plus-one/"
    assert value(driver, "detail-count") == detail["totals"]["count"] == 4
    assert value(driver, "detail-p95") == detail["totals"]["p95_ms"]
    durations = [
        d
        for (d,) in query(
            store, "SELECT duration_ms FROM requests WHERE endpoint = 'GET /books/n-plus-one/'"
        )
    ]
    assert detail["totals"]["p95_ms"] == pytest.approx(numpy.percentile(durations, 95), abs=1e-3)
    links = driver.find_elements("css selector", "#detail-slowest a.trace")
    assert len(links) == 4
    stored = {
        t.hex()
        for (t,) in query(
            store, "SELECT trace_id FROM requests WHERE endpoint = 'GET /books/n-plus-one/'"
        )
    }
    for link in links:
        trace_id = link.get_attribute("data-trace-id")
        assert trace_id in stored
        assert link.get_attribute("href") == TRACE_TEMPLATE.format(trace_id=trace_id)
    assert [a.get_attribute("data-trace-id") for a in links] == [
        r["trace_id"] for r in detail["slowest_requests"]
    ]
    assert "#endpoint=" in driver.current_url
    # An operation: its executions, slowest first, with their phases.
    click(driver, '#operations tr[data-operation="Slow"]')
    deadline = time.monotonic() + 10
    while driver.find_element("id", "detail").get_attribute("data-name") != "Slow" or not (
        driver.find_elements("css selector", "#detail-slowest tbody tr .bar")
    ):
        assert time.monotonic() < deadline, "no operation drill-down"
        time.sleep(0.05)
    op = report(server, "operations/Slow", {"start_date": page_start(driver)})
    assert value(driver, "detail-count") == op["totals"]["count"] == 2
    rows = driver.find_elements("css selector", "#detail-slowest tbody tr")
    assert len(rows) == 2
    assert all(
        float(
            r.find_element("css selector", '[data-col="duration_ms"]').get_attribute("data-value")
        )
        >= 350
        for r in rows
    )
    time.sleep(0.5)  # the smooth scroll to the detail panel
    click(driver, "#detail-close")
    assert not driver.find_element("id", "detail").is_displayed()
    wait_loaded(driver, done - 1)
    assert severe(driver) == [], "console errors"
