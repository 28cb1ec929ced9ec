"""The request flow both surfaces share: surface-neutral request in, (status, headers, body) out.

rate limit -> access check -> parameters -> cache (ETag / 304) -> store cursor -> report ->
envelope. The surfaces (Django views, the Starlette app) only translate their request into an
``ApiRequest`` and the ``ApiResponse`` back; everything observable is decided here, once.
Reports are looked up in their registries at request time, so a report that lands later is
served without touching this module.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from otel_perf.settings import Settings
from query_api import access_log
from query_api.auth import ADMIN, READ, Principal, TokenTable
from query_api.caching import Entry, ResponseCache, not_modified
from query_api.envelope import ApiError, error_body, internal_error, permission_denied, success_body
from query_api.parsing import parse_action, parse_params
from query_api.ratelimit import RateLimiter
from query_api.routes import SPEC_ROUTES, Route
from query_api.store import StoreReader, StoreUnavailable

_logger = logging.getLogger("otel_perf.api")

VARY = "Authorization, Cookie"
NOT_REGISTERED = "the {name} report is not available in this version of otel-perf"


@dataclasses.dataclass(frozen=True)
class ApiRequest:
    route: Route | None  # None: the spec endpoint, whose route is chosen by ?action=
    query: Mapping[str, Sequence[str]]  # name -> every value given
    headers: Mapping[str, str]  # names in lower case
    principal: Principal
    path: str | None = None  # the endpoint named in the URL (endpoint detail)
    # An answer the surface decided before the flow (an unknown path, a wrong method, Django's
    # CSRF failure): still rate limited, logged and in the envelope, like every other answer.
    refusal: ApiError | None = None
    # An answer the surface has ready (the OpenAPI document): given only after the rate-limit
    # check, so it carries the X-RateLimit-* headers and a caller over the limit gets the 429.
    answer: ApiResponse | None = None


@dataclasses.dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: bytes  # empty for 304

    def json(self):
        import json

        return json.loads(self.body)


def _registry(route: Route) -> dict:
    # Imported per request (cheap after the first): reports register as they land, and
    # importing them pulls in nothing heavy before a request needs it.
    from query_api import reports

    return reports.SPEC_ACTIONS if route.spec else reports.REST_REPORTS


def allowed(route: Route, principal: Principal, settings: Settings) -> bool:
    if route.access == "public":
        return True
    if route.access == ADMIN:
        return principal.at_least(ADMIN)
    return principal.at_least(READ) or settings.api_public


class QueryService:
    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        store: StoreReader | None = None,
        limiter: RateLimiter | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.tokens = TokenTable.parse(settings.api_tokens)  # once, with one warning
        self.store = store if store is not None else StoreReader(settings.store)
        self.limiter = limiter if limiter is not None else RateLimiter(clock=clock)
        self.cache = cache if cache is not None else ResponseCache(clock=clock)

    def handle(self, request: ApiRequest) -> ApiResponse:
        now = self.clock()
        now_dt = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
        decision = self.limiter.hit(request.principal)
        headers = {"Vary": VARY, **decision.headers(now)}
        route = request.route
        try:
            if not decision.allowed:
                raise ApiError(
                    429,
                    "RATE_LIMITED",
                    f"Rate limit of {decision.limit} requests per minute exceeded",
                    {"limit": decision.limit, "reset": decision.reset},
                )
            if request.refusal is not None:
                raise request.refusal
            if route is None:
                # Every spec action needs the same access: checked before ?action= is read,
                # so an anonymous caller learns nothing from parameter errors.
                if not allowed(SPEC_ROUTES["stats"], request.principal, self.settings):
                    raise permission_denied()
                route = SPEC_ROUTES[parse_action(request.query)]
            elif not allowed(route, request.principal, self.settings):
                raise permission_denied()
            if request.answer is not None:
                answer = request.answer
                response = ApiResponse(answer.status, dict(answer.headers), answer.body)
            else:
                response = self._answer(route, request, now_dt)
        except ApiError as error:
            response = self._error(error, now_dt, request.principal)
        except StoreUnavailable as exc:
            error = ApiError(
                503,
                "STORE_UNAVAILABLE",
                "The performance store is not available right now",
                {"reason": str(exc)},
                {"Retry-After": "5"},
            )
            response = self._error(error, now_dt, request.principal)
        except Exception:
            _logger.exception("otel-perf: the %s report failed", route.report if route else "?")
            response = self._error(internal_error(), now_dt, request.principal)
        response.headers = {**headers, **response.headers}
        if route is None or route.access != "public":
            name = route.report if route is not None else "(spec)"
            access_log.record(request.principal, name, response.status, now_dt)
        return response

    def _answer(self, route: Route, request: ApiRequest, now: datetime) -> ApiResponse:
        if route.report.startswith("alert_"):
            # Acknowledge / silence (docs/alerting.md): they read their own parameters.
            from otel_perf.alerting import api as alert_api

            data = alert_api.handle(route.report, request, self.store, self.settings, now)
            if route.method == "POST":  # cached alert reports would hide the change
                self.cache = ResponseCache(self.cache.max_entries, clock=self.clock)
            return ApiResponse(200, _json_headers("no-store"), success_body(data, now))
        params = parse_params(
            request.query, route.params, self.settings.api_max_limit, path=request.path
        )
        key = (route.spec, route.report, params, request.principal.role)
        entry = self.cache.get(key) if route.ttl else None
        if entry is None:
            report = _registry(route).get(route.report)
            if report is None:
                body = success_body({}, now, note=NOT_REGISTERED.format(name=route.report))
                return ApiResponse(200, _json_headers("no-store"), body)
            with self.store.cursor() as cursor:
                data = report(cursor, params, self.settings, now)
            entry = self.cache.make(success_body(data, now), route.ttl)
            if route.ttl:
                self.cache.put(key, entry)
        return self._fresh(entry, request.headers, route.ttl)

    def _fresh(self, entry: Entry, request_headers: Mapping[str, str], ttl: int) -> ApiResponse:
        now = self.clock()
        cache_control = f"private, max-age={entry.max_age(now)}" if ttl else "no-store"
        headers = {
            "Cache-Control": cache_control,
            "ETag": entry.etag,
            "Last-Modified": entry.last_modified,
        }
        since = request_headers.get("if-modified-since")
        if not_modified(entry, request_headers.get("if-none-match"), since, now):
            return ApiResponse(304, headers, b"")
        return ApiResponse(200, {**_json_headers(cache_control), **headers}, entry.body)

    def _error(self, error: ApiError, now: datetime, principal: Principal) -> ApiResponse:
        headers = {**_json_headers("no-store"), **error.headers}
        if error.status == 403 and principal.bad_token:
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return ApiResponse(error.status, headers, error_body(error, now))

    def close(self) -> None:
        self.store.close()


def _json_headers(cache_control: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Cache-Control": cache_control}
