"""The standalone report service (``otel-perf serve``): a Starlette app over ``QueryService``.

The spec's endpoint at ``/graphql/performance/``, the other reports under
``/api/v1/performance/``, ``/openapi.json``, and the dashboard at ``/`` (``dashboard/``); every
report route comes from ``routes``. Reports run in Starlette's thread pool (DuckDB blocks),
each on its own cursor.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from otel_perf.settings import Settings
from query_api import auth, prometheus
from query_api.dashboard import standalone as dashboard
from query_api.envelope import ApiError
from query_api.openapi import build_openapi
from query_api.ratelimit import RateLimiter
from query_api.routes import OPENAPI, REST_PREFIX, REST_ROUTES, SPEC_PREFIX, UNMATCHED, Route
from query_api.service import ApiRequest, ApiResponse, QueryService


def _query(request: Request) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        query.setdefault(name, []).append(value)
    return query


def _to_starlette(response: ApiResponse) -> Response:
    return Response(content=response.body, status_code=response.status, headers=response.headers)


def _api_request(service: QueryService, request: Request, route: Route | None, **answer):
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers = dashboard.cookie_authorization(request, headers)  # the dashboard's login
    client_ip = request.client.host if request.client else None
    return ApiRequest(
        route=route,
        query=_query(request),
        headers=headers,
        principal=auth.from_headers(headers, service.tokens, client_ip),
        **answer,
    )


def _endpoint(service: QueryService, route: Route | None) -> Callable:
    async def endpoint(request: Request) -> Response:
        api_request = _api_request(service, request, route, path=request.path_params.get("path"))
        return _to_starlette(await run_in_threadpool(service.handle, api_request))

    endpoint.api_route = route  # for a 405 on its path (http_error)
    return endpoint


def _starlette_path(route: Route) -> str:
    return REST_PREFIX + route.path.replace("{path}", "{path:path}")


def create_app(
    settings: Settings,
    clock: Callable[[], float] = time.time,
    limiter: RateLimiter | None = None,
    service: QueryService | None = None,
) -> Starlette:
    service = service or QueryService(settings, clock=clock, limiter=limiter)
    document = json.dumps(build_openapi(settings.api_max_limit)).encode()

    async def openapi(request: Request) -> Response:
        # Through the shared flow like a report: rate limited, with the X-RateLimit-* headers.
        answer = ApiResponse(200, {"Content-Type": "application/json"}, document)
        return _to_starlette(service.handle(_api_request(service, request, OPENAPI, answer=answer)))

    openapi.api_route = OPENAPI

    async def http_error(request: Request, exc: HTTPException) -> Response:
        # 404 (no route) and 405 (a route, not this method): refused in the shared flow, so
        # they are rate limited and logged, with the X-RateLimit-* headers and the envelope.
        route = UNMATCHED
        if exc.status_code == 405:  # the scope names the endpoint whose path matched
            route = getattr(request.scope.get("endpoint"), "api_route", UNMATCHED)
        codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
        code = codes.get(exc.status_code, "HTTP_ERROR")
        error = ApiError(exc.status_code, code, exc.detail, headers=dict(exc.headers or {}))
        return _to_starlette(service.handle(_api_request(service, request, route, refusal=error)))

    routes = [
        StarletteRoute(SPEC_PREFIX, _endpoint(service, None), methods=["GET"]),
        StarletteRoute("/openapi.json", openapi, methods=["GET"]),
    ]
    for route in REST_ROUTES:
        routes.append(
            StarletteRoute(
                _starlette_path(route), _endpoint(service, route), methods=[route.method]
            )
        )

    routes += dashboard.routes(service)  # the page at /, its login and static files
    routes += prometheus.starlette_routes(service)  # GET /metrics

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        service.close()

    app = Starlette(
        routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan
    )
    app.state.service = service
    return app
