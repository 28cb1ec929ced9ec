"""Validated report parameters: what every report function receives.

The HTTP surfaces parse and validate the query string into one ``Params`` (a 400 with the
spec's error body for anything bad); report functions only read typed fields.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

DEFAULT_LIMIT = 50


@dataclasses.dataclass(frozen=True)
class Params:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    start: datetime | None = None  # naive UTC; inclusive
    end: datetime | None = None  # naive UTC; exclusive
    top_n: int = 10
    hours: float = 24.0
    minutes: float = 60.0
    method: str | None = None
    path: str | None = None  # one endpoint's route, for the endpoint detail report
    severity: str | None = None  # "at least this severe"
    format: str = "json"
    days: float = 30.0  # how far ahead the capacity forecast projects
