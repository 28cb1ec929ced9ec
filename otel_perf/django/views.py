"""The report views for Django: thin translations of a Django request into the shared core.

Django's own authentication decides who is asking: superusers and staff are admins, users
holding ``otel_perf.view_performance`` may read, everyone else sees only the public health
report (unless OTEL_PERF_API_PUBLIC). A bearer token from OTEL_PERF_API_TOKENS works too; with
both, the stronger role wins.
"""

from __future__ import annotations

import threading

from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt

from query_api import auth
from query_api.envelope import ApiError, permission_denied
from query_api.routes import UNMATCHED, Route
from query_api.service import ApiRequest, QueryService

_lock = threading.Lock()
_service: QueryService | None = None


def get_service() -> QueryService:
    """One service per process (its store connection, cache and rate-limit counters), built
    on first use from the environment and Django's optional ``OTEL_PERF`` dict."""
    global _service
    if _service is None:
        from otel_perf.settings import load_settings

        with _lock:
            if _service is None:
                options = getattr(django_settings, "OTEL_PERF", None) or {}
                _service = QueryService(load_settings(django_options=options))
    return _service


def user_principal(request: HttpRequest) -> auth.Principal:
    client_ip = request.META.get("REMOTE_ADDR")
    user = getattr(request, "user", None)  # absent without AuthenticationMiddleware
    if user is None or not user.is_authenticated:
        return auth.anonymous(client_ip)
    if user.is_superuser or user.is_staff:
        role = auth.ADMIN
    elif user.has_perm("otel_perf.view_performance"):
        role = auth.READ
    else:
        role = auth.ANONYMOUS
    return auth.Principal(role, f"user:{user.pk}", authenticated=True)


def principal_for(request: HttpRequest, headers: dict[str, str], service: QueryService):
    from_token = auth.from_headers(headers, service.tokens, request.META.get("REMOTE_ADDR"))
    from_user = user_principal(request)
    if from_token.bad_token and not from_user.authenticated:
        return from_token
    return auth.stronger(from_user, from_token)


def _csrf_rejected(request: HttpRequest, headers: dict[str, str]) -> bool:
    # The view is csrf_exempt so that bearer-token clients can POST; a POST that relies on
    # the session cookie still gets Django's CSRF check.
    if request.method in ("GET", "HEAD", "OPTIONS") or auth.bearer_token(headers):
        return False
    middleware = CsrfViewMiddleware(lambda r: HttpResponse())
    return middleware.process_view(request, None, (), {}) is not None


DENIED = permission_denied()
CSRF_REASON = (
    "CSRF verification failed: a POST with a session cookie needs Django's CSRF token "
    "(one with a bearer token does not)"
)


def refusal(request: HttpRequest, headers: dict[str, str], method: str) -> ApiError | None:
    """What this view refuses before the shared flow: a wrong method, or a session POST
    without Django's CSRF token. Answered in the spec's envelope (not Django's HTML pages),
    with the rate-limit headers every response carries."""
    methods = (method, "HEAD") if method == "GET" else (method,)
    if request.method not in methods:
        return ApiError(
            405, "METHOD_NOT_ALLOWED", "Method Not Allowed", headers={"Allow": ", ".join(methods)}
        )
    if _csrf_rejected(request, headers):
        return ApiError(403, "PERMISSION_DENIED", DENIED.message, {"reason": CSRF_REASON})
    return None


def _headers(request: HttpRequest) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def _answer(
    request: HttpRequest,
    headers: dict[str, str],
    route: Route | None,
    path: str | None,
    refusal: ApiError | None,
) -> HttpResponse:
    service = get_service()
    answer = service.handle(
        ApiRequest(
            route=route,
            query={name: values for name, values in request.GET.lists()},
            headers=headers,
            principal=principal_for(request, headers, service),
            path=path,
            refusal=refusal,
        )
    )
    vary = answer.headers.pop("Vary", "")
    response = HttpResponse(answer.body, status=answer.status, headers=answer.headers)
    patch_vary_headers(response, [v.strip() for v in vary.split(",") if v.strip()])
    return response


def make_view(route: Route | None):
    @csrf_exempt
    def view(request: HttpRequest, path: str | None = None) -> HttpResponse:
        headers = _headers(request)
        method = route.method if route else "GET"
        return _answer(request, headers, route, path, refusal(request, headers, method))

    view.__name__ = f"performance_{route.report if route else 'spec'}"
    return view


@csrf_exempt  # whatever the method, the answer is this 404 (a POST gets no CSRF page)
def not_found(request: HttpRequest) -> HttpResponse:
    """A path below the include that no report serves (``urls``' last pattern): the 404 in the
    envelope, rate limited and logged as the report "unknown", like the standalone service's."""
    error = ApiError(404, "NOT_FOUND", "Not Found")
    return _answer(request, _headers(request), UNMATCHED, None, error)


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The dashboard page (``<include prefix>dashboard/``), for whoever may read the reports;
    anonymous visitors go to the login page, signed-in users without the permission get 403.
    Its own requests fall under the include's prefix: keep that prefix in
    OTEL_PERF_EXCLUDE_PATHS (``/graphql/performance/`` is there by default)."""
    from query_api import dashboard

    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET"})
    service = get_service()
    headers = _headers(request)
    who = principal_for(request, headers, service)
    if not (who.at_least(auth.READ) or service.settings.api_public):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            from django.contrib.auth.views import redirect_to_login

            return redirect_to_login(request.get_full_path())
        return HttpResponse(
            "You need the otel_perf.view_performance permission to see this dashboard.",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    prefix = request.path[: -len("dashboard/")]
    body = dashboard.page(
        static=prefix + "dashboard/static/",
        api=prefix,
        spec=prefix,
        suffix="/",
        trace_url_template=service.settings.trace_url_template,
        logout=None,
    )
    response = HttpResponse(body, content_type="text/html; charset=utf-8")
    for name, value in dashboard.PAGE_HEADERS.items():
        response[name] = value
    patch_vary_headers(response, ["Cookie", "Authorization"])
    return response


def dashboard_static(request: HttpRequest, name: str) -> HttpResponse:
    """The dashboard's script and stylesheet (nothing secret: served to anyone)."""
    from query_api import dashboard

    found = dashboard.static_file(name)
    if found is None:
        return HttpResponse("Not found", status=404, content_type="text/plain")
    content, content_type = found
    response = HttpResponse(content, content_type=content_type)
    response["Cache-Control"] = "public, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response
