"""SQL fingerprinting: one canonical text per statement shape, with no literal values in it.

Two jobs, both on the span hot path (every DB span):

- Grouping. The same statement run with other values, other IN-list lengths, other comments
  or whitespace must land on one fingerprint, so N+1 detection sees "the same query, 11
  times" whether the driver sent ``%s``, ``?``, ``$1`` or an inlined ``42``.
- Privacy. The normalized text is what gets stored, so every literal and every driver
  placeholder becomes ``?``: no value from the app's data reaches a span attribute or the
  store.

Canonical form (what ``normalize`` returns):

- Comments go: ``-- …`` to end of line and ``/* … */`` (sqlcommenter tails included).
- String literals become ``?``: ``'…'`` with ``''`` escapes, prefixed ``E'…'`` (backslash
  escapes), ``X'…'``, ``B'…'``, ``N'…'``, and dollar-quoted ``$$…$$`` / ``$tag$…$tag$``.
- Numbers become ``?``: integers, decimals, exponents, ``0x…``/``0b…``/``0o…``, ``1_000``.
  A unary minus goes with its number (``= -3`` and ``= 3`` are one shape); a binary minus
  (``a - 1``) stays.
- Placeholders of every driver style become ``?``: ``%s``, ``%(name)s`` (and psycopg's
  ``%b``/``%t``), ``?``, ``?1``, ``:name``, ``:1``, ``$1``, ``$name``. ``%%`` and ``::``
  casts are left alone.
- Lists collapse, so any length gives one text: a parenthesised list of only ``?`` becomes
  ``(?)`` (``IN (?, ?, ?)`` → ``IN (?)``), a bracketed one ``[?]`` (``ARRAY[?, ?]``), and a
  run of ``(?)`` rows becomes one (``VALUES (?, ?), (?, ?)`` → ``VALUES (?)``). The price:
  a call like ``COALESCE(?, ?)`` also reads ``COALESCE(?)``, harmless for grouping. Rows
  that mix ``?`` with other expressions (``VALUES (?, NOW())``) are not collapsed.
- Whitespace runs become one space; the text is trimmed; trailing semicolons go.
- Case is kept as sent, keywords included. Upper-casing keywords would need a keyword list
  and a per-word pass, and buys nothing here: one call site always sends the same text
  (ORMs render consistently), and N+1 is about one call site repeating. It also guarantees
  that names are never altered.
- Quoted identifiers — ``"Foo"``, ```foo```, ``[foo]`` — are names, not values: kept
  byte for byte (case matters: ``"A"`` and ``"a"`` are different columns). So are unquoted
  names, digits in them included (``t2``, ``col1``). ``TRUE``, ``FALSE`` and ``NULL`` stay:
  they are keywords, not data.

Dialect ambiguity, resolved towards privacy: whether a backslash escapes a quote inside
``'…'`` depends on the database (MySQL: yes; PostgreSQL, SQLite, the standard: no). Read
the wrong way, ``'C:\\', 'secret'`` would expose ``secret``. A statement containing a
backslash is therefore scanned both ways and everything either reading takes for a literal
or a comment is masked (usually identical; otherwise the ambiguous tail reads ``?``).
Known limit: MySQL's default mode also accepts ``"…"`` as a string; here it is an
identifier, as in the standard, PostgreSQL, SQLite and every ORM's generated SQL.

``normalize`` never raises: anything unexpected yields ``"?"``. Unterminated quotes and
comments run to the end of the text, so junk degrades to fewer tokens, never to exposed
values.

The fingerprint is the first 8 bytes of BLAKE2b of the normalized text, read as a signed
64-bit integer: stable across processes and runs (unlike ``hash()``), fits DuckDB's
``BIGINT``.
"""

from __future__ import annotations

import hashlib
import re

# --- The scanner ---------------------------------------------------------------------------
#
# One regex pass with a small callback. Everything that is certainly not a literal (words,
# quoted identifiers, operators, spaces) is matched as one long "keep" run, so a typical ORM
# statement costs a handful of callbacks instead of one per token. Words are matched whole
# (possessively), which is what keeps digits inside names (t2, col1) out of the number rule.
# Every alternative fails fast or consumes what it scanned, so no input makes the scan
# quadratic (a lookahead after a word, for instance, would: each failed attempt rescans).
# Quoted runs are written as unrolled loops ("[^"]*(""[^"]*)*") rather than ("(?:[^"]|"")*"):
# the regex engine then scans them in its C character loop, about twice as fast overall.

# Quoted identifiers, kept byte for byte: "double quotes", `backticks`, [brackets]. A bracket
# pair is an identifier only where a name can start (not arr[1]) and when it holds a name
# (not a list such as [1, 2] or ['a']).
_DQ_IDENT = r'"[^"]*+(?:""[^"]*+)*+"'
_BT_IDENT = r"`[^`]*+(?:``[^`]*+)*+`"
_BR_IDENT = r"""(?<![\w\])"`])\[[^\W\d][^\]'"`,\[\n]*\]"""

_KEEP = (
    "(?P<keep>(?:"
    + "|".join(
        (
            r"(?![EeXxBbNn]')[^\W\d][\w$]*+",  # words (a lone E, X, B, N before ' is a prefix)
            _DQ_IDENT,
            r"[ ,=<>()*+!|&~^;@#{}\]]++",  # operators, punctuation, spaces
            r"\.(?!\d)",  # a dot, not the start of .5
            r"-(?!-)",  # a minus, not a -- comment
            r"/(?!\*)",  # a slash, not a /* comment
            r"::",  # a cast, not :name
            r"%%",  # psycopg's escaped percent, not %s
            _BT_IDENT,
            _BR_IDENT,
            r"\[",
        )
    )
    + ")++)"
)

# A driver placeholder. In a parenthesised list of nothing but placeholders (IN-lists,
# VALUES rows, however many) the whole list is one match: the post-passes below would
# collapse it to (?) anyway, and a 1,000-id IN-list then costs one callback, not 1,000.
_PARAM = r"(?:%(?:\([^)]*\))?[sbt]|\?\d*|\$\d+|:\d+|:[^\W\d]\w*)"
_PARAM_LIST = (
    rf"(?P<plist>(?<=\(){_PARAM}(?:\s*,\s*{_PARAM})*"
    rf"(?:\s*\)\s*,\s*\(\s*{_PARAM}(?:\s*,\s*{_PARAM})*)*(?=\s*\)))"
)

# Strings, the standard reading: a backslash is an ordinary character, except in E'..'.
# Unterminated quotes (string or identifier) run to the end: the rest is masked.
_STRING_STANDARD = r"""
    (?P<string>
        (?<![\w$])[Ee]'[^'\\]*+(?:(?:''|\\.)[^'\\]*+)*+\\?(?:'|\Z)
      | (?:(?<![\w$])[XxBbNn])?'[^']*+(?:''[^']*+)*+(?:'|\Z)
      | "[^"]*+(?:""[^"]*+)*+\Z
      | `[^`]*+(?:``[^`]*+)*+\Z
    )
"""
# MySQL's reading: a backslash escapes the next character in every string.
_STRING_BACKSLASH = r"""
    (?P<string>
        (?:(?<![\w$])[EeXxBbNn])?'[^'\\]*+(?:(?:''|\\.)[^'\\]*+)*+\\?(?:'|\Z)
      | "[^"]*+(?:""[^"]*+)*+\Z
      | `[^`]*+(?:``[^`]*+)*+\Z
    )
"""

_REST = r"""
  | (?P<comment>--[^\n]*+|/\*[^*]*+(?:\*+[^*/][^*]*+)*+(?:\*+/|\**\Z))
  | (?P<dollar>(?<![\w$])(?:\$\$.*?(?:\$\$|\Z)|\$(?P<tag>[^\W\d]\w*)\$.*?(?:\$(?P=tag)\$|\Z)))
  | (?P<param>%(?:\([^)]*\))?[sbt]|\?\d*|(?<![\w$])\$(?:\d+|[^\W\d]\w*)
              |(?<![:\w]):(?:\d+|[^\W\d]\w*))
  | (?P<number>(?<![\w$])(?:0[xXbBoO][0-9A-Fa-f_]+
                  |(?:\d[\d_]*+(?:\.[\d_]*+)?|\.\d[\d_]*+)(?:[eE][+-]?\d+)?))
  | (?P<space>\s+)
"""

_FLAGS = re.VERBOSE | re.DOTALL
_TOKEN = re.compile("|".join((_KEEP, _PARAM_LIST, _STRING_STANDARD)) + _REST, _FLAGS)
_TOKEN_BACKSLASH = re.compile("|".join((_KEEP, _PARAM_LIST, _STRING_BACKSLASH)) + _REST, _FLAGS)
_MASKED_KINDS = frozenset(("string", "dollar", "comment", "tag"))

# Post-passes on the scanned text (``?`` for values, no comments). Each is guarded by a
# substring test so that statements it cannot change skip it at C speed.
#
# A minus is unary — part of the value — after an operator, an opening bracket, a comma, a
# keyword that introduces an expression, or at the start; after a name, a value or ``)``
# it is binary (``a - ?``) and stays.
_UNARY_MINUS = re.compile(
    r"(^|[(\[,=<>+\-*/%^|&~]|\b(?:SELECT|WHERE|AND|OR|NOT|IN|VALUES|THEN|ELSE|WHEN|BY|LIMIT"
    r"|OFFSET|BETWEEN|LIKE|IS|RETURN|RETURNING|CASE|SET|ON|HAVING|AS|INTERVAL)\b)( ?)- ?\?",
    re.IGNORECASE,
)
_PAREN_LIST = re.compile(r"\( ?\?(?: ?, ?\?)* ?\)")
_BRACKET_LIST = re.compile(r"\[ ?\?(?: ?, ?\?)* ?\]")
_ROWS = re.compile(r"\(\?\)(?: ?, ?\(\?\))+")
# Space runs (left where a comment was cut out, or sent by the driver) become one space,
# except inside quoted identifiers, which are copied as they are (group 2).
_SPACES = re.compile(rf"( ) +|({_DQ_IDENT}|{_BT_IDENT}|{_BR_IDENT})")


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "keep":
        return match.group()
    if kind == "space" or kind == "comment":
        return " "
    return "?"  # string, dollar (or its tag), param, plist, number


def _canonical(sql: str, token: re.Pattern[str]) -> str:
    text = token.sub(_replace, sql)
    if "  " in text:
        text = _SPACES.sub(r"\1\2", text)
    if "-" in text:
        text = _UNARY_MINUS.sub(r"\1\2?", text)
    if "?" in text:
        if "(" in text:
            text = _PAREN_LIST.sub("(?)", text)
            if "), (" in text or "),(" in text:
                text = _ROWS.sub("(?)", text)
        if "[" in text:
            text = _BRACKET_LIST.sub("[?]", text)
    return text.strip().rstrip("; ")


def _masked_spans(sql: str, token: re.Pattern[str]) -> list[tuple[int, int, bool]]:
    """(start, end, is_literal) of every literal and comment in one reading of ``sql``."""
    return [
        (m.start(), m.end(), m.lastgroup != "comment")
        for m in token.finditer(sql)
        if m.lastgroup in _MASKED_KINDS
    ]


def _mask_both_readings(sql: str) -> str:
    """``sql`` with every span that either reading takes for a literal (→ ``?``) or a
    comment (→ space) cut out, so the one the database really uses is covered."""
    spans = sorted(_masked_spans(sql, _TOKEN) + _masked_spans(sql, _TOKEN_BACKSLASH))
    merged: list[list] = []
    for start, end, literal in spans:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            last[2] = last[2] or literal
        else:
            merged.append([start, end, literal])
    out: list[str] = []
    pos = 0
    for start, end, literal in merged:
        out.append(sql[pos:start])
        out.append(" ? " if literal else " ")
        pos = end
    out.append(sql[pos:])
    return "".join(out)


def normalize(sql: str) -> str:
    """The statement's canonical text (see the module docstring). Never raises."""
    try:
        if not isinstance(sql, str):  # a driver may hand over bytes, or nothing
            if sql is None:
                return ""
            sql = sql.decode("utf-8", "replace") if isinstance(sql, bytes | bytearray) else str(sql)
        if "\\" not in sql:  # the common case: one reading only
            return _canonical(sql, _TOKEN)
        if _masked_spans(sql, _TOKEN) == _masked_spans(sql, _TOKEN_BACKSLASH):
            return _canonical(sql, _TOKEN)
        return _canonical(_mask_both_readings(sql), _TOKEN)
    except Exception:  # junk must never break the app, and "?" exposes nothing
        return "?"


def _hash(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def fingerprint(sql: str) -> tuple[int, str]:
    """``(fingerprint, normalized text)``; the fingerprint is a signed 64-bit integer."""
    normalized = normalize(sql)
    try:
        return _hash(normalized), normalized
    except Exception:  # pragma: no cover - normalize returns str; encoding cannot fail
        return _hash("?"), "?"


# --- The cache -----------------------------------------------------------------------------
#
# Drivers send the same parameterised text again and again, so results are cached by the raw
# statement. Two generations make it an approximate LRU at the cost of a plain dict lookup
# on a hit: entries go into ``_young``; when it is full, it becomes ``_old`` (the previous
# old generation is dropped) and a fresh ``_young`` starts; a hit in ``_old`` is promoted.
# Statements in use therefore survive a flood of one-off statements (inlined literals) as
# long as they recur within half the cache's capacity.
#
# Bounds: at most CACHE_SIZE entries in all (each generation holds half), and each
# generation holds at most CACHE_CHARS // 2 characters of raw statements; the normalized
# texts are about as long or (mostly) shorter, so memory stays near 2 × CACHE_CHARS
# characters at worst (~8 MB by default; a few hundred kB for a typical app). A statement
# longer than MAX_CACHED_CHARS is computed every time rather than crowding out the rest.
#
# No lock: under the GIL a dict get/set and a module-global rebind are atomic. Racing misses
# can both compute the same (deterministic) value, and the character count may drift by a
# few entries; neither breaks anything, and nothing here raises.

CACHE_SIZE = 4096
CACHE_CHARS = 4 * 1024 * 1024
MAX_CACHED_CHARS = 16 * 1024

_young: dict[str, tuple[int, str]] = {}
_old: dict[str, tuple[int, str]] = {}
_young_chars = 0


def fingerprint_cached(sql: str) -> tuple[int, str]:
    """``fingerprint(sql)``, from a bounded cache keyed by the raw statement. Never raises."""
    try:
        hit = _young.get(sql)
    except Exception:  # unhashable junk
        return fingerprint(sql)
    if hit is not None:
        return hit
    return _miss(sql)


def _miss(sql: str) -> tuple[int, str]:
    global _young, _old, _young_chars
    result = _old.get(sql)
    if result is None:
        result = fingerprint(sql)
    if not isinstance(sql, str) or len(sql) > MAX_CACHED_CHARS:
        return result
    if len(_young) >= CACHE_SIZE // 2 or _young_chars + len(sql) > CACHE_CHARS // 2:
        _old, _young, _young_chars = _young, {}, 0
    _young[sql] = result
    _young_chars += len(sql)
    return result


def clear_cache() -> None:
    """Empty the cache (tests, and after changing the bounds)."""
    global _young, _old, _young_chars
    _young, _old, _young_chars = {}, {}, 0


def cache_len() -> int:
    """Entries held now, both generations."""
    return len(_young) + len(_old)
