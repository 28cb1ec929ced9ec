"""Alert delivery, acknowledge and silence against real stores and real servers.

- The store writer's own alert evaluation (driven step by step, no sleeping) hands opened and
  resolved alerts to the handlers; a silenced (type, subject) is stored, not delivered; the
  outcomes land in ``alert_deliveries``.
- Acknowledge and silence through the API (the ASGI app in-process, real store) and the CLI
  (in-process and as a real subprocess).
- The example app under ``opentelemetry-instrument`` delivering a real alert to a webhook.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from otel_perf import alerting
from otel_perf.alerting.dispatcher import Dispatcher
from otel_perf.alerting.handlers import build_handlers
from otel_perf.cli import main as cli
from otel_perf.settings import Settings
from otel_perf.storage import parse_address
from otel_perf.storage.rows import Columns
from otel_perf.storage.session import StoreSession
from otel_perf.storage.writer import StoreWriter
from query_api import alert_rules as R
from query_api.reports.common import iso
from tests.e2e.conftest import query
from tests.e2e.test_api_service import ADMIN, READ, REST, SPEC, Api, assert_error
from tests.unit.test_alert_delivery import HttpServer

DELIVERIES = (
    "SELECT a.subject, d.handler, d.event, d.outcome, d.attempts FROM alert_deliveries d "
    "JOIN (SELECT DISTINCT id, subject FROM alerts) a ON a.id = d.alert_id "
    "ORDER BY 1, 2, 3, 4"
)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def insert(store: str, table: str, rows: list[dict]) -> None:
    columns = Columns(table)
    for row in rows:
        columns.add(row)
    session = StoreSession(parse_address(store))
    try:
        session.insert([columns])
    finally:
        session.close()


def slow_operation(at: datetime, query_hash: str, duration_ms: float = 1500.0) -> dict:
    return {
        "timestamp": at,
        "trace_id": b"\0" * 16,
        "span_id": 1,
        "root_span_id": 1,
        "service_name": "svc",
        "operation_name": f"Op{query_hash}",
        "operation_type": "query",
        "query_hash": query_hash,
        "complexity_score": 1,
        "duration_ms": duration_ms,
        "weight": 1.0,
    }


@pytest.fixture
def server():
    s = HttpServer()
    yield s
    s.close()


@pytest.fixture
def install():
    """Install a dispatcher for this test; the process's previous one comes back after."""
    installed = []

    def put(settings: Settings) -> Dispatcher:
        d = Dispatcher.from_settings(settings, build_handlers(settings))
        installed.append((d, alerting.set_dispatcher(d)))
        return d

    yield put
    for d, previous in installed:
        d.shutdown(2)
        alerting.set_dispatcher(previous)


def test_should_deliver_what_the_writer_opens_and_resolves_but_not_what_is_silenced(
    tmp_path, server, install
):
    store = str(tmp_path / "store")
    server.script["/slack"] = [500]
    settings = Settings(
        store=store,
        alert_webhook_url=server.base + "/hook",
        alert_slack_webhook_url=server.base + "/slack",
        alert_delivery_retries=1,
        alert_delivery_backoff_s=0.01,
        alert_interval_s=0.01,
        alert_quiet_period_s=60.0,
    )
    dispatcher = install(settings)
    # Ten minutes ago: the first evaluation opens the alerts, a later one (with nothing new
    # for them) resolves them at once, since the quiet period has passed.
    past = utcnow() - timedelta(minutes=10)
    insert(store, "graphql_operations", [slow_operation(past, "aaa"), slow_operation(past, "bbb")])
    assert cli(["alerts", "silence", "slow_query", "--subject", "bbb", "--store", store]) == 0

    writer = StoreWriter(parse_address(store), settings)
    assert writer._open(force=True) is not None

    runs = []

    def evaluate():
        time.sleep(0.02)  # the alerts lock's interval
        writer._maybe_evaluate_alerts()
        assert dispatcher.flush(10)
        runs.append(1)
        writer._run_jobs(time.monotonic() + 3600 * len(runs))  # the jobs are due

    try:
        evaluate()  # aaa and bbb open; bbb is silenced
        hook = [r.json() for r in server.at("/hook")]
        assert [(h["event"], h["alert"]["subject"]) for h in hook] == [("opened", "aaa")]
        assert len(server.at("/slack")) == 2  # 500, retried once, given up

        # One more slow "aaa": an update of its alert, which is not delivered again.
        insert(store, "graphql_operations", [slow_operation(past, "aaa", 2000.0)])
        evaluate()  # aaa updated (not delivered); bbb resolved (silenced)
        assert len(server.at("/hook")) == 1
        evaluate()  # aaa resolved
        hook = [r.json() for r in server.at("/hook")]
        assert [(h["event"], h["alert"]["subject"]) for h in hook][1:] == [("resolved", "aaa")]
        assert hook[1]["alert"]["resolved"] is True and hook[1]["alert"]["occurrences"] == 2
    finally:
        writer._drop_session()

    assert query(store, DELIVERIES) == [
        ("aaa", "slack", "opened", "failed", 2),
        ("aaa", "slack", "resolved", "failed", 2),
        ("aaa", "webhook", "opened", "sent", 1),
        ("aaa", "webhook", "resolved", "sent", 1),
        ("bbb", "slack", "opened", "silenced", 0),
        ("bbb", "slack", "resolved", "silenced", 0),
        ("bbb", "webhook", "opened", "silenced", 0),
        ("bbb", "webhook", "resolved", "silenced", 0),
    ]
    errors = query(store, "SELECT DISTINCT error FROM alert_deliveries WHERE outcome = 'failed'")
    assert errors == [("HTTP 500 Internal Server Error",)]
    # Silenced alerts are stored all the same.
    stored = query(store, "SELECT subject, bool_or(resolved) FROM alerts GROUP BY 1 ORDER BY 1")
    assert stored == [("aaa", True), ("bbb", True)]
    assert dispatcher.stats()["slack"] == {
        "sent": 0,
        "failed": 2,
        "rate_limited": 0,
        "silenced": 2,
        "dropped": 0,
        "attempts": 4,
    }


def alert(subject: str, updated: datetime, type_: str = "slow_query", **changes) -> R.Alert:
    base = R.Alert(
        id=R.alert_id(type_, subject, updated),
        type=type_,
        severity="warning",
        subject=subject,
        message=f"Query {subject} exceeded the slow threshold",
        details={"query_hash": subject},
        first_seen=updated,
        last_seen=updated,
        occurrences=1,
        worst_value=1500.0,
        resolved=False,
        resolved_at=None,
        updated_at=updated,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def alerts_store(tmp_path):
    store = str(tmp_path / "store")
    now = utcnow() - timedelta(minutes=5)
    alerts = [alert("aaa", now), alert("bbb", now - timedelta(minutes=1))]
    insert(store, "alerts", [a.row() for a in alerts])
    return store, alerts


def post(api: Api, path: str, headers=ADMIN):
    api.clock.now += 1.0  # each action a second after the previous: the newest one wins
    return api.request("POST", REST + path, headers)


def rest_alerts(api: Api) -> dict:
    response = api.get(REST + "alerts", READ)
    assert response.status_code == 200, response.text
    return {a["id"]: a for a in response.json()["data"]["alerts"]}


def test_should_acknowledge_and_silence_through_the_api(alerts_store):
    store, (aaa, bbb) = alerts_store
    api = Api(store)
    try:
        before = rest_alerts(api)  # cached from here on: an action must not be hidden by it
        assert before[aaa.id]["acknowledged"] is False
        assert before[aaa.id]["silenced_until"] is None

        assert_error(post(api, f"alerts/acknowledge/{aaa.id}", {}), 403, "PERMISSION_DENIED")
        assert_error(post(api, f"alerts/acknowledge/{aaa.id}", READ), 403, "PERMISSION_DENIED")
        assert_error(post(api, "alerts/acknowledge/alert_nope"), 400, "INVALID_PARAMETER")
        answer = post(api, f"alerts/acknowledge/{aaa.id}?note=on%20it")
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
        assert answer.json()["data"]["acknowledged"] is True

        after = rest_alerts(api)
        assert after[aaa.id]["acknowledged"] is True
        assert after[aaa.id]["acknowledged_by"].startswith("token:admin:")
        assert after[aaa.id]["acknowledged_at"].endswith("Z")
        assert after[bbb.id]["acknowledged"] is False

        # The spec's alerts action is a verbatim contract: it gains nothing.
        spec = api.get(SPEC + "?action=alerts", READ).json()["data"]["alerts"]
        assert all("acknowledged" not in a and "silenced_until" not in a for a in spec)

        assert_error(post(api, "alerts/silence"), 400, "INVALID_PARAMETER")  # no type
        assert_error(
            post(api, "alerts/silence?type=slow_query&minutes=-5"), 400, "INVALID_PARAMETER"
        )
        assert_error(
            post(api, "alerts/silence?type=slow_query&minutes=5&hours=1"), 400, "INVALID_PARAMETER"
        )
        silenced = post(api, "alerts/silence?type=slow_query&subject=aaa&minutes=30&note=deploy")
        assert silenced.status_code == 200, silenced.text
        until = silenced.json()["data"]["silenced_until"]
        now = datetime.fromtimestamp(api.clock.now, UTC).replace(tzinfo=None)
        assert until == iso(now + timedelta(minutes=30))

        listed = api.get(REST + "alerts/silences", ADMIN).json()["data"]["silences"]
        assert [(s["type"], s["subject"], s["until"], s["note"]) for s in listed] == [
            ("slow_query", "aaa", until, "deploy")
        ]
        after = rest_alerts(api)
        assert after[aaa.id]["silenced_until"] == until and after[bbb.id]["silenced_until"] is None

        # A silence of the whole type covers every subject; lifting aaa's leaves it.
        post(api, "alerts/silence?type=slow_query&hours=2")
        assert rest_alerts(api)[bbb.id]["silenced_until"] is not None
        assert post(api, "alerts/unsilence?type=slow_query&subject=aaa").status_code == 200
        listed = api.get(REST + "alerts/silences", ADMIN).json()["data"]["silences"]
        assert [(s["type"], s["subject"]) for s in listed] == [("slow_query", None)]
        post(api, "alerts/unsilence?type=slow_query")
        assert api.get(REST + "alerts/silences", ADMIN).json()["data"]["silences"] == []

        assert post(api, f"alerts/unacknowledge/{aaa.id}").status_code == 200
        assert rest_alerts(api)[aaa.id]["acknowledged"] is False
        actions = query(store, "SELECT action, actor FROM alert_actions ORDER BY timestamp")
        assert [a for a, _ in actions] == [
            "acknowledge",
            "silence",
            "silence",
            "unsilence",
            "unsilence",
            "unacknowledge",
        ]
    finally:
        api.service.close()


def test_should_acknowledge_and_silence_through_the_cli(alerts_store, capsys):
    store, (aaa, bbb) = alerts_store
    # The installed command, as a user runs it.
    done = subprocess.run(
        [sys.executable, "-m", "otel_perf.cli", "alerts", "ack", aaa.id, "--store", store],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"acknowledged {aaa.id}" in done.stdout
    assert cli(["alerts", "ack", "alert_nope", "--store", store]) == 1
    assert cli(["alerts", "silence", "slow_query", "--subject", "bbb", "--store", store]) == 0
    capsys.readouterr()
    assert cli(["alerts", "list", "--format", "json", "--store", store]) == 0
    listed = {a["id"]: a for a in json.loads(capsys.readouterr().out)}
    assert listed[aaa.id]["acknowledged"] is True and listed[aaa.id]["silenced_until"] is None
    assert listed[aaa.id]["acknowledged_by"].startswith("cli")
    assert listed[bbb.id]["acknowledged"] is False and listed[bbb.id]["silenced_until"]
    assert cli(["alerts", "silences", "--store", store]) == 0
    assert "slow_query | bbb" in capsys.readouterr().out
    assert cli(["alerts", "unsilence", "slow_query", "--subject", "bbb", "--store", store]) == 0
    assert cli(["alerts", "unack", aaa.id, "--store", store]) == 0
    capsys.readouterr()
    assert cli(["alerts", "list", "--store", store]) == 0
    table = capsys.readouterr().out
    assert aaa.id in table and "yes" not in table
    assert cli(["alerts", "deliveries", "--store", store]) == 0
    assert "(0 rows)" in capsys.readouterr().out


@pytest.mark.e2e
def test_should_deliver_an_alert_of_the_running_app_to_a_webhook(make_app, server):
    env = {
        "OTEL_PERF_ALERT_WEBHOOK_URL": server.base + "/hook",
        "OTEL_PERF_ALERT_WEBHOOK_MIN_SEVERITY": "info",
        "OTEL_PERF_MEMORY_WARNING_MB": "1",  # every request's process is above 1 MiB
        "OTEL_PERF_ALERT_INTERVAL_S": "0.5",
        "OTEL_PERF_API_TOKENS": "boss:admin,reader:read",
    }
    with make_app(server="gunicorn", workers=1, extra_env=env) as app:
        assert app.get("/books/") == 200
        got = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not got:
            server.wait_for("/hook", len(server.received) + 1, timeout=1)
            got = [
                r.json()
                for r in server.at("/hook")
                if r.json()["alert"]["type"] == "memory_warning"
            ]
        assert got, app.log()
        opened = got[0]
        assert opened["event"] == "opened" and opened["alert"]["severity"] == "warning"
        assert opened["alert"]["details"]["threshold_mb"] == 1.0
        sql = (
            "SELECT outcome, attempts FROM alert_deliveries "
            f"WHERE handler = 'webhook' AND alert_id = '{opened['alert']['id']}'"
        )
        deadline = time.monotonic() + 20
        rows = []
        while time.monotonic() < deadline and not rows:
            rows = query(app.store, sql)
            time.sleep(0.2)
        assert rows == [("sent", 1)], app.log()

        # Acknowledge it through the app's own (Django) surface, with an admin token.
        alert_id = opened["alert"]["id"]
        base = app.base + "/graphql/performance/"
        assert http_json("POST", f"{base}alerts/acknowledge/{alert_id}/", "reader")[0] == 403
        status, body = http_json("POST", f"{base}alerts/acknowledge/{alert_id}/", "boss")
        assert status == 200 and body["data"]["acknowledged"] is True, body
        status, body = http_json("POST", f"{base}alerts/silence/?type=memory_warning", "boss")
        assert status == 200 and body["data"]["silenced_until"], body
        status, body = http_json("GET", f"{base}alerts/", "reader")
        shown = {a["id"]: a for a in body["data"]["alerts"]}
        assert shown[alert_id]["acknowledged"] is True and shown[alert_id]["silenced_until"]


def http_json(method: str, url: str, token: str) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url,
        method=method,
        headers={"Authorization": f"Bearer {token}"},
        data=b"" if method == "POST" else None,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
