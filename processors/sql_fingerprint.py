"""SQL fingerprinting: one canonical text per statement shape, with no literal values in it.

Two jobs. Grouping: the same statement run with different values, different IN-list lengths,
other comments or whitespace must land on one fingerprint, so N+1 detection sees "the same
query, 11 times". Privacy: the normalized text is what gets stored, so every literal (strings,
numbers, hex blobs) and every driver placeholder becomes ``?`` — no value from the app's data
ever reaches a span attribute or the store.

Canonical form:
- comments dropped (``-- …``, ``/* … */``, including sqlcommenter tails);
- string literals (``'…'`` with ``''`` escapes, ``E'…'``, ``X'…'``, dollar-quoted ``$tag$…$tag$``)
  and numbers (ints, decimals, exponents, ``0x…``) become ``?``;
- placeholders of every driver style (``%s``, ``%(name)s``, ``?``, ``:name``, ``:1``, ``$1``)
  become ``?``;
- a parenthesised list of only ``?`` collapses to ``(?)``, and ``VALUES (?), (?)`` to
  ``VALUES (?)``, so IN-lists and multi-row inserts of any length share a fingerprint;
- whitespace runs become one space; trailing semicolons go; keywords keep their case (the
  instrumentations report what the driver sent, and Django/SQLAlchemy are consistent);
- quoted identifiers (``"Foo"``, backticks) are kept exactly: they are names, not
  values, and their case matters.
``TRUE``, ``FALSE`` and ``NULL`` stay: they are keywords, not data.

The hash is the first 8 bytes of BLAKE2b of the normalized text as a signed 64-bit integer:
stable across processes and runs (unlike ``hash()``), and it fits DuckDB's ``BIGINT``.
"""

from __future__ import annotations

import hashlib
import re

# One scanner pass: each alternative is a token class. Order matters (quoted identifiers and
# strings before numbers, so digits inside them are never touched).
_TOKEN = re.compile(
    r"""
      (?P<comment>--[^\n]*|/\*.*?(?:\*/|$))
    | (?P<ident>"(?:[^"]|"")*"|`(?:[^`]|``)*`)
    | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*)?\$.*?(?:\$(?P=tag)?\$|$))
    | (?P<string>(?:[EeXxBbNn])?'(?:[^'\\]|''|\\.)*(?:'|$))
    | (?P<param>%\([^)]*\)s|%s|\$\d+|:\d+|(?<![:\w]):[A-Za-z_]\w*|\?)
    | (?P<number>(?<![\w$])(?:0[xX][0-9A-Fa-f]+
                 |\d+(?:\.\d*)?(?:[eE][+-]?\d+)?
                 |\.\d+(?:[eE][+-]?\d+)?))
    | (?P<space>\s+)
    """,
    re.VERBOSE | re.DOTALL,
)
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_VALUES_ROWS = re.compile(r"(\(\?\))(?:\s*,\s*\(\?\))+")
_SPACES = re.compile(r" {2,}")
_NEG = re.compile(r"(?<=[(,=<>\s])-\s*\?")


def _replace(match: re.Match) -> str:
    kind = match.lastgroup
    if kind == "tag":  # only reached through 'dollar'
        kind = "dollar"
    if kind == "comment":
        return " "
    if kind == "space":
        return " "
    if kind == "ident":
        return match.group(0)
    return "?"


def normalize(sql: str) -> str:
    """The statement's canonical text (see the module docstring). Never raises."""
    try:
        text = _SPACES.sub(" ", _TOKEN.sub(_replace, sql))
        text = _NEG.sub("?", text)
        text = _LIST.sub("(?)", text)
        text = _VALUES_ROWS.sub(r"\1", text)
        return text.strip().rstrip(";").strip()
    except Exception:  # pragma: no cover - defensive: junk input must not break the app
        return "?"


def _hash(text: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest(), "big", signed=True
    )


def fingerprint(sql: str) -> tuple[int, str]:
    """(signed 64-bit fingerprint, normalized text)."""
    normalized = normalize(sql)
    return _hash(normalized), normalized


# Drivers send the same parameterised text again and again: cache by the raw statement.
# Bounded: when full it is cleared (cheaper than LRU bookkeeping on the hot path, and the
# working set refills within a few requests).
CACHE_SIZE = 4096
_cache: dict[str, tuple[int, str]] = {}


def fingerprint_cached(sql: str) -> tuple[int, str]:
    hit = _cache.get(sql)
    if hit is not None:
        return hit
    result = fingerprint(sql)
    if len(_cache) >= CACHE_SIZE:
        _cache.clear()
    if len(sql) <= 20000:  # a huge one-off statement is not worth keeping
        _cache[sql] = result
    return result
