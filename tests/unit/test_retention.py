"""Retention, export and import on real stores (DuckLake folder and .duckdb file) in tmp_path.

Rows are scripted at known ages in every time-stamped table, so the expected counts before and
after a cleanup are known without asking the code under test.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest

from otel_perf.cli import main
from otel_perf.storage import open_store, parse_address, schema
from otel_perf.storage.retention import TIME_COLUMNS, cleanup, size_on_disk
from otel_perf.storage.rows import Columns
from otel_perf.storage.session import StoreSession

NOW = datetime(2026, 3, 1, 12, 0, 0)
# Ages in days of the scripted rows: 3 older than 30 days, 4 younger (one right at the edge,
# 29.99 days, must stay; 30.01 must go).
AGES = (45.0, 31.0, 30.01, 29.99, 10.0, 1.0, 0.001)
OLD = sum(1 for a in AGES if a > 30)


def row_for(table: str, at: datetime, i: int) -> dict:
    """A plausible row of ``table`` dated ``at`` (every time column set to ``at``)."""
    row: dict = {}
    for name, kind in schema.TABLES[table]:
        if kind == "TIMESTAMP":
            row[name] = at
        elif kind in ("DOUBLE",):
            row[name] = float(i) + 0.5
        elif kind in ("INTEGER", "SMALLINT", "BIGINT", "UBIGINT"):
            row[name] = i
        elif kind == "BOOLEAN":
            row[name] = False
        elif kind == "BLOB":
            row[name] = i.to_bytes(16, "big")
        else:
            row[name] = f"{table}-{i}"
    if table == "requests":
        row.update(method="GET", endpoint="GET /a/", status_code=200, weight=1.0)
        row["duration_ms"] = 10.0 * (i + 1)
    if table == "alerts":
        row.update(id=f"alert-{i}", resolved=True, resolved_at=at)
    if table == "alert_actions":
        row.update(action="acknowledge", until=None)
    return row


def script(store: str, now: datetime = NOW, ages=AGES) -> dict[str, int]:
    session = StoreSession(parse_address(store))
    try:
        tables = []
        for table in TIME_COLUMNS:
            columns = Columns(table)
            for i, age in enumerate(ages):
                columns.add(row_for(table, now - timedelta(days=age), i))
            tables.append(columns)
        session.insert(tables)
    finally:
        session.close()
    return {t: len(ages) for t in TIME_COLUMNS}


def counts(store: str, con=None) -> dict[str, int]:
    """Rows per table (through ``con`` when given: a .duckdb file attaches once per process)."""
    own = con is None
    con = open_store(parse_address(store), read_only=True) if own else con
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TIME_COLUMNS}
    finally:
        if own:
            con.close()


@pytest.fixture(params=["lake", "file.duckdb"])
def store(request, tmp_path):
    return str(tmp_path / request.param)


def test_should_delete_exactly_the_rows_older_than_the_cutoff_in_every_table(store):
    before = script(store)
    assert counts(store) == before
    session = StoreSession(parse_address(store))
    try:
        dry = cleanup(session.con, 30, now=NOW, dry_run=True)
        assert dry.deleted == {t: OLD for t in TIME_COLUMNS}
        assert counts(store, session.con) == before  # a dry run deletes nothing
        # batch_rows=1: several small transactions per table, same outcome.
        result = cleanup(session.con, 30, now=NOW, batch_rows=1)
    finally:
        session.close()
    assert result.complete and result.deleted == {t: OLD for t in TIME_COLUMNS}
    assert counts(store) == {t: len(AGES) - OLD for t in TIME_COLUMNS}
    con = open_store(parse_address(store), read_only=True)
    oldest = con.execute("SELECT min(timestamp) FROM requests").fetchone()[0]
    con.close()
    assert oldest == NOW - timedelta(days=29.99)


def test_should_stop_after_max_batches_and_finish_on_the_next_run(tmp_path):
    store = str(tmp_path / "lake")
    script(store)
    session = StoreSession(parse_address(store))
    try:
        first = cleanup(session.con, 30, now=NOW, batch_rows=1, max_batches=2)
        assert not first.complete and first.total == 2
        second = cleanup(session.con, 30, now=NOW, batch_rows=1)
    finally:
        session.close()
    assert second.complete
    assert counts(store) == {t: len(AGES) - OLD for t in TIME_COLUMNS}


def test_should_keep_an_open_alert_and_an_unexpired_silence(tmp_path):
    store = str(tmp_path / "lake")
    old = NOW - timedelta(days=40)
    session = StoreSession(parse_address(store))
    alerts, actions = Columns("alerts"), Columns("alert_actions")
    # "open": two old versions, the newest still open -> only the older version goes.
    for i, at in enumerate((old - timedelta(days=1), old)):
        alerts.add({**row_for("alerts", at, i), "id": "open", "resolved": False})
    # "closed": resolved long ago -> both versions go.
    for i, at in enumerate((old - timedelta(days=1), old)):
        alerts.add({**row_for("alerts", at, i), "id": "closed", "resolved": i == 1})
    actions.add({**row_for("alert_actions", old, 0), "action": "silence", "until": NOW})
    actions.add({**row_for("alert_actions", old, 1), "action": "silence", "until": old})
    session.insert([alerts, actions])
    try:
        result = cleanup(session.con, 30, now=NOW - timedelta(hours=1))
        kept_alerts = session.con.execute("SELECT id, resolved FROM alerts").fetchall()
        kept_actions = session.con.execute("SELECT until FROM alert_actions").fetchall()
    finally:
        session.close()
    assert result.deleted["alerts"] == 3 and result.deleted["alert_actions"] == 1
    assert kept_alerts == [("open", False)]
    assert kept_actions == [(NOW,)]


def table_checksums(store: str) -> dict[str, tuple]:
    """Count and an order-independent checksum per table, computed here independently:
    the sorted rows' repr, hashed with hashlib."""
    import hashlib

    con = open_store(parse_address(store), read_only=True)
    try:
        out = {}
        for table in schema.TABLES:
            rows = sorted(repr(r) for r in con.execute(f"SELECT * FROM {table}").fetchall())
            out[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        return out
    finally:
        con.close()


def test_should_round_trip_an_export_into_a_fresh_store(tmp_path, store):
    script(store)
    out = tmp_path / "backup"
    assert main(["export", "--store", store, "--output", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema_version"] == schema.SCHEMA_VERSION
    assert {t: manifest["tables"][t]["rows"] for t in TIME_COLUMNS} == counts(store)
    fresh = str(tmp_path / "restored")
    assert main(["import", "--store", fresh, "--input", str(out)]) == 0
    assert table_checksums(fresh) == table_checksums(store)


def test_should_export_only_the_period_asked_for(tmp_path):
    store = str(tmp_path / "lake")
    script(store)
    out = tmp_path / "period"
    start, end = NOW - timedelta(days=31.5), NOW - timedelta(days=5)
    args = ["export", "--store", store, "--output", str(out)]
    assert main([*args, "--start", start.isoformat(), "--end", end.isoformat() + "Z"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    expected = sum(1 for a in AGES if 5 < a <= 31.5)
    assert {manifest["tables"][t]["rows"] for t in TIME_COLUMNS} == {expected}


def test_should_refuse_an_export_whose_file_was_changed(tmp_path):
    store = str(tmp_path / "lake")
    script(store)
    out = tmp_path / "backup"
    main(["export", "--store", store, "--output", str(out)])
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["tables"]["requests"]["rows"] += 1
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SystemExit, match="does not match"):
        main(["import", "--store", str(tmp_path / "fresh"), "--input", str(out)])


def test_cleanup_command_deletes_compacts_and_reports_the_size(tmp_path, capsys):
    store = str(tmp_path / "lake")
    now = datetime.utcnow()
    script(store, now=now)
    assert main(["cleanup", "--store", store, "--older-than", "30", "--dry-run"]) == 0
    assert counts(store)["requests"] == len(AGES)
    assert main(["cleanup", "--store", store]) == 0  # OTEL_PERF_RETENTION_DAYS default: 30
    out = capsys.readouterr().out
    assert f"requests             deleted {OLD}" in out
    assert "size on disk" in out
    assert counts(store) == {t: len(AGES) - OLD for t in TIME_COLUMNS}
    assert size_on_disk(parse_address(store)) > 0


def test_maintenance_runs_retention(tmp_path):
    from otel_perf.storage.maintenance import run_maintenance

    store = str(tmp_path / "lake")
    script(store, now=datetime.utcnow())
    session = StoreSession(parse_address(store))
    try:
        run_maintenance(session.con, session.address, retention_days=30)
    finally:
        session.close()
    assert counts(store) == {t: len(AGES) - OLD for t in TIME_COLUMNS}


def test_maintenance_should_run_retention_hourly_and_at_every_run_while_a_backlog_remains(
    tmp_path, monkeypatch
):
    import functools

    from otel_perf.storage import maintenance, retention

    store = str(tmp_path / "lake")
    address = parse_address(store)
    record = address.lock_file("retention")

    def maintain() -> dict[str, int]:
        session = StoreSession(address)
        try:
            maintenance.run_maintenance(session.con, address, retention_days=30)
        finally:
            session.close()
        return counts(store)

    script(store, now=datetime.utcnow())
    assert maintain()["requests"] == len(AGES) - OLD  # the first run: due
    script(store, now=datetime.utcnow())  # more old rows, within the hour
    assert maintain()["requests"] == 2 * len(AGES) - OLD  # not due: they stay
    with open(record, "w") as f:  # the last retention run an hour ago
        f.write(f"{time.time() - maintenance.RETENTION_INTERVAL_S - 1!r}\n")
    assert maintain()["requests"] == 2 * (len(AGES) - OLD)

    # A backlog (here: one batch of one row a run) brings retention back at the next run.
    script(store, now=datetime.utcnow())
    with open(record, "w") as f:
        f.write(f"{time.time() - maintenance.RETENTION_INTERVAL_S - 1!r}\n")
    real = retention.run_retention
    monkeypatch.setattr(
        retention, "run_retention", functools.partial(real, max_batches=1, batch_rows=1)
    )
    left = [maintain()["requests"] for _ in range(3)]
    assert left == [3 * len(AGES) - 2 * OLD - i for i in range(1, 4)]
    with open(record) as f:
        assert f.read().split("\n")[1] == maintenance.BACKLOG


def test_the_store_shrinks_once_the_replaced_files_expire(tmp_path):
    """Rows in Parquet files (over the inlining limit), retention, maintenance; then the kept
    hour is made to pass (DuckLake's expire/cleanup with 'now') and the bytes on disk drop."""
    from otel_perf.storage.maintenance import run_maintenance

    store = str(tmp_path / "lake")
    address = parse_address(store)
    now = datetime.utcnow()
    session = StoreSession(address)
    try:
        for age in (40.0, 1.0):  # one big batch of old rows, one of recent rows
            columns = Columns("requests")
            for i in range(6000):
                columns.add(row_for("requests", now - timedelta(days=age, seconds=i), i))
            session.insert([columns])
        session.con.execute("CHECKPOINT perf")
        before = size_on_disk(address)
        run_maintenance(session.con, address, retention_days=30)
        assert session.con.execute("SELECT count(*) FROM requests").fetchone()[0] == 6000
        session.con.execute("CALL ducklake_expire_snapshots('perf', older_than => now())")
        session.con.execute("CALL ducklake_cleanup_old_files('perf', cleanup_all => true)")
    finally:
        session.close()
    after = size_on_disk(address)
    assert after < before * 0.8, (before, after)


def test_every_dated_table_has_a_retention_rule():
    """A table added to the schema with a TIMESTAMP column must be listed in TIME_COLUMNS
    (or retention would keep it forever)."""
    dated = {t for t, cols in schema.TABLES.items() if any(k == "TIMESTAMP" for _, k in cols)}
    assert dated == set(TIME_COLUMNS)
