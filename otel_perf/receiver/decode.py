"""OTLP trace payloads → ``RemoteSpan`` lists, in one pass, for both encodings.

Protobuf goes through the generated classes of ``opentelemetry-proto`` (the upb C backend
parses), then one Python loop flattens each span into a ``RemoteSpan``; nothing builds
intermediate dicts of the whole message (``MessageToDict`` is about 5× slower). JSON follows
the OTLP/JSON rules: ids in hex, enums as integers, 64-bit integers as strings or numbers.
Every malformed input raises ``PayloadError`` (a 400 for the client), never anything else.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_perf.receiver.spans import Origin, RemoteSpan


class PayloadError(ValueError):
    """The payload cannot be read (client error: 400)."""


class PayloadTooLarge(ValueError):
    """The payload, or what it decompresses to, exceeds the limit (413)."""


class Decoded:
    __slots__ = ("spans", "rejected", "reason")

    def __init__(self) -> None:
        self.spans: list[RemoteSpan] = []
        self.rejected = 0  # spans refused (bad ids): reported as partial success
        self.reason = ""


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate or none), never producing more than ``limit``
    bytes: a decompression bomb stops at the limit instead of filling memory."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise PayloadError(f"unsupported Content-Encoding {encoding!r}")
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise PayloadError(f"bad {encoding} data: {exc}") from None
    if len(out) > limit:
        raise PayloadTooLarge(f"the payload decompresses to more than {limit} bytes")
    if not inflater.eof:
        raise PayloadError(f"truncated {encoding} data")
    return out


# -- protobuf -------------------------------------------------------------------------------------


def _pb_value(v):
    which = v.WhichOneof("value")
    if which == "array_value":
        return tuple(_pb_value(x) for x in v.array_value.values)
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if which is None:
        return None
    return getattr(v, which)


def _pb_attributes(kvs) -> dict:
    out = {}
    for kv in kvs:
        value = _pb_value(kv.value)
        if value is not None:
            out[kv.key] = value
    return out


# What the facts need from a span that is not a root: its statement. Reading an attribute
# costs about 0.7 us in the protobuf runtime before its value is even looked at, so spans of
# other kinds keep only these (roots, and any span carrying perf.* — a GraphQL operation —
# keep everything).
_CHILD_KEYS = frozenset(("db.statement", "db.query.text", "db.system", "db.system.name"))
_SERVER = 2


def _pb_child_attributes(kvs) -> dict:
    out = {}
    for kv in kvs:
        key = kv.key
        if key in _CHILD_KEYS:
            value = kv.value
            out[key] = value.string_value if value.HasField("string_value") else _pb_value(value)
        elif key.startswith("perf."):
            return _pb_attributes(kvs)
    return out


def _json_child_attributes(kvs) -> dict:
    if not isinstance(kvs, list):
        return _json_attributes(kvs)
    for kv in kvs:
        if isinstance(kv, dict) and str(kv.get("key", "")).startswith("perf."):
            return _json_attributes(kvs)
    return _json_attributes(
        [kv for kv in kvs if isinstance(kv, dict) and kv.get("key") in _CHILD_KEYS]
    )


def decode_protobuf(body: bytes) -> Decoded:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise PayloadError(f"not an ExportTraceServiceRequest: {exc}") from None
    result = Decoded()
    spans = result.spans
    append = spans.append
    from_bytes = int.from_bytes
    for resource_spans in request.resource_spans:
        origin = Origin(_pb_attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                trace_id = s.trace_id
                span_id = s.span_id
                if len(trace_id) != 16 or len(span_id) != 8 or not any(trace_id):
                    result.rejected += 1
                    result.reason = "spans need a 16-byte trace_id and an 8-byte span_id"
                    continue
                parent = s.parent_span_id
                kind = s.kind
                attributes = s.attributes
                append(
                    RemoteSpan(
                        from_bytes(trace_id, "big"),
                        from_bytes(span_id, "big"),
                        from_bytes(parent, "big") if len(parent) == 8 else 0,
                        s.name,
                        kind,
                        s.start_time_unix_nano,
                        s.end_time_unix_nano,
                        _pb_attributes(attributes)
                        if kind == _SERVER
                        else _pb_child_attributes(attributes),
                        s.status.code,
                        s.flags,
                        origin,
                    )
                )
    return result


# -- JSON -----------------------------------------------------------------------------------------


def _json_id(raw, size: int) -> int | None:
    """An id as OTLP/JSON sends it (hex); base64 (what a generic protobuf JSON mapper
    writes) is accepted too. None when absent or malformed."""
    if not raw or not isinstance(raw, str):
        return None
    try:
        if len(raw) == size * 2:
            data = bytes.fromhex(raw)
        else:
            data = base64.b64decode(raw, validate=True)
    except (ValueError, binascii.Error):
        return None
    if len(data) != size:
        return None
    return int.from_bytes(data, "big")


def _json_int(raw) -> int:
    if raw is None or raw == "":
        return 0
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise PayloadError(f"expected an integer, got {raw!r}")
    try:
        return int(raw)
    except ValueError:
        raise PayloadError(f"expected an integer, got {raw!r}") from None


def _json_value(v):
    if not isinstance(v, dict):
        return None
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return _json_int(v["intValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "doubleValue" in v:
        value = v["doubleValue"]
        return float(value) if isinstance(value, (int, float, str)) else None
    if "arrayValue" in v:
        values = (v["arrayValue"] or {}).get("values") or []
        return tuple(_json_value(x) for x in values)
    if "kvlistValue" in v:
        return _json_attributes((v["kvlistValue"] or {}).get("values"))
    if "bytesValue" in v:
        try:
            return base64.b64decode(v["bytesValue"])
        except (ValueError, binascii.Error, TypeError):
            return None
    return None


def _json_attributes(kvs) -> dict:
    out = {}
    for kv in kvs or ():
        if not isinstance(kv, dict):
            raise PayloadError("an attribute is not an object")
        key = kv.get("key")
        value = _json_value(kv.get("value"))
        if isinstance(key, str) and value is not None:
            out[key] = value
    return out


def decode_json(body: bytes) -> Decoded:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadError("the JSON payload is not an object")
    result = Decoded()
    try:
        for resource_spans in document.get("resourceSpans") or ():
            resource = resource_spans.get("resource") or {}
            origin = Origin(_json_attributes(resource.get("attributes")))
            for scope_spans in resource_spans.get("scopeSpans") or ():
                for s in scope_spans.get("spans") or ():
                    trace_id = _json_id(s.get("traceId"), 16)
                    span_id = _json_id(s.get("spanId"), 8)
                    if not trace_id or span_id is None:
                        result.rejected += 1
                        result.reason = "spans need a 16-byte traceId and an 8-byte spanId (hex)"
                        continue
                    status = s.get("status") or {}
                    kind = _json_int(s.get("kind"))
                    attributes = s.get("attributes")
                    result.spans.append(
                        RemoteSpan(
                            trace_id,
                            span_id,
                            _json_id(s.get("parentSpanId"), 8) or 0,
                            str(s.get("name") or ""),
                            kind,
                            _json_int(s.get("startTimeUnixNano")),
                            _json_int(s.get("endTimeUnixNano")),
                            _json_attributes(attributes)
                            if kind == _SERVER
                            else _json_child_attributes(attributes),
                            _json_int(status.get("code")),
                            _json_int(s.get("flags")),
                            origin,
                        )
                    )
    except (AttributeError, TypeError) as exc:  # a list where an object belongs, ...
        raise PayloadError(f"malformed OTLP/JSON: {exc}") from None
    return result


def decode(body: bytes, content_type: str) -> Decoded:
    if is_json(content_type):
        return decode_json(body)
    return decode_protobuf(body)


def is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"
