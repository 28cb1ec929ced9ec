"""Query string -> ``Params``: every bad value is a 400 INVALID_PARAMETER naming the parameter.

Pure functions over ``routes.PARAMS``; only the parameters a route declares are read (others
are ignored, as HTTP APIs commonly do), and a declared one given twice is an error rather than
a silent pick of one of the values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from query_api.envelope import ApiError, invalid_parameter
from query_api.params import Params
from query_api.routes import DATES, PARAMS, SEVERITY_ALIASES, Param

# Plain ASCII numbers only: int() and float() would also take "1_000", "٣" or "nan".
INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,18}(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")

# Params field for each query parameter whose name differs.
FIELD = {"start_date": "start", "end_date": "end"}


def single(query: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise invalid_parameter(name, list(values), f"Parameter {name} given more than once")
    return values[0]


def parse_datetime(name: str, raw: str) -> datetime:
    """ISO 8601 (``Z``, an offset, or no zone = UTC; a bare date is its midnight) -> naive UTC."""
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise invalid_parameter(
            name,
            raw,
            f"Invalid {name} parameter: expected an ISO 8601 date or date-time",
            expected="ISO 8601, e.g. 2024-01-15T09:30:00Z",
        ) from None
    return value


def _number(param: Param, raw: str, max_limit: int) -> int | float:
    maximum = param.maximum if param.maximum is not None else max_limit
    kind = "an integer" if param.kind == "int" else "a number"
    shown_min = int(param.minimum) if param.kind == "int" else param.minimum
    shown_max = int(maximum) if param.kind == "int" else maximum
    error = invalid_parameter(
        param.name,
        raw,
        f"Invalid {param.name} parameter: expected {kind} from {shown_min} to {shown_max}",
        minimum=shown_min,
        maximum=shown_max,
    )
    text = raw.strip()
    if not (INTEGER if param.kind == "int" else DECIMAL).fullmatch(text):
        raise error
    value: int | float = int(text) if param.kind == "int" else float(text)
    if not math.isfinite(value):
        raise error
    if value < param.minimum or value > maximum:
        raise error
    return value


def _choice(param: Param, raw: str) -> str:
    value = raw.strip()
    value = value.upper() if param.kind == "method" else value.lower()
    if value not in param.choices:
        message = (
            "Invalid action parameter"  # the spec's exact wording
            if param.name == "action"
            else f"Invalid {param.name} parameter"
        )
        raise invalid_parameter(param.name, raw, message, allowed_values=list(param.choices))
    if param.name == "severity":
        return SEVERITY_ALIASES.get(value, value)
    return value


def parse_value(param: Param, raw: str, max_limit: int):
    if param.kind in ("int", "float"):
        return _number(param, raw, max_limit)
    if param.kind == "datetime":
        return parse_datetime(param.name, raw)
    return _choice(param, raw)


def parse_action(query: Mapping[str, Sequence[str]]) -> str:
    raw = single(query, "action")
    return PARAMS["action"].default if raw is None else parse_value(PARAMS["action"], raw, 0)


def parse_params(
    query: Mapping[str, Sequence[str]],
    names: Sequence[str],
    max_limit: int,
    path: str | None = None,
) -> Params:
    """The route's declared parameters from ``query`` (name -> values) into one ``Params``."""
    fields: dict = {}
    for name in names:
        if name == "action":
            continue
        raw = single(query, name)
        if raw is None:
            continue
        fields[FIELD.get(name, name)] = parse_value(PARAMS[name], raw, max_limit)
    if "hours" in fields:
        fields["hours"] = float(fields["hours"])
    if "minutes" in fields:
        fields["minutes"] = float(fields["minutes"])
    start, end = fields.get("start"), fields.get("end")
    if start is not None and end is not None and end < start:
        raise invalid_parameter(
            DATES[1],
            single(query, DATES[1]),
            "Invalid end_date parameter: it is before start_date",
            start_date=single(query, DATES[0]),
        )
    if path is not None:
        method, route = parse_endpoint(path)
        if method is not None:
            if fields.get("method") not in (None, method):
                raise invalid_parameter(
                    "method", fields["method"], "The method parameter contradicts the path"
                )
            fields["method"] = method
        fields["path"] = route
    return Params(**fields)


def parse_endpoint(raw: str) -> tuple[str | None, str]:
    """``"GET /books/<int:pk>/"`` (seed 001) or ``"books/<int:pk>/"`` (seed 003) ->
    (method or None, route with a leading slash)."""
    text = raw.strip()
    method, sep, rest = text.partition(" ")
    if sep and method.upper() in PARAMS["method"].choices:
        text = rest.strip()
        found: str | None = method.upper()
    else:
        found = None
    if not text:
        raise invalid_parameter("path", raw, "Invalid path parameter: no endpoint route given")
    return found, text if text.startswith("/") else "/" + text


__all__ = ["ApiError", "parse_action", "parse_datetime", "parse_endpoint", "parse_params"]
