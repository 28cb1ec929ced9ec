"""The cost of encryption at rest: write N request rows with and without a key, per store kind.

    python -m benchmarks.encryption [--rows 200000] [--batch 1000] [--rounds 3] [--dir /tmp]

Rows go through the writer's own path (``StoreSession.insert``: one transaction per batch of
``--batch`` rows, as a worker's flush), then the maintenance compaction (``CHECKPOINT``, which
writes DuckLake's Parquet files, the part that gets encrypted there), then one full read
(``SELECT count(*), avg(duration_ms)``). Each round uses fresh stores, kinds and modes
interleaved; the median of the rounds is printed in seconds, with the ratio to the plain store.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

KEY = "benchmark-key-0123456789abcdef"


def batches(rows: int, batch: int):
    from otel_perf.storage.rows import ARROW_SCHEMAS, Columns

    rng = np.random.default_rng(7)
    start = datetime(2026, 1, 1)
    schema = ARROW_SCHEMAS["requests"]
    names = Columns("requests").names
    out = []
    for first in range(0, rows, batch):
        n = min(batch, rows - first)
        data = {name: pa.nulls(n, schema.field(name).type) for name in names}
        data["timestamp"] = pa.array(
            [start + timedelta(seconds=first + i) for i in range(n)], pa.timestamp("us")
        )
        data["endpoint"] = pa.array([f"GET /items/{i % 20}/" for i in range(n)])
        data["duration_ms"] = pa.array(rng.gamma(2.0, 40.0, n))
        data["status_code"] = pa.array(np.full(n, 200, dtype=np.int16))
        data["weight"] = pa.array(np.ones(n))
        out.append(pa.table(data, schema=schema))
    return out


class ArrowBatch:
    """Quacks like ``Columns`` for ``StoreSession.insert``."""

    table = "requests"

    def __init__(self, arrow: pa.Table) -> None:
        self.arrow = arrow

    def to_arrow(self) -> pa.Table:
        return self.arrow


def one(path: str, key: str, tables) -> dict:
    from otel_perf import settings as S
    from otel_perf.storage import parse_address
    from otel_perf.storage.session import StoreSession

    S.set_settings(S.Settings(encryption_key=key))
    address = parse_address(path)
    t0 = time.perf_counter()
    session = StoreSession(address)
    for table in tables:
        session.insert([ArrowBatch(table)])
    t1 = time.perf_counter()
    session.con.execute("CHECKPOINT perf")
    t2 = time.perf_counter()
    session.con.execute("SELECT count(*), avg(duration_ms) FROM requests").fetchall()
    t3 = time.perf_counter()
    session.close()
    return {"insert": t1 - t0, "checkpoint": t2 - t1, "read": t3 - t2}


def measure(rows: int = 200_000, batch: int = 1000, rounds: int = 3, folder=None) -> dict:
    """Median seconds per phase for each (store kind, mode), and the ratio to the plain store."""
    tables = batches(rows, batch)
    runs: dict[tuple[str, str], list[dict]] = {}
    for _ in range(rounds):
        for kind in ("store", "store.duckdb"):
            for mode, key in (("plain", ""), ("encrypted", KEY)):
                tmp = tempfile.mkdtemp(dir=folder)
                try:
                    runs.setdefault((kind, mode), []).append(one(f"{tmp}/{kind}", key, tables))
                finally:
                    shutil.rmtree(tmp)
    result: dict = {"rows": rows, "batch": batch, "rounds": rounds, "cases": []}
    for (kind, mode), measured in runs.items():
        med = {k: statistics.median(r[k] for r in measured) for k in measured[0]}
        base_total = statistics.median(sum(r.values()) for r in runs[(kind, "plain")])
        result["cases"].append(
            {
                "store": "DuckLake" if kind == "store" else ".duckdb",
                "mode": mode,
                **med,
                "ratio": sum(med.values()) / base_total,
            }
        )
    return result


def render(result: dict) -> list[str]:
    lines = [
        "## Encryption at rest",
        "",
        f"`python -m benchmarks.encryption`: {result['rows']:,} request rows in transactions of "
        f"{result['batch']:,}, then `CHECKPOINT`, then one full read; median of "
        f"{result['rounds']} rounds in seconds; ratio = total against the same store unencrypted.",
        "",
        "| store | mode | insert s | checkpoint s | read s | ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for c in result["cases"]:
        lines.append(
            f"| {c['store']} | {c['mode']} | {c['insert']:.3f} | {c['checkpoint']:.3f} | "
            f"{c['read']:.3f} | {c['ratio']:.2f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    print("\n".join(render(measure(args.rows, args.batch, args.rounds, args.dir))))


if __name__ == "__main__":
    main()
