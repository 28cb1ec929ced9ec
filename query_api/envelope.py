"""The spec's JSON envelope for successes and errors, and the one JSON encoder of the API.

Success: ``{"status": "success", "data": ..., "timestamp": "...Z"}``; error:
``{"status": "error", "error": {"code", "message", "details"?}, "timestamp": "...Z"}``.
Bodies are bytes so that the ETag is the hash of exactly what is sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import math
from typing import Any


class ApiError(Exception):
    """An answer other than success; raised anywhere in the request flow, rendered once."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def invalid_parameter(parameter: str, value: Any, message: str, **details: Any) -> ApiError:
    return ApiError(
        400,
        "INVALID_PARAMETER",
        message,
        {"parameter": parameter, "value": value, **details},
    )


def permission_denied() -> ApiError:
    # The spec's exact body: the message does not say which permission is missing.
    return ApiError(403, "PERMISSION_DENIED", "Insufficient permissions to access performance data")


def internal_error() -> ApiError:
    return ApiError(
        500, "INTERNAL_ERROR", "An internal error occurred while processing the request"
    )


def utc_timestamp(now: dt.datetime) -> str:
    """A naive-UTC or aware datetime as ``2024-01-15T10:30:00Z`` (second precision, as the spec)."""
    if now.tzinfo is not None:
        now = now.astimezone(dt.UTC).replace(tzinfo=None)
    return now.replace(microsecond=0).isoformat() + "Z"


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"  # naive datetimes in this product are UTC
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return _finite(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _clean(value: Any) -> Any:
    # NaN and infinities are not JSON; a figure that cannot be known is null (glossary).
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def dumps(document: dict) -> bytes:
    return json.dumps(_clean(document), default=_default, allow_nan=False).encode()


def success_body(data: Any, now: dt.datetime, note: str | None = None) -> bytes:
    document: dict[str, Any] = {"status": "success", "data": data, "timestamp": utc_timestamp(now)}
    if note is not None:
        document["note"] = note
    return dumps(document)


def error_body(error: ApiError, now: dt.datetime) -> bytes:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    return dumps({"status": "error", "error": body, "timestamp": utc_timestamp(now)})
