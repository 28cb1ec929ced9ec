"""What ``OTEL_PERF_STORE`` names: a DuckLake folder (default), a plain DuckDB file, or none."""

from __future__ import annotations

import dataclasses
import os

ALIAS = "perf"  # the name every consumer attaches the store under


class StoreUnavailable(RuntimeError):
    """The store cannot be opened (locked, unwritable, missing): callers degrade, never crash."""


POSTGRES_PREFIX = "ducklake:postgres:"


@dataclasses.dataclass(frozen=True)
class StoreAddress:
    kind: str  # "ducklake" | "duckdb" | "none"
    path: str  # absolute; "" for none. With a PostgreSQL catalog: the (shared) data folder.
    catalog: str = ""  # libpq connection string when the DuckLake catalog is in PostgreSQL

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

    def lock_file(self, name: str) -> str:
        """The election lock and record ``name`` of this store: in a DuckLake folder,
        ``<name>.lock``; beside a ``.duckdb`` file, ``<file>.<name>.lock``, so that two files in
        one folder elect and record their maintenance and retention apart."""
        if self.kind == "ducklake":
            return os.path.join(self.path, f"{name}.lock")
        return f"{self.path}.{name}.lock"

    def describe(self) -> str:
        if self.kind == "none":
            return "no local store (OTEL_PERF_STORE=none)"
        if self.kind == "duckdb":
            return f"DuckDB file {self.path}"
        if self.catalog:
            where = _without_secrets(self.catalog)
            return f"DuckLake catalog in PostgreSQL ({where}), data in {self.path}"
        return f"DuckLake folder {self.path}"


def _without_secrets(conninfo: str) -> str:
    return " ".join(p for p in conninfo.split() if not p.lower().startswith("password="))


def parse_address(raw: str, cwd: str | None = None, data_path: str | None = None) -> StoreAddress:
    """``data_path`` (default ``OTEL_PERF_DATA_PATH``, else ./otel_perf_data) is where a
    PostgreSQL-catalog store keeps its Parquet files: a folder every host mounts, or an
    object-store URL."""
    value = raw.strip()
    if value.lower() in ("none", "off", ""):
        return StoreAddress("none", "")
    if value.lower().startswith(POSTGRES_PREFIX):
        folder = data_path or os.environ.get("OTEL_PERF_DATA_PATH") or "./otel_perf_data"
        if "://" not in folder:
            folder = os.path.abspath(os.path.join(cwd or os.getcwd(), os.path.expanduser(folder)))
        return StoreAddress("ducklake", folder.rstrip("/"), value[len(POSTGRES_PREFIX) :].strip())
    path = os.path.abspath(os.path.join(cwd or os.getcwd(), os.path.expanduser(value)))
    if path.endswith(".duckdb") or path.endswith(".db"):
        return StoreAddress("duckdb", path)
    return StoreAddress("ducklake", path)
