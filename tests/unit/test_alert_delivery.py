"""Alert delivery against real local servers: an HTTP server (webhook, Slack, Sentry
envelopes) and an SMTP server (aiosmtpd), with injected clocks (nothing sleeps for backoff).

Payloads are checked as the servers received them; retries, no retry on 4xx, the rate limit,
the timeout against a server that never answers, and one failing handler beside a working one.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import socket
import threading
import time
from datetime import datetime, timedelta

import pytest

from otel_perf import alerting
from otel_perf.alerting import events as E
from otel_perf.alerting.dispatcher import Dispatcher
from otel_perf.alerting.handlers import (
    EmailHandler,
    Handler,
    SentryHandler,
    SlackHandler,
    WebhookHandler,
    build_handlers,
)
from otel_perf.alerting.ratelimit import TokenBucket
from otel_perf.settings import Settings
from query_api import alert_rules as R

T0 = datetime(2026, 11, 24, 12, 0, 0)


def event(
    kind: str = E.OPENED, severity: str = "warning", subject: str = "abc123", id_: str = "a1"
) -> E.AlertEvent:
    alert = R.Alert(
        id=id_,
        type="slow_query",
        severity=severity,
        subject=subject,
        message="Query GetUser exceeded the slow threshold",
        details={"query_time_ms": 1250.0, "threshold_ms": 1000.0, "operation_name": "GetUser"},
        first_seen=T0,
        last_seen=T0 + timedelta(minutes=1),
        occurrences=3,
        worst_value=1250.0,
        resolved=kind == E.RESOLVED,
        resolved_at=T0 + timedelta(minutes=20) if kind == E.RESOLVED else None,
        updated_at=T0 + timedelta(minutes=1),
    )
    return E.AlertEvent.from_alert(alert, kind)


def require(module: str):
    """Import a test dependency; skip with a reason when absent, fail under CI=true."""
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")


# -- a real HTTP server on loopback -----------------------------------------------------------
@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self):
        return json.loads(self.body)


class HttpServer:
    """Records every POST; answers each path with its scripted statuses in turn (the last one
    repeats; 200 when none); paths in ``hang`` never answer until the server closes."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: dict[str, list[int]] = {}
        self.hang: set[str] = set()
        self.release = threading.Event()
        self.arrived = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer.arrived:
                    outer.received.append(Received(self.path, headers, body, time.monotonic()))
                    outer.arrived.notify_all()
                if self.path in outer.hang:
                    outer.release.wait(30)
                    return
                statuses = outer.script.get(self.path) or [200]
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.at(path)) < count and time.monotonic() < deadline:
                self.arrived.wait(0.05)
        return self.at(path)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    s = HttpServer()
    yield s
    s.close()


class Sleeps:
    """The dispatcher's backoff wait: recorded, not slept."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def dispatcher(handlers, **kwargs) -> Dispatcher:
    kwargs.setdefault("sleep", Sleeps())
    kwargs.setdefault("wall", lambda: T0)
    return Dispatcher(handlers, **kwargs)


def outcomes(d: Dispatcher) -> list[tuple]:
    return [(r["handler"], r["event"], r["outcome"], r["attempts"]) for r in d.take_rows()]


# -- payloads (pure) --------------------------------------------------------------------------
def test_should_colour_slack_messages_by_severity_and_green_on_resolution():
    for severity, colour in E.SLACK_COLOURS.items():
        payload = E.slack_payload(event(severity=severity))
        assert payload["attachments"][0]["color"] == colour
    resolved = E.slack_payload(event(E.RESOLVED, severity="critical"))
    assert resolved["attachments"][0]["color"] == E.RESOLVED_COLOUR
    assert "resolved" in resolved["text"]


def test_should_map_severities_to_sentry_levels():
    assert E.sentry_event(event(severity="critical"))["level"] == "fatal"
    assert E.sentry_event(event(severity="warning"))["level"] == "warning"
    assert E.sentry_event(event(E.RESOLVED, severity="error"))["level"] == "info"


def test_should_refill_the_token_bucket_with_time():
    clock = Clock()
    bucket = TokenBucket(2, clock=clock)  # two a minute: one token every 30 s
    assert [bucket.take(), bucket.take(), bucket.take()] == [True, True, False]
    clock.now += 29.9
    assert not bucket.take()
    clock.now += 0.2
    assert bucket.take() and not bucket.take()


def test_should_build_only_the_handlers_the_settings_configure():
    assert build_handlers(Settings()) == []
    assert not alerting.handlers_configured(Settings())
    settings = Settings(
        alert_webhook_url="http://127.0.0.1:1/hook",
        alert_slack_webhook_url="http://127.0.0.1:1/slack",
        alert_smtp_host="127.0.0.1",
        alert_smtp_to="ops@example.com, dev@example.com",
        alert_email_min_severity="critical",
    )
    handlers = build_handlers(settings)
    assert [h.name for h in handlers] == ["webhook", "slack", "email"]
    assert handlers[2].recipients == ["ops@example.com", "dev@example.com"]
    assert handlers[2].min_severity == "critical"


# -- HTTP handlers against a real server ------------------------------------------------------
def test_should_post_the_alert_as_json_to_the_webhook(server):
    d = dispatcher([WebhookHandler(server.base + "/hook", timeout=2)])
    d.submit(event())
    assert d.flush(5)
    [got] = server.at("/hook")
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("otel-perf/")
    body = got.json()
    assert body["source"] == "otel-perf" and body["event"] == "opened"
    assert body["timestamp"] == "2026-11-24T12:01:00.000Z"
    alert = body["alert"]
    assert (alert["id"], alert["type"], alert["severity"], alert["subject"]) == (
        "a1",
        "slow_query",
        "warning",
        "abc123",
    )
    assert alert["details"]["query_time_ms"] == 1250.0 and alert["resolved"] is False
    assert outcomes(d) == [("webhook", "opened", "sent", 1)]
    d.shutdown()


def test_should_send_slack_the_incoming_webhook_format(server):
    d = dispatcher([SlackHandler(server.base + "/slack", timeout=2)])
    d.submit(event(severity="error"))
    d.submit(event(E.RESOLVED, severity="error"))
    assert d.flush(5)
    opened, resolved = (r.json() for r in server.at("/slack"))
    assert opened["text"].startswith("[ERROR] slow_query opened: abc123")
    attachment = opened["attachments"][0]
    assert attachment["color"] == E.SLACK_COLOURS["error"]
    header, section, context = attachment["blocks"]
    assert header["type"] == "header" and section["text"]["text"].startswith("Query GetUser")
    assert {"type": "mrkdwn", "text": "*Occurrences*\n3"} in section["fields"]
    assert "query_time_ms=1250.0" in context["elements"][0]["text"]
    assert resolved["attachments"][0]["color"] == E.RESOLVED_COLOUR
    d.shutdown()


def test_should_retry_a_5xx_with_exponential_backoff(server):
    server.script["/hook"] = [500, 503, 200]
    sleeps = Sleeps()
    d = dispatcher(
        [WebhookHandler(server.base + "/hook", timeout=2)], retries=3, backoff_s=0.5, sleep=sleeps
    )
    d.submit(event())
    assert d.flush(5)
    assert len(server.at("/hook")) == 3
    assert sleeps.calls == [0.5, 1.0]
    assert outcomes(d) == [("webhook", "opened", "sent", 3)]
    assert d.stats()["webhook"]["attempts"] == 3 and d.stats()["webhook"]["sent"] == 1
    d.shutdown()


def test_should_give_up_after_the_retries_and_record_the_error(server):
    server.script["/hook"] = [500]
    d = dispatcher([WebhookHandler(server.base + "/hook", timeout=2)], retries=2, backoff_s=1)
    d.submit(event())
    assert d.flush(5)
    assert len(server.at("/hook")) == 3
    [row] = d.take_rows()
    assert (row["outcome"], row["attempts"]) == ("failed", 3)
    assert row["error"].startswith("HTTP 500")
    assert d.stats()["webhook"]["failed"] == 1
    d.shutdown()


def test_should_not_retry_a_4xx(server):
    server.script["/hook"] = [400, 200]
    sleeps = Sleeps()
    d = dispatcher([WebhookHandler(server.base + "/hook", timeout=2)], retries=3, sleep=sleeps)
    d.submit(event())
    assert d.flush(5)
    assert len(server.at("/hook")) == 1 and sleeps.calls == []
    [row] = d.take_rows()
    assert (row["outcome"], row["attempts"], row["error"]) == ("failed", 1, "HTTP 400 Bad Request")
    d.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_should_retry_connection_errors():
    port = free_port()  # nobody listens there: connection refused, retried
    d = dispatcher([WebhookHandler(f"http://127.0.0.1:{port}/hook", timeout=2)], retries=2)
    d.submit(event())
    assert d.flush(5)
    [row] = d.take_rows()
    assert (row["outcome"], row["attempts"]) == ("failed", 3)
    assert row["error"].startswith("connection:")
    d.shutdown()


def test_should_rate_limit_each_handler_on_its_own(server):
    clock = Clock()
    d = dispatcher(
        [
            WebhookHandler(server.base + "/hook", timeout=2),
            SlackHandler(server.base + "/slack", timeout=2),
        ],
        rate_limit=2,
        clock=clock,
    )
    for n in range(3):
        d.submit(event(id_=f"a{n}"))
    assert d.flush(5)
    assert len(server.at("/hook")) == 2 and len(server.at("/slack")) == 2
    rows = d.take_rows()
    limited = [(r["handler"], r["alert_id"]) for r in rows if r["outcome"] == "rate_limited"]
    assert sorted(limited) == [("slack", "a2"), ("webhook", "a2")]
    clock.now += 30  # one token back per handler
    d.submit(event(id_="a3"))
    assert d.flush(5)
    assert len(server.at("/hook")) == 3
    assert {r["outcome"] for r in d.take_rows()} == {"sent"}
    d.shutdown()


def test_should_time_out_on_a_server_that_never_answers(server):
    server.hang.add("/hang")
    d = dispatcher([WebhookHandler(server.base + "/hang", timeout=0.3)], retries=1)
    started = time.monotonic()
    d.submit(event())
    assert d.flush(5)
    elapsed = time.monotonic() - started
    [row] = d.take_rows()
    assert (row["outcome"], row["attempts"]) == ("failed", 2)
    assert "timeout" in row["error"]
    assert 0.6 <= elapsed < 5.0  # two attempts of 0.3 s (the server would hang for 30 s)
    d.shutdown()


class Broken(Handler):
    name = "broken"

    def send(self, event):
        raise RuntimeError("a bug in a handler")


def test_should_not_let_one_failing_handler_delay_or_break_another(server):
    server.hang.add("/hang")
    d = dispatcher(
        [
            WebhookHandler(server.base + "/hang", timeout=20),
            Broken(),
            SlackHandler(server.base + "/slack", timeout=2),
        ],
        retries=0,
    )
    d.submit(event(id_="a1"))
    d.submit(event(id_="a2"))
    assert len(server.wait_for("/slack", 2, timeout=10)) == 2
    # Both went to Slack while the webhook still hangs on its first request.
    assert len(server.at("/hang")) == 1
    server.release.set()  # the hanging server lets go: the webhook's attempts fail
    assert d.flush(10)
    rows = {(r["handler"], r["alert_id"]): r for r in d.take_rows()}
    assert rows[("slack", "a1")]["outcome"] == rows[("slack", "a2")]["outcome"] == "sent"
    assert rows[("broken", "a2")]["outcome"] == "failed"  # the lane survived its first bug
    assert rows[("broken", "a1")]["error"].startswith("internal: RuntimeError")
    assert rows[("webhook", "a1")]["outcome"] == "failed"
    d.shutdown()


def test_should_skip_alerts_below_a_handlers_minimum_severity(server):
    d = dispatcher([WebhookHandler(server.base + "/hook", min_severity="error", timeout=2)])
    d.submit(event(severity="warning"))
    d.submit(event(severity="critical", id_="a2"))
    assert d.flush(5)
    assert [r.json()["alert"]["id"] for r in server.at("/hook")] == ["a2"]
    assert outcomes(d) == [("webhook", "opened", "sent", 1)]
    d.shutdown()


def test_should_drop_and_record_beyond_the_queue_size(server):
    server.hang.add("/hang")
    d = dispatcher([WebhookHandler(server.base + "/hang", timeout=2)], retries=0, queue_size=1)
    for n in range(3):  # one in flight, one queued, one dropped
        d.submit(event(id_=f"a{n}"))
        server.wait_for("/hang", 1, timeout=2)
    dropped = [r for r in d.take_rows() if r["outcome"] == "dropped"]
    assert [r["alert_id"] for r in dropped] == ["a2"]
    server.release.set()
    d.shutdown(timeout=5)


# -- Sentry -------------------------------------------------------------------------------------
def test_should_send_sentry_an_envelope_with_the_event(server):
    require("sentry_sdk")
    port = server.base.rsplit(":", 1)[1]
    handler = SentryHandler(f"http://public123@127.0.0.1:{port}/42", server_name="web-1")
    d = dispatcher([handler])
    d.submit(event(severity="error"))
    assert d.flush(5)
    [got] = server.at("/api/42/envelope/")
    assert got.headers["content-type"] == "application/x-sentry-envelope"
    assert "sentry_key=public123" in got.headers["x-sentry-auth"]
    header, item_header, payload = (json.loads(line) for line in got.body.splitlines())
    assert item_header["type"] == "event" and header["event_id"] == payload["event_id"]
    assert payload["level"] == "error" and payload["server_name"] == "web-1"
    assert payload["message"]["formatted"].startswith("[ERROR] slow_query opened: abc123")
    assert payload["tags"]["alert.type"] == "slow_query"
    assert payload["fingerprint"] == ["otel-perf", "slow_query", "abc123", "opened"]
    assert payload["extra"]["alert"]["details"]["operation_name"] == "GetUser"
    assert outcomes(d) == [("sentry", "opened", "sent", 1)]
    d.shutdown()


def test_should_be_off_with_one_warning_for_a_bad_dsn(caplog):
    require("sentry_sdk")
    assert build_handlers(Settings(alert_sentry_dsn="not a dsn")) == []
    assert "OTEL_PERF_ALERT_SENTRY_DSN is unusable" in caplog.text


# -- e-mail over a real SMTP server -----------------------------------------------------------
class Mailbox:
    def __init__(self, reject_rcpt: str | None = None, data_reply: list[str] | None = None):
        self.messages: list = []
        self.reject_rcpt = reject_rcpt
        self.data_reply = data_reply or []
        self.data_calls = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_rcpt:
            return self.reject_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.data_reply:
            return self.data_reply.pop(0)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp():
    require("aiosmtpd")
    from aiosmtpd.controller import Controller

    controllers = []

    def start(mailbox: Mailbox, **kwargs):
        port = free_port()
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for c in controllers:
        c.stop()


def email_handler(port: int, **kwargs) -> EmailHandler:
    kwargs.setdefault("security", "none")
    return EmailHandler(
        "127.0.0.1", port, "otel-perf@example.com", ["ops@example.com"], timeout=3, **kwargs
    )


def test_should_email_the_alert(smtp):
    from email import message_from_bytes

    mailbox = Mailbox()
    port = smtp(mailbox)
    d = dispatcher([email_handler(port)])
    d.submit(event(severity="critical"))
    assert d.flush(10)
    [(sender, recipients, content)] = mailbox.messages
    assert sender == "otel-perf@example.com" and recipients == ["ops@example.com"]
    message = message_from_bytes(content)
    assert message["Subject"] == "otel-perf alert [CRITICAL] slow_query opened: abc123"
    assert message["X-Otel-Perf-Alert"] == "a1 opened"
    body = message.get_payload(decode=True).decode()
    assert "Severity:    critical" in body and '"query_time_ms": 1250.0' in body
    assert outcomes(d) == [("email", "opened", "sent", 1)]
    d.shutdown()


def test_should_log_in_to_the_smtp_server_when_a_user_is_set(smtp):
    from aiosmtpd.smtp import AuthResult

    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    mailbox = Mailbox()
    port = smtp(mailbox, authenticator=authenticator, auth_require_tls=False)
    d = dispatcher([email_handler(port, user="alerts", password="s3cret")])
    d.submit(event(severity="error"))
    assert d.flush(10)
    assert logins == [(b"alerts", b"s3cret")] and len(mailbox.messages) == 1
    d.shutdown()


def test_should_retry_smtp_4xx_and_not_5xx(smtp):
    transient = Mailbox(data_reply=["451 Try again later"])
    permanent = Mailbox(reject_rcpt="550 No such user")
    sleeps = Sleeps()
    d = dispatcher([email_handler(smtp(transient)), email_handler(smtp(permanent))], sleep=sleeps)
    d.submit(event(severity="error"))
    assert d.flush(10)
    rows = sorted(d.take_rows(), key=lambda r: r["attempts"])
    assert [(r["outcome"], r["attempts"]) for r in rows] == [("failed", 1), ("sent", 2)]
    assert "550" in rows[0]["error"]
    assert transient.data_calls == 2 and len(transient.messages) == 1
    assert permanent.messages == []
    d.shutdown()
