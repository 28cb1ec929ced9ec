"""GraphQL variables made safe to store: secrets redacted, e-mail addresses masked, size bounded.

Variables are where an operation's data travels (the document's own literals are hidden by
``signature``), so nothing is stored as sent:

- A value whose key, normalised (lower-case; ``_``, ``-`` and spaces removed), contains one of
  the sensitive words (or one of the configured extra keys, normalised the same way) becomes
  ``"[REDACTED]"``, whatever it is: a string, a number, a whole object.
- E-mail addresses in strings become ``"[EMAIL]"`` (a string that is one becomes exactly
  that): personal data, kept out by default.
- Bounds, so that one request cannot put megabytes in the store: strings are cut at
  ``MAX_STRING`` characters, objects and lists at ``MAX_ITEMS`` entries, nesting at
  ``MAX_DEPTH``, and the whole value at ``MAX_NODES`` values; each cut leaves a marker
  saying so.
- The result is JSON-serialisable: dicts with string keys, lists, str, int, finite floats,
  bool, None. Anything else (dates, decimals, uploads, NaN) becomes its ``str()``, bounded.

``redact_variables`` never raises: if anything goes wrong the whole value is
``"[REDACTED]"``, the safe failure.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "EMAIL",
    "SENSITIVE_WORDS",
    "normalise_key",
    "redact_variables",
    "variables_json",
]

REDACTED = "[REDACTED]"
EMAIL = "[EMAIL]"
SENSITIVE_WORDS = (
    "password",
    "passwd",
    "token",
    "secret",
    "authorization",
    "apikey",
    "creditcard",
    "cardnumber",
    "cvv",
)

# Why these bounds: a stored span attribute should stay in the kilobytes. 256 characters keep
# any id, name or search term whole; 50 items show a list's shape; past 8 levels a variable is
# a document, not a parameter; 500 values in all is about 20 kB of JSON at worst.
MAX_STRING = 256
MAX_ITEMS = 50
MAX_DEPTH = 8
MAX_NODES = 500

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_NORMALISE = str.maketrans("", "", "_- ")


def normalise_key(key: Any) -> str:
    """``"API-Key"``, ``"api_key"`` and ``"apiKey"`` all read ``"apikey"``."""
    return str(key).lower().translate(_NORMALISE)


def redact_variables(variables: Any, extra_keys: Iterable[str] = ()) -> Any:
    """A JSON-serialisable copy of ``variables`` that is safe to store (module docstring)."""
    try:
        words = SENSITIVE_WORDS + tuple(w for w in map(normalise_key, extra_keys or ()) if w)
        return _Redactor(words).value(variables, 0)
    except Exception:  # odd input must never break the request, and this exposes nothing
        return REDACTED


def variables_json(variables: Any, extra_keys: Iterable[str] = ()) -> str:
    """``graphql.variables`` as stored: the redacted copy as compact JSON, keys sorted."""
    redacted = redact_variables(variables, extra_keys)
    return json.dumps(redacted, separators=(",", ":"), sort_keys=True, default=str)


class _Redactor:
    def __init__(self, words: tuple[str, ...]) -> None:
        self.words = words
        self.budget = MAX_NODES

    def sensitive(self, key: str) -> bool:
        normalised = normalise_key(key)
        return any(word in normalised for word in self.words)

    def value(self, value: Any, depth: int) -> Any:
        self.budget -= 1
        if value is None or isinstance(value, bool | int):
            return value if not isinstance(value, int) or abs(value) < 2**63 else str(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, str):
            return _string(value)
        if isinstance(value, Mapping):
            if depth >= MAX_DEPTH:
                return "[DEPTH LIMIT]"
            return self.mapping(value, depth)
        if isinstance(value, list | tuple | set | frozenset):
            if depth >= MAX_DEPTH:
                return "[DEPTH LIMIT]"
            return self.sequence(value, depth)
        try:
            text = str(value)
        except Exception:
            return "[UNSERIALISABLE]"
        return _string(text)

    def mapping(self, mapping: Mapping, depth: int) -> dict:
        result: dict[str, Any] = {}
        for index, (key, item) in enumerate(mapping.items()):
            if index >= MAX_ITEMS or self.budget <= 0:
                result["[TRUNCATED]"] = f"{len(mapping) - index} more keys"
                break
            key = _string(key if isinstance(key, str) else str(key))
            result[key] = REDACTED if self.sensitive(key) else self.value(item, depth + 1)
        return result

    def sequence(self, items, depth: int) -> list:
        result = []
        for index, item in enumerate(items):
            if index >= MAX_ITEMS or self.budget <= 0:
                result.append(f"[TRUNCATED: {len(items) - index} more items]")
                break
            result.append(self.value(item, depth + 1))
        return result


def _string(text: str) -> str:
    length = len(text)
    # Mask before cutting, so an address across the cut is not left half-visible; the regex
    # only ever sees a bounded head (an address is at most 254 characters).
    head = text[: 2 * MAX_STRING] if length > 2 * MAX_STRING else text
    if "@" in head:
        head = _EMAIL.sub(EMAIL, head)
    if length > MAX_STRING or len(head) > MAX_STRING:
        return head[:MAX_STRING] + f"…[TRUNCATED: {length} characters]"
    return head
