"""Per-field complexity costs from configuration (no graphql-core import: settings load it).

``Query.books=2*first|limit;Book.reviews=5`` → ``(("Book.reviews", 5, ()),
("Query.books", 2, ("first", "limit")))``. A field with multiplier arguments multiplies its
children's cost by the first of those arguments the operation gives.
"""

from __future__ import annotations

import re

_KEY = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*\.[_A-Za-z][_0-9A-Za-z]*$")
_ARG = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")

FieldCost = tuple[str, int, tuple[str, ...]]


def parse_field_costs(raw: str) -> tuple[FieldCost, ...]:
    """Parse the setting; raises ValueError naming the bad entry."""
    entries: dict[str, FieldCost] = {}
    for part in raw.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _KEY.match(key):
            raise ValueError(f"{part!r}: expected Type.field=cost or Type.field=cost*arg")
        cost_text, star, args_text = value.partition("*")
        try:
            cost = int(cost_text.strip())
        except ValueError:
            raise ValueError(f"{part!r}: the cost must be a whole number") from None
        if cost < 0:
            raise ValueError(f"{part!r}: the cost must be >= 0")
        args = tuple(a.strip() for a in args_text.split("|") if a.strip()) if star else ()
        if star and (not args or not all(_ARG.match(a) for a in args)):
            raise ValueError(f"{part!r}: multiplier arguments are names separated by |")
        entries[key] = (key, cost, args)
    return tuple(sorted(entries.values()))


def format_field_costs(mapping) -> str:
    """A Django-settings mapping ``{"Type.field": 2 or "2*first"}`` as the env-var syntax."""
    return ";".join(f"{key}={value}" for key, value in mapping.items())
