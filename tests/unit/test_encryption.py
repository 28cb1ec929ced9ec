"""Encryption at rest (OTEL_PERF_ENCRYPTION_KEY) on real stores: a .duckdb file is unreadable
without the key and its bytes hold no plaintext; a DuckLake store writes encrypted Parquet."""

from __future__ import annotations

import glob

import duckdb
import pytest

from otel_perf import settings as S
from otel_perf.storage import StoreUnavailable, open_store, parse_address
from otel_perf.storage.rows import Columns
from otel_perf.storage.session import StoreSession
from tests.unit.test_retention import NOW, row_for

KEY = "test-key-0123456789abcdef"
MARKER = "very-secret-host-name"


@pytest.fixture
def key():
    """The process settings carry the key (the writer reads them), restored afterwards."""
    previous = S.get_settings()
    S.set_settings(S.Settings(encryption_key=KEY))
    yield KEY
    S.set_settings(previous)


def write(store: str, rows: int = 6000) -> None:
    samples = Columns("system_samples")
    for i in range(rows):
        samples.add({**row_for("system_samples", NOW, i), "host_name": MARKER})
    session = StoreSession(parse_address(store))
    try:
        session.insert([samples])
        session.con.execute("CHECKPOINT perf")
    finally:
        session.close()


def test_an_encrypted_duckdb_file_needs_the_key(tmp_path, key):
    store = str(tmp_path / "store.duckdb")
    write(store)
    assert MARKER.encode() not in open(store, "rb").read()
    with pytest.raises(StoreUnavailable, match="without a key"):
        open_store(parse_address(store), read_only=True, encryption_key="")
    with pytest.raises(StoreUnavailable):
        open_store(parse_address(store), read_only=True, encryption_key="wrong-key")
    con = open_store(parse_address(store), read_only=True)  # the key from the settings
    try:
        assert con.execute(
            "SELECT count(*), any_value(host_name) FROM system_samples"
        ).fetchone() == (
            6000,
            MARKER,
        )
    finally:
        con.close()


def test_a_plain_duckdb_file_shows_its_contents(tmp_path):
    store = str(tmp_path / "store.duckdb")
    write(store)  # no key: the counter-test of the one above
    assert MARKER.encode() in open(store, "rb").read()


def test_an_encrypted_ducklake_store_writes_encrypted_parquet(tmp_path, key):
    store = str(tmp_path / "lake")
    write(store)  # 6000 rows: above the inlining limit, so they go to a Parquet file
    files = glob.glob(f"{store}/data/**/system_samples/*.parquet", recursive=True)
    assert files
    for path in files:
        assert MARKER.encode() not in open(path, "rb").read()
        with pytest.raises(duckdb.Error, match="encrypt"):
            duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()
    # Reading needs no key: DuckLake keeps each file's key in the catalog (docs/operations.md).
    con = open_store(parse_address(store), read_only=True, encryption_key="")
    try:
        assert con.execute("SELECT count(*) FROM system_samples").fetchone()[0] == 6000
    finally:
        con.close()


def test_an_existing_plain_store_is_not_switched_silently(tmp_path):
    store = str(tmp_path / "lake")
    write(store)
    with pytest.raises(StoreUnavailable, match="OTEL_PERF_ENCRYPTION_KEY"):
        open_store(parse_address(store), encryption_key=KEY)
