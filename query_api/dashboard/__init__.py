"""The dashboard: one HTML page, one script and one stylesheet, all in this package.

Nothing is fetched from the network at run time: the page's script (``static/dashboard.js``,
charts drawn as SVG by hand) reads the JSON reports of the same service, with the same
access rules. The page carries its configuration (where the reports are, the trace link
template) in a JSON data block, so both surfaces (``otel-perf serve`` and the Django app)
serve the same files. A strict Content-Security-Policy allows only this origin's own files.
"""

from __future__ import annotations

import functools
import html
import json
from importlib import resources

COOKIE = "otel_perf_token"  # standalone login: the API token, HttpOnly, SameSite=Strict
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@functools.cache
def _text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


@functools.cache
def static_file(name: str) -> tuple[bytes, str] | None:
    """(content, content type) of a file of ``static/``; None for any other name."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or "\\" in name or name.startswith(".") or suffix not in STATIC_TYPES:
        return None
    entry = resources.files(__package__).joinpath("static", name)
    if not entry.is_file():
        return None
    return entry.read_bytes(), STATIC_TYPES[suffix]


def page(
    *,
    static: str,
    api: str,
    spec: str,
    suffix: str,
    trace_url_template: str,
    logout: str | None,
) -> str:
    """The dashboard page. ``api``: the REST reports' prefix; ``suffix``: what follows a
    report's name ("/" in Django); ``spec``: the spec endpoint; ``logout``: a form target."""
    config = {
        "api": api,
        "spec": spec,
        "suffix": suffix,
        "traceUrlTemplate": trace_url_template,
        "logout": logout,
    }
    # In a <script type="application/json"> block only "</" could end the block early.
    data = json.dumps(config).replace("<", "\\u003c")
    return (
        _text("index.html").replace("{{static}}", html.escape(static)).replace("{{config}}", data)
    )


def login_page(*, action: str, static: str, error: str | None = None) -> str:
    message = f'<p class="login-error" role="alert">{html.escape(error)}</p>' if error else ""
    return (
        _text("login.html")
        .replace("{{static}}", html.escape(static))
        .replace("{{action}}", html.escape(action))
        .replace("{{error}}", message)
    )
