"""``/metrics``: the exposition against figures computed here, counters that survive retention,
bounded labels, and a real Prometheus server (Debian package ``prometheus``) scraping
``otel-perf serve`` on loopback, checked with PromQL over its HTTP API."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta

import pytest

from otel_perf import demo
from otel_perf.storage import parse_address
from otel_perf.storage.retention import cleanup
from otel_perf.storage.rows import Columns
from otel_perf.storage.session import StoreSession
from query_api.prometheus import MetricsExporter
from query_api.queries_monitor import BUCKETS_S
from tests.unit.test_retention import row_for

TOKEN = "prom-read-token"
LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")


def parse(text: str) -> dict[tuple, float]:
    """(name, frozenset of label pairs) -> value, from the text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, labels, value = LINE.match(line).groups()
        pairs = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or "")
        out[(name, frozenset(pairs))] = float(value)
    return out


def sample(metrics, name, **labels) -> float:
    return metrics[(name, frozenset(labels.items()))]


# Per endpoint: (method, status, durations in ms, DB statements per request).
TRAFFIC = {
    "GET /a/": ("GET", 200, [3.0, 8.0, 40.0, 90.0, 600.0], 2),
    "POST /b/": ("POST", 500, [20.0, 2000.0], 7),
    "GET /c/": ("GET", 200, [1.0], 0),
    "GET /d/": ("GET", 404, [4.0, 4.0, 4.0], 1),
}


def insert(store: str, at: datetime, traffic=TRAFFIC, n_plus_one: bool = False) -> None:
    requests = Columns("requests")
    i = 0
    for endpoint, (method, status, durations, queries) in traffic.items():
        for ms in durations:
            i += 1
            requests.add(
                {
                    **row_for("requests", at - timedelta(seconds=i), i),
                    "endpoint": endpoint,
                    "method": method,
                    "status_code": status,
                    "duration_ms": ms,
                    "db_count": queries,
                    "db_time_ms": 1.5 * queries,
                    "n_plus_one_count": 1 if n_plus_one and queries > 5 else 0,
                    "weight": 1.0,
                }
            )
    session = StoreSession(parse_address(store))
    try:
        session.insert([requests])
    finally:
        session.close()


def render(store: str, exporter: MetricsExporter, now: datetime) -> dict:
    session = StoreSession(parse_address(store))
    try:
        return parse(exporter.render(session.con, now))
    finally:
        session.close()


def test_should_expose_counts_and_histograms_that_match_the_rows(tmp_path):
    store = str(tmp_path / "lake")
    now = datetime(2026, 3, 1, 12)
    insert(store, now, n_plus_one=True)
    m = render(store, MetricsExporter(parse_address(store)), now)
    for endpoint, (method, status, durations, queries) in TRAFFIC.items():
        labels = {"endpoint": endpoint, "method": method, "status": str(status)}
        assert sample(m, "otel_perf_http_requests_total", **labels) == len(durations)
        hist = "otel_perf_http_request_duration_seconds"
        for le in BUCKETS_S:
            expected = sum(1 for d in durations if d / 1000 <= le)
            assert sample(m, hist + "_bucket", **labels, le=repr(le)) == expected
        assert sample(m, hist + "_bucket", **labels, le="+Inf") == len(durations)
        assert sample(m, hist + "_sum", **labels) == pytest.approx(sum(durations) / 1000)
        assert sample(m, "otel_perf_db_queries_total", **labels) == queries * len(durations)
    assert sample(m, "otel_perf_n_plus_one_recent_requests") == 2
    assert sample(m, "otel_perf_open_alerts", severity="critical") == 0


def test_counters_never_go_backwards_when_retention_deletes_rows(tmp_path):
    store = str(tmp_path / "lake")
    now = datetime(2026, 3, 1, 12)
    address = parse_address(store)
    insert(store, now - timedelta(days=40))  # old: retention deletes these
    insert(store, now)
    exporter = MetricsExporter(address)
    before = render(store, exporter, now)
    session = StoreSession(address)
    try:
        result = cleanup(session.con, 30, now=now, address=address)
        remaining = session.con.execute("SELECT count(*) FROM requests").fetchone()[0]
    finally:
        session.close()
    assert result.deleted["requests"] == 11 and remaining == 11
    after = render(store, exporter, now)
    assert after == before  # the base holds what was deleted: nothing moved
    insert(store, now + timedelta(minutes=1), {"GET /c/": ("GET", 200, [2.0, 2.0], 0)})
    later = render(store, exporter, now + timedelta(minutes=1))
    labels = {"endpoint": "GET /c/", "method": "GET", "status": "200"}
    assert (
        sample(later, "otel_perf_http_requests_total", **labels) == 1 + 1 + 2
    )  # old (folded), current, new
    for key, value in before.items():
        if key[0].endswith(("_total", "_bucket", "_sum", "_count")):
            assert later[key] >= value, key


def test_labels_beyond_the_limit_share_one_overflow_series(tmp_path):
    store = str(tmp_path / "lake")
    now = datetime(2026, 3, 1, 12)
    insert(store, now)
    exporter = MetricsExporter(parse_address(store), max_series=2)
    m = render(store, exporter, now)
    totals = {k: v for k, v in m.items() if k[0] == "otel_perf_http_requests_total"}
    assert len(totals) == 3  # the two largest and (other)
    other = {"endpoint": "(other)", "method": "(other)", "status": "(other)"}
    assert sample(m, "otel_perf_http_requests_total", **other) == 2 + 1  # POST /b/, GET /c/
    assert sum(totals.values()) == 11
    assert sample(m, "otel_perf_metrics_overflow_series") == 2
    # Admission is sticky: a new, busier endpoint joins (other) rather than evicting one.
    insert(store, now, {"GET /e/": ("GET", 200, [1.0] * 20, 0)})
    m2 = render(store, exporter, now)
    assert sample(m2, "otel_perf_http_requests_total", **other) == 3 + 20
    assert (
        sample(m2, "otel_perf_http_requests_total", endpoint="GET /a/", method="GET", status="200")
        == 5
    )


# -- a real Prometheus -----------------------------------------------------------------------------
def _http_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}: {last!r}")


@pytest.mark.e2e
def test_real_prometheus_scrapes_serve_and_answers_promql(tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the prometheus binary is missing (Debian package prometheus)")
        pytest.skip("the prometheus binary is not installed (apt-get install prometheus)")
    store = str(tmp_path / "lake")
    insert(store, datetime.utcnow())
    serve_port, prom_port = demo.free_port(), demo.free_port()
    env = {**os.environ, "OTEL_PERF_STORE": store, "OTEL_PERF_API_TOKENS": f"{TOKEN}:read"}
    serve_log = open(tmp_path / "serve.log", "w")
    serve = subprocess.Popen(
        [sys.executable, "-m", "otel_perf.cli", "serve", "--port", str(serve_port)],
        env=env,
        stdout=serve_log,
        stderr=subprocess.STDOUT,
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: otel-perf\n    scrape_interval: 1s\n"
        f"    authorization:\n      credentials: {TOKEN}\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{serve_port}']\n"
    )
    prom_log = open(tmp_path / "prometheus.log", "w")
    prom = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=prom_log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{prom_port}/api/v1/query?query="

    def promql(expr: str):
        body = _http_json(api + urllib.parse.quote(expr))
        result = body["data"]["result"]
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in result}

    try:
        # Anonymous scrapes are refused; the token Prometheus sends is accepted.
        _wait(
            lambda: demo.fetch(f"http://127.0.0.1:{serve_port}/openapi.json") == 200,
            30,
            "otel-perf serve",
        )
        assert demo.fetch(f"http://127.0.0.1:{serve_port}/metrics") == 401
        _wait(
            lambda: (
                promql('up{job="otel-perf"}')
                and list(promql('up{job="otel-perf"}').values()) == [1.0]
            ),
            30,
            "a successful scrape",
        )
        got = promql('sum by (endpoint) (otel_perf_http_requests_total{job="otel-perf"})')
        assert {dict(k)["endpoint"]: v for k, v in got.items()} == {
            e: float(len(t[2])) for e, t in TRAFFIC.items()
        }
        fast = promql(
            'otel_perf_http_request_duration_seconds_bucket{endpoint="GET /a/",le="0.05"}'
        )
        assert list(fast.values()) == [3.0]  # 3, 8 and 40 ms of GET /a/
        errors = promql('sum(otel_perf_http_requests_total{status=~"5.."})')
        assert list(errors.values()) == [2.0]
    finally:
        for proc in (prom, serve):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        serve_log.close()
        prom_log.close()


DJANGO_SCRIPT = r"""
import sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "otel_perf.django"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    OTEL_PERF={"store": sys.argv[1], "api_tokens": "django-read-token:read"},
    ALLOWED_HOSTS=["*"],
)
django.setup()
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from query_api.prometheus import django_view
for token in ("", "django-read-token"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    request = RequestFactory().get("/metrics", **headers)
    request.user = AnonymousUser()
    response = django_view(request)
    print(response.status_code)
print(response.content.decode())
"""


def test_the_django_view_serves_the_same_metrics(tmp_path):
    store = str(tmp_path / "lake")
    now = datetime.utcnow()
    insert(store, now)
    out = subprocess.run(
        [sys.executable, "-c", DJANGO_SCRIPT, store],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DJANGO_"))},
    )
    assert out.returncode == 0, out.stderr
    anonymous, with_token, body = out.stdout.split("\n", 2)
    assert (anonymous, with_token) == ("401", "200")
    m = parse(body)
    labels = {"endpoint": "GET /a/", "method": "GET", "status": "200"}
    assert sample(m, "otel_perf_http_requests_total", **labels) == 5
