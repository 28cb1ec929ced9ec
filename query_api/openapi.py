"""The OpenAPI 3.1 document of the standalone service, generated from ``routes`` (the same
table validation reads, so the document cannot promise what the service refuses)."""

from __future__ import annotations

from otel_perf.version import __version__
from query_api.routes import (
    PARAMS,
    REST_PREFIX,
    REST_ROUTES,
    SPEC_PREFIX,
    SPEC_ROUTES,
    Param,
    Route,
)

_ERROR_CODES = {
    "400": "Invalid parameter (INVALID_PARAMETER)",
    "403": "Insufficient permissions (PERMISSION_DENIED)",
    "429": "Rate limit exceeded (RATE_LIMITED); see Retry-After",
    "500": "Internal error (INTERNAL_ERROR); nothing internal is disclosed",
    "503": "The store cannot be opened right now (STORE_UNAVAILABLE)",
}

_SUCCESS = {
    "type": "object",
    "required": ["status", "data", "timestamp"],
    "properties": {
        "status": {"const": "success"},
        "data": {"type": "object"},
        "timestamp": {"type": "string"},
        "note": {"type": "string"},
    },
}

_ERROR = {
    "type": "object",
    "required": ["status", "error", "timestamp"],
    "properties": {
        "status": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        },
        "timestamp": {"type": "string"},
    },
}


def _schema(param: Param, max_limit: int) -> dict:
    if param.kind in ("int", "float"):
        schema: dict = {"type": "integer" if param.kind == "int" else "number"}
        schema["minimum"] = int(param.minimum) if param.kind == "int" else param.minimum
        maximum = param.maximum if param.maximum is not None else max_limit
        schema["maximum"] = int(maximum) if param.kind == "int" else maximum
    elif param.kind == "datetime":
        schema = {"type": "string", "format": "date-time"}
    else:
        schema = {"type": "string", "enum": list(param.choices)}
    if param.default is not None:
        schema["default"] = param.default
    return schema


def _parameters(route: Route, max_limit: int) -> list[dict]:
    out = []
    if route.path_param:
        out.append(
            {
                "name": "path",
                "in": "path",
                "required": True,
                "description": "The endpoint: its route ('books/<int:pk>/') or 'GET /route'",
                "schema": {"type": "string", "minLength": 1},
            }
        )
    for name in route.params:
        param = PARAMS[name]
        out.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": param.description,
                "schema": _schema(param, max_limit),
            }
        )
    return out


def _responses() -> dict:
    responses = {
        "200": {
            "description": "Success (the spec's envelope)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Success"}}},
        },
        "304": {
            "description": "Not modified (If-None-Match matched the ETag, or If-Modified-Since"
            " is not before Last-Modified)"
        },
    }
    for status, description in _ERROR_CODES.items():
        responses[status] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return responses


def _operation(route: Route, max_limit: int, operation_id: str) -> dict:
    operation = {
        "operationId": operation_id,
        "summary": route.summary,
        "description": f"Access: {route.access}. Cached for {route.ttl} s."
        if route.ttl
        else f"Access: {route.access}. Not cached.",
        "parameters": _parameters(route, max_limit),
        "responses": _responses(),
    }
    if route.access != "public":
        operation["security"] = [{"bearer": []}]
    return operation


def build_openapi(max_limit: int) -> dict:
    spec_route = SPEC_ROUTES["stats"]
    spec_op = _operation(spec_route, max_limit, "performance")
    spec_op["summary"] = "The spec's endpoint: stats, alerts or slow_queries via ?action="
    paths: dict = {SPEC_PREFIX: {"get": spec_op}}
    for route in REST_ROUTES:
        operation_id = route.path.replace("/{path}", "_detail").replace("/", "_").replace("-", "_")
        paths.setdefault(REST_PREFIX + route.path, {})[route.method.lower()] = _operation(
            route, max_limit, operation_id
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": "otel-perf query API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {"Success": _SUCCESS, "Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
