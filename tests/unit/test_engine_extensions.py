"""Extension loading (storage/engine.py): DuckDB checks each extension file's signature once per
process; later connections load the same, unchanged files without the check (the check hashes
the whole file while holding the GIL: the app's threads stopped for it at every renewal of the
writer's connection). Real stores in tmp_path."""

from __future__ import annotations

import os

import pytest

from otel_perf.storage import engine, open_store, parse_address
from otel_perf.storage.session import StoreSession


def unsigned_allowed(con) -> bool:
    return con.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()[0]


def opened(address) -> bool:
    con = open_store(address)
    try:
        assert con.execute("SELECT count(*) FROM requests").fetchone() == (0,)
        return unsigned_allowed(con)
    finally:
        con.close()


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process that has not loaded any extension yet, and a DuckLake store."""
    monkeypatch.setattr(engine, "_checked", {})
    address = parse_address(str(tmp_path / "store"))
    StoreSession(address).close()  # created (its extensions checked), then forgotten again
    engine._checked.clear()
    return address


def test_the_first_connection_checks_the_signatures_and_later_ones_do_not(fresh):
    assert opened(fresh) is False
    scanner = engine._extension_path("duckdb_extension_sqlite_scanner", "sqlite_scanner")
    ducklake = engine._extension_path("duckdb_extension_ducklake", "ducklake")
    assert set(engine._checked) == {scanner, ducklake}
    assert opened(fresh) is True
    assert opened(fresh) is True


def test_a_file_that_changed_since_its_check_is_checked_again(fresh):
    assert opened(fresh) is False
    ducklake = engine._extension_path("duckdb_extension_ducklake", "ducklake")
    dev, ino, size, mtime = engine._checked[ducklake]
    engine._checked[ducklake] = (dev, ino, size, mtime - 1)  # as if replaced since
    assert opened(fresh) is False
    assert engine._checked[ducklake] == engine._identity(ducklake)  # checked anew
    assert opened(fresh) is True


def test_a_connection_that_loads_a_file_not_checked_yet_checks_it(fresh, tmp_path):
    assert opened(fresh) is False
    # An encrypted writer also loads httpfs, not checked in this process yet.
    httpfs = engine._extension_path("duckdb_extension_httpfs", "httpfs")
    assert httpfs not in engine._checked
    encrypted = parse_address(str(tmp_path / "encrypted"))
    con = open_store(encrypted, encryption_key="a-key-for-the-test")
    try:
        assert unsigned_allowed(con) is False
    finally:
        con.close()
    assert httpfs in engine._checked
    con = open_store(encrypted, encryption_key="a-key-for-the-test")
    try:
        assert unsigned_allowed(con) is True
    finally:
        con.close()


def test_a_plain_file_store_without_a_key_loads_nothing(tmp_path):
    address = parse_address(str(tmp_path / "s.duckdb"))
    assert engine._extensions(address, read_only=False, key="") == []
    assert not engine._all_checked([])  # nothing loaded: opened with DuckDB's defaults
    con = open_store(address)
    try:
        assert unsigned_allowed(con) is False
    finally:
        con.close()
    assert os.path.exists(address.path)
