"""What ``OTEL_PERF_STORE`` names: a DuckLake folder (default), a plain DuckDB file, or none."""

from __future__ import annotations

import dataclasses
import os

ALIAS = "perf"  # the name every consumer attaches the store under


class StoreUnavailable(RuntimeError):
    """The store cannot be opened (locked, unwritable, missing): callers degrade, never crash."""


@dataclasses.dataclass(frozen=True)
class StoreAddress:
    kind: str  # "ducklake" | "duckdb" | "none"
    path: str  # absolute; "" for none

    @property
    def catalog_path(self) -> str:
        return os.path.join(self.path, "catalog.sqlite")

    @property
    def data_path(self) -> str:
        # DuckLake wants the trailing separator: files are addressed relative to it.
        return os.path.join(self.path, "data") + os.sep

    @property
    def lock_dir(self) -> str:
        """Where election lock files and the pseudonym key live."""
        return self.path if self.kind == "ducklake" else os.path.dirname(self.path)

    def describe(self) -> str:
        if self.kind == "none":
            return "no local store (OTEL_PERF_STORE=none)"
        if self.kind == "duckdb":
            return f"DuckDB file {self.path}"
        return f"DuckLake folder {self.path}"


def parse_address(raw: str, cwd: str | None = None) -> StoreAddress:
    value = raw.strip()
    if value.lower() in ("none", "off", ""):
        return StoreAddress("none", "")
    path = os.path.abspath(os.path.join(cwd or os.getcwd(), os.path.expanduser(value)))
    if path.endswith(".duckdb") or path.endswith(".db"):
        return StoreAddress("duckdb", path)
    return StoreAddress("ducklake", path)
