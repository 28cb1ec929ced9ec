"""The dashboard's routes in ``otel-perf serve``: the page at ``/``, a login form that turns an
API token into an HttpOnly cookie, and the static files.

The cookie holds the token itself (SameSite=Strict, HttpOnly, Secure over HTTPS) and is
accepted by the report routes for GET only (``cookie_authorization``), so a cross-site form
can never make a signed-in browser run the admin-only POST. Login attempts count against the
caller's rate limit like report requests do.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from query_api import auth
from query_api.dashboard import COOKIE, PAGE_HEADERS, login_page, page, static_file
from query_api.routes import REST_PREFIX, SPEC_PREFIX

STATIC = "/dashboard/static/"
MAX_FORM_BYTES = 4096


def cookie_authorization(request: Request, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with the login cookie's token as a bearer token, for a GET that carries no
    Authorization header of its own."""
    token = request.cookies.get(COOKIE)
    if token and "authorization" not in headers and request.method in ("GET", "HEAD"):
        return {**headers, "authorization": f"Bearer {token}"}
    return headers


def routes(service) -> list[Route]:
    settings = service.settings

    def principal(request: Request) -> auth.Principal:
        headers = {k.lower(): v for k, v in request.headers.items()}
        headers = cookie_authorization(request, headers)
        client_ip = request.client.host if request.client else None
        return auth.from_headers(headers, service.tokens, client_ip)

    def allowed(who: auth.Principal) -> bool:
        return who.at_least(auth.READ) or settings.api_public

    def login_form(error: str | None = None, status: int = 401) -> Response:
        body = login_page(action="/login", static=STATIC, error=error)
        return HTMLResponse(body, status, headers=PAGE_HEADERS)

    async def dashboard(request: Request) -> Response:
        if not allowed(principal(request)):
            return login_form()
        body = page(
            static=STATIC,
            api=REST_PREFIX,
            spec=SPEC_PREFIX,
            suffix="",
            trace_url_template=settings.trace_url_template,
            logout="/logout" if request.cookies.get(COOKIE) else None,
        )
        return HTMLResponse(body, headers=PAGE_HEADERS)

    async def login_get(request: Request) -> Response:
        if allowed(principal(request)):
            return RedirectResponse("/", 303)
        return login_form(status=200)

    async def login_post(request: Request) -> Response:
        who = principal(request)
        if not service.limiter.hit(who).allowed:
            return login_form("Too many attempts; wait a minute.", 429)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return login_form("That is not a token.", 400)
        token = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0].strip()
        if not token or service.tokens.role_of(token) is None:
            return login_form("Unknown token.")
        response = RedirectResponse("/", 303)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    async def static(request: Request) -> Response:
        found = static_file(request.path_params["name"])
        if found is None:
            return Response("Not found", 404, media_type="text/plain")
        content, content_type = found
        return Response(
            content,
            headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
            media_type=content_type,
        )

    return [
        Route("/", dashboard, methods=["GET"]),
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route(STATIC + "{name}", static, methods=["GET"]),
    ]
