"""Weighted percentiles: the reports' quantiles when store sampling gave rows a weight ≠ 1.

DuckDB (1.5.5) has no weighted quantile: ``quantile_cont`` counts each stored row once.
Under store sampling (otel_perf/storage/sampling.py) a row of weight w stands for w requests,
so a report's percentile is taken over that *expanded* multiset, with the same linear
interpolation as ``quantile_cont`` and ``numpy.percentile``: rows sorted by value, each
covering the expanded indices ``[cum - w, cum)`` (``cum``: the running sum of weights),
``h = q * (W - 1)`` with ``W`` the total weight, and the result is the value at index
``floor(h)`` plus ``h - floor(h)`` of the step to the value at ``ceil(h)``. With every weight 1
that is exactly ``quantile_cont``.

It needs window sums over each group sorted by value: measured 2.5–4.7x the time of the
``quantile_cont`` statement on 1M rows (benchmarks/sampling.py). So each report statement
keeps its plain form, and ``weighted(sql)`` derives and registers its weighted twin;
``statement_for`` (called by the reports' fetch helpers) runs the twin only when the period
holds a row of weight ≠ 1, which one ``LIMIT 1`` probe answers (1–5 ms at 1M rows, measured
on a loaded machine). Unsampled stores pay only the probe.
"""

from __future__ import annotations

import re
from datetime import datetime

# plain SQL -> (weighted SQL, table whose weights decide)
_TWINS: dict[str, tuple[str, str]] = {}

# Is any row of $start <= timestamp < $end weighted? Stops at the first one. ``weight > 1``
# rather than ``<> 1`` (the same, as weights are 1/rate >= 1): row groups and Parquet files
# whose max weight is 1 are skipped from their statistics without being read.
_SAMPLED = (
    "SELECT 1 FROM {table} WHERE timestamp >= $start AND timestamp < $end AND weight > 1 LIMIT 1"
)

_QUANTILE = re.compile(r"quantile_cont\((\w+),\s*([0-9.]+)\)")
# The statement's one source: ``FROM <table>`` on its own line, its WHERE on the next one.
_SOURCE = re.compile(r"^FROM (\w+)\n(?:WHERE (.+)\n)?", re.MULTILINE)
_GROUP_BY = re.compile(r"^GROUP BY (.+)$", re.MULTILINE)

_EARLIEST = datetime(1970, 1, 1)
_LATEST = datetime(9999, 1, 1)


def weighted_quantile(q: float, value: str = "duration_ms") -> str:
    """An aggregate expression over rows carrying ``_cum`` and ``_total`` (see ``weighted``).

    ``min(value) FILTER (WHERE _cum > k)`` is the value at expanded index k: rows are summed
    in value order, so the first row whose running weight passes k covers index k. Running
    sums of fractional weights (1/0.3) carry rounding errors, and one that should end exactly
    at k would pass it by 1e-13 and shift the index: "passes" means by more than
    ``1e-9 * total``, which leaves whole-number sums (all weights 1, or 10) compared exactly.
    The upper index can pass the last running sum by a rounding error: then it is the maximum.
    """
    h = f"{q!r} * (_total - 1)"
    lo = f"min({value}) FILTER (WHERE _cum > floor({h}) + 1e-9 * _total)"
    hi = f"coalesce(min({value}) FILTER (WHERE _cum > ceil({h}) + 1e-9 * _total), max({value}))"
    frac = f"({q!r} * (max(_total) - 1) - floor({q!r} * (max(_total) - 1)))"
    return f"({lo} + {frac} * ({hi} - {lo}))"


def weighted(sql: str, partition: str | None = None) -> str:
    """The weighted twin of a report statement, registered for ``statement_for``.

    Every ``quantile_cont(col, q)`` becomes ``weighted_quantile(q, col)`` and the source
    becomes the same rows (same WHERE) with their running and total weight per group.
    ``partition`` is the group as an expression (default: the GROUP BY list, which must then
    name columns, not SELECT aliases).
    """
    columns = {m.group(1) for m in _QUANTILE.finditer(sql)}
    sources = _SOURCE.findall(sql)
    if len(columns) != 1 or len(sources) != 1:
        raise ValueError("weighted(): expected one quantile column and one FROM/WHERE source")
    value = columns.pop()
    table, where = sources[0]
    if partition is None:
        group = _GROUP_BY.search(sql)
        partition = group.group(1) if group else ""
    over = f"PARTITION BY {partition} " if partition else ""
    source = (
        f"FROM (\n    SELECT *,\n"
        f"        sum(weight) OVER ({over}ORDER BY {value} ROWS UNBOUNDED PRECEDING) AS _cum,\n"
        f"        sum(weight) OVER ({over.strip()}) AS _total\n"
        f"    FROM {table}\n" + (f"    WHERE {where}\n" if where else "") + f") AS {table}\n"
    )
    twin = _SOURCE.sub(lambda _: source, sql, count=1)
    twin = _QUANTILE.sub(lambda m: weighted_quantile(float(m.group(2)), m.group(1)), twin)
    _TWINS[sql] = (twin, table)
    return twin


def written_twin(sql: str, twin: str, table: str) -> str:
    """Register ``twin``, written by hand, as ``sql``'s weighted twin over ``table`` (where a
    weighted figure needs more than ``weighted`` derives, e.g. one row per request first)."""
    _TWINS[sql] = (twin, table)
    return twin


def is_sampled(con, table: str, parameters) -> bool:
    """Whether ``table`` holds a row of weight ≠ 1 in the statement's period (all time when
    the statement has none)."""
    period = parameters if isinstance(parameters, dict) else {}
    window = {"start": period.get("start", _EARLIEST), "end": period.get("end", _LATEST)}
    return con.execute(_SAMPLED.format(table=table), window).fetchone() is not None


def statement_for(con, sql: str, parameters) -> str:
    """``sql``, or its weighted twin when the rows it reads carry sampling weights."""
    twin = _TWINS.get(sql)
    if twin is None or not is_sampled(con, twin[1], parameters):
        return sql
    return twin[0]
