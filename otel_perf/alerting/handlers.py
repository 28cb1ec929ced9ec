"""The delivery handlers: generic webhook, Slack, e-mail (SMTP) and Sentry.

Each handler's ``send(event)`` makes one attempt and returns, or raises
:class:`DeliveryError` saying whether another attempt may succeed: HTTP 5xx, timeouts and
connection errors may; an HTTP 4xx (bad URL, revoked webhook, bad DSN) never does, so it is not
retried. For SMTP the codes mean the opposite way round, as the protocol says: 4xx is
transient (retried), 5xx permanent. Handlers hold no state between attempts; retries, backoff
and rate limits are the dispatcher's.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from otel_perf.alerting import events as E
from otel_perf.version import __version__

_logger = logging.getLogger("otel_perf")

USER_AGENT = f"otel-perf/{__version__}"
MAX_ERROR = 300  # characters of an error kept in the deliveries table


class DeliveryError(Exception):
    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message[:MAX_ERROR])
        self.retry = retry


# No redirects: a POST that is redirected is a misconfigured URL, reported as such (a 3xx
# is permanent), not silently turned into a GET somewhere else.
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """One POST; the status code when 2xx, else DeliveryError."""
    request = urllib.request.Request(
        url, data=body, headers={"User-Agent": USER_AGENT, **headers}, method="POST"
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(65536)
            return response.status
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(Exception):
            exc.close()
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}", retry=exc.code >= 500) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise DeliveryError(f"TLS: {reason}", retry=False) from None
        if isinstance(reason, TimeoutError):
            raise DeliveryError(f"timeout after {timeout:g} s", retry=True) from None
        raise DeliveryError(f"connection: {reason}", retry=True) from None
    except TimeoutError as exc:
        raise DeliveryError(f"timeout after {timeout:g} s ({exc})", retry=True) from None
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"connection: {type(exc).__name__}: {exc}", retry=True) from None


class Handler:
    name = "handler"

    def __init__(self, min_severity: str = "warning", timeout: float = 5.0) -> None:
        self.min_severity = min_severity
        self.timeout = timeout

    def accepts(self, event: E.AlertEvent) -> bool:
        return E.severity_rank(event.severity) >= E.severity_rank(self.min_severity)

    def send(self, event: E.AlertEvent) -> None:
        raise NotImplementedError


class WebhookHandler(Handler):
    """JSON POST of :func:`events.webhook_payload`."""

    name = "webhook"

    def __init__(self, url: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.url = url

    def payload(self, event: E.AlertEvent) -> dict:
        return E.webhook_payload(event)

    def send(self, event: E.AlertEvent) -> None:
        body = json.dumps(self.payload(event), default=str).encode()
        post(self.url, body, {"Content-Type": "application/json"}, self.timeout)


class SlackHandler(WebhookHandler):
    """A Slack incoming webhook (blocks in a coloured attachment)."""

    name = "slack"

    def payload(self, event: E.AlertEvent) -> dict:
        return E.slack_payload(event)


class EmailHandler(Handler):
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: list[str],
        security: str = "starttls",
        user: str = "",
        password: str = "",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.host, self.port, self.security = host, port, security
        self.sender, self.recipients = sender, recipients
        self.user, self.password = user, password

    def message(self, event: E.AlertEvent) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = E.email_subject(event)
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain="otel-perf")
        message["X-Otel-Perf-Alert"] = f"{event.id} {event.event}"
        message.set_content(E.email_body(event))
        return message

    def send(self, event: E.AlertEvent) -> None:
        try:
            self._send(self.message(event))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            retry = all(400 <= c < 500 for c in codes)
            raise DeliveryError(f"SMTP recipients refused: {codes}", retry=retry) from None
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if exc.smtp_error else ""
            raise DeliveryError(
                f"SMTP {exc.smtp_code} {text}", retry=400 <= exc.smtp_code < 500
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP: {exc}", retry=False) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"TLS: {exc}", retry=False) from None
        except TimeoutError:
            raise DeliveryError(f"timeout after {self.timeout:g} s", retry=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP: {type(exc).__name__}: {exc}", retry=True) from None

    def _send(self, message: EmailMessage) -> None:
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(message)


class SentryHandler(Handler):
    """Alerts as Sentry events, posted as an envelope to the DSN's project.

    sentry-sdk parses the DSN and serialises the envelope (its own formats, so they follow
    the SDK's version); the POST is ours, so that each attempt's outcome is known, retried
    and recorded like every other handler's. The app's own Sentry client (if any) is left
    alone: alerts neither use nor disturb its scope, sampling or transport.
    """

    name = "sentry"

    def __init__(self, dsn: str, server_name: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        from sentry_sdk.utils import Dsn  # ImportError when sentry-sdk is not installed

        self.dsn = Dsn(dsn)
        auth = self.dsn.to_auth(USER_AGENT)
        self.url = auth.get_api_url()
        self.auth_header = auth.to_header()
        self.server_name = server_name

    def envelope(self, event: E.AlertEvent) -> bytes:
        from sentry_sdk.envelope import Envelope

        payload = E.sentry_event(event, self.server_name)
        envelope = Envelope(headers={"event_id": payload["event_id"], "dsn": str(self.dsn)})
        envelope.add_event(payload)
        return envelope.serialize()

    def send(self, event: E.AlertEvent) -> None:
        headers = {
            "Content-Type": "application/x-sentry-envelope",
            "X-Sentry-Auth": self.auth_header,
        }
        post(self.url, self.envelope(event), headers, self.timeout)


def build_handlers(settings) -> list[Handler]:
    """The handlers the settings turn on; one that cannot be built is logged and left out."""
    s = settings
    common = {"timeout": s.alert_delivery_timeout_s}
    handlers: list[Handler] = []
    if s.alert_webhook_url:
        handlers.append(
            WebhookHandler(s.alert_webhook_url, min_severity=s.alert_webhook_min_severity, **common)
        )
    if s.alert_slack_webhook_url:
        handlers.append(
            SlackHandler(
                s.alert_slack_webhook_url, min_severity=s.alert_slack_min_severity, **common
            )
        )
    recipients = [r.strip() for r in s.alert_smtp_to.split(",") if r.strip()]
    if s.alert_smtp_host and recipients:
        handlers.append(
            EmailHandler(
                s.alert_smtp_host,
                s.alert_smtp_port,
                s.alert_smtp_from,
                recipients,
                security=s.alert_smtp_security,
                user=s.alert_smtp_user,
                password=s.alert_smtp_password,
                min_severity=s.alert_email_min_severity,
                **common,
            )
        )
    elif s.alert_smtp_host or recipients:
        _logger.warning(
            "otel-perf: alert e-mail needs both OTEL_PERF_ALERT_SMTP_HOST and "
            "OTEL_PERF_ALERT_SMTP_TO; e-mail delivery is off"
        )
    if s.alert_sentry_dsn:
        try:
            handlers.append(
                SentryHandler(
                    s.alert_sentry_dsn,
                    server_name=socket.gethostname(),
                    min_severity=s.alert_sentry_min_severity,
                    **common,
                )
            )
        except ImportError:
            _logger.warning(
                "otel-perf: OTEL_PERF_ALERT_SENTRY_DSN is set but sentry-sdk is not installed "
                "(pip install sentry-sdk); Sentry delivery is off"
            )
        except Exception as exc:  # sentry_sdk.utils.BadDsn and friends
            _logger.warning("otel-perf: OTEL_PERF_ALERT_SENTRY_DSN is unusable (%s); off", exc)
    return handlers
