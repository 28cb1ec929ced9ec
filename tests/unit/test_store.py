"""The store with real DuckDB/DuckLake in a temp dir: writer, schema, maintenance, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_perf import pipeline
from otel_perf.cli import main
from otel_perf.settings import Settings
from otel_perf.storage import open_store, parse_address
from otel_perf.storage.maintenance import MaintenanceLock
from otel_perf.storage.schema import SCHEMA_VERSION, current_version
from otel_perf.storage.session import StoreSession


def fill(store: str, requests: int = 20, statements: int = 6) -> dict:
    settings = Settings(store=store, flush_interval_s=0.05)
    provider = TracerProvider(resource=Resource.create({"service.name": "unit"}))
    processor = pipeline.create_processor(settings)
    provider.add_span_processor(processor)
    pipeline.attach_store(processor, provider.resource.attributes)
    tracer = provider.get_tracer("t")
    for i in range(requests):
        with tracer.start_as_current_span(
            "GET",
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": "GET",
                "http.route": "items/<int:pk>/",
                "url.path": f"/items/{i}/",
                "http.response.status_code": 200,
            },
        ):
            for _ in range(statements):
                with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as db:
                    db.set_attribute("db.statement", f"SELECT * FROM t WHERE id = {i}")
    stats = pipeline.stats()
    provider.shutdown()
    return stats


@pytest.mark.parametrize("kind", ["store", "store.duckdb"])
def test_writer_stores_every_request_in_both_store_kinds(tmp_path, kind):
    store = str(tmp_path / kind)
    fill(store)
    con = open_store(parse_address(store), read_only=True)
    assert con.execute(
        "SELECT count(*), sum(db_count), sum(n_plus_one_count) FROM requests"
    ).fetchone() == (20, 120, 20)
    assert con.execute("SELECT DISTINCT endpoint FROM requests").fetchall() == [
        ("GET /items/<int:pk>/",)
    ]
    # One fingerprint for all 20 literal values: literals never reach the store.
    assert con.execute("SELECT DISTINCT statement FROM db_statements").fetchall() == [
        ("SELECT * FROM t WHERE id = ?",)
    ]
    assert current_version(con) == SCHEMA_VERSION
    heartbeat = con.execute(
        "SELECT requests_written, requests_dropped FROM service_instances "
        "ORDER BY last_seen DESC LIMIT 1"
    ).fetchone()
    assert heartbeat == (20, 0)


def test_maintain_moves_inlined_rows_into_parquet_and_keeps_them(tmp_path, capsys):
    store = str(tmp_path / "store")
    fill(store)
    data = tmp_path / "store" / "data"
    parquet_before = [f for _, _, fs in os.walk(data) for f in fs if f.endswith(".parquet")]
    assert parquet_before == []  # small commits stay inlined in the catalog
    assert main(["maintain", "--store", store]) == 0
    parquet_after = [f for _, _, fs in os.walk(data) for f in fs if f.endswith(".parquet")]
    assert parquet_after
    con = open_store(parse_address(store), read_only=True)
    assert con.execute("SELECT count(*) FROM requests").fetchone() == (20,)


def test_maintenance_runs_in_one_process_at_a_time_and_once_per_interval(tmp_path):
    address = parse_address(str(tmp_path / "store"))
    os.makedirs(address.path)
    now = [1000.0]
    lock = MaintenanceLock(address, clock=lambda: now[0])
    runs = []
    assert lock.run_if_due(300, lambda: runs.append(now[0]))
    assert not lock.run_if_due(300, lambda: runs.append(now[0]))  # ran 0 s ago
    now[0] += 299
    assert not lock.run_if_due(300, lambda: runs.append(now[0]))
    now[0] += 1
    assert lock.run_if_due(300, lambda: runs.append(now[0]))
    assert runs == [1000.0, 1300.0]

    # While one process is maintaining, another process neither runs it nor waits.
    probe = (
        "import sys\n"
        "from otel_perf.storage import parse_address\n"
        "from otel_perf.storage.maintenance import MaintenanceLock\n"
        "lock = MaintenanceLock(parse_address(sys.argv[1]))\n"
        "print('busy' if lock.busy() else 'free', lock.run_if_due(0, lambda: None))"
    )

    def other_process():
        out = subprocess.run(
            [sys.executable, "-c", probe, address.path], capture_output=True, text=True, check=True
        )
        return out.stdout.split()

    seen = []
    assert lock.run_if_due(0, lambda: seen.append(other_process()))
    assert seen == [["busy", "False"]]
    assert other_process() == ["free", "True"]


def test_two_duckdb_files_in_one_folder_elect_and_record_their_maintenance_apart(tmp_path):
    """Their lock files sit beside each file (a DuckLake store has its own folder): one file's
    run neither blocks the other's nor makes it look done."""
    now = [1000.0]
    a = MaintenanceLock(parse_address(str(tmp_path / "a.duckdb")), clock=lambda: now[0])
    b = MaintenanceLock(parse_address(str(tmp_path / "b.duckdb")), clock=lambda: now[0])
    assert a.path == str(tmp_path / "a.duckdb.maintenance.lock")
    runs = []
    assert a.run_if_due(300, lambda: runs.append("a"))
    assert b.run_if_due(300, lambda: runs.append("b"))  # a's run is not b's
    seen = []
    assert a.run_if_due(0, lambda: seen.append(b.busy()))  # a's lock is not b's
    assert runs == ["a", "b"] and seen == [False]
    retention = MaintenanceLock(parse_address(str(tmp_path / "a.duckdb")), name="retention")
    assert retention.path == str(tmp_path / "a.duckdb.retention.lock")


def test_maintain_command_says_so_when_another_process_is_maintaining(tmp_path, capsys):
    store = str(tmp_path / "store")
    fill(store, requests=1)
    lock = MaintenanceLock(parse_address(store))
    codes = []
    lock.run_if_due(0, lambda: codes.append(main(["maintain", "--store", store])))
    assert codes == [1]
    assert "another process is maintaining" in capsys.readouterr().out


def test_sql_command_prints_table_json_and_csv(tmp_path, capsys):
    store = str(tmp_path / "store")
    fill(store, requests=3)
    query = "SELECT endpoint, count(*) AS n FROM requests GROUP BY 1"
    assert main(["sql", "--store", store, query]) == 0
    table = capsys.readouterr().out
    assert "GET /items/<int:pk>/" in table and "(1 row)" in table
    assert main(["sql", "--store", store, "--format", "json", query]) == 0
    assert json.loads(capsys.readouterr().out) == [{"endpoint": "GET /items/<int:pk>/", "n": 3}]
    assert main(["sql", "--store", store, "--format", "csv", query]) == 0
    assert capsys.readouterr().out.splitlines() == ["endpoint,n", "GET /items/<int:pk>/,3"]


def test_sql_command_prints_time_zones_and_repeated_names(tmp_path, capsys):
    """A TIMESTAMPTZ (DuckLake's snapshot times) printed without pytz installed; two columns
    of one name both kept."""
    store = str(tmp_path / "store")
    fill(store, requests=1)
    query = (
        "SELECT TIMESTAMPTZ '2026-11-25 08:00:00+00' AS t, 1 AS n, 2 AS n, "
        "(SELECT count(*) FROM ducklake_snapshots('perf')) > 0 AS snapshots, "
        "sum(db_count) AS q, CAST(1.50 AS DECIMAL(9, 2)) AS d FROM requests"
    )
    assert main(["sql", "--store", store, "--format", "csv", query]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "t,n,n,snapshots,q,d",
        "2026-11-25 08:00:00+00:00,1,2,True,6,1.50",
    ]
    # sum() of integers is a HUGEINT: a JSON number, as before, not a string.
    assert main(["sql", "--store", store, "--format", "json", query]) == 0
    assert json.loads(capsys.readouterr().out)[0]["q"] == 6


def test_sql_command_gives_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as missing:
        main(["sql", "--store", str(tmp_path / "nothing"), "SELECT 1"])
    assert "no otel-perf store" in str(missing.value)
    store = str(tmp_path / "store")
    fill(store, requests=1)
    assert main(["sql", "--store", store, "SELECT nope FROM requests"]) == 1
    assert "nope" in capsys.readouterr().err


def test_reader_does_not_block_writer_on_the_ducklake_store(tmp_path):
    store = str(tmp_path / "store")
    fill(store, requests=2)
    reader = open_store(parse_address(store), read_only=True)
    try:
        fill(store, requests=3)  # a writer commits while a reader holds the store open
        assert open_store(parse_address(store), read_only=True).execute(
            "SELECT count(*) FROM requests"
        ).fetchone() == (5,)
    finally:
        reader.close()


def test_lock_conflicts_between_writers_are_retried_but_a_held_file_is_not():
    from otel_perf.storage.session import is_transient

    assert is_transient(RuntimeError("Failed to commit DuckLake transaction: database is locked"))
    assert is_transient(RuntimeError("Transaction conflict: cannot commit"))
    assert not is_transient(
        RuntimeError(
            'IO Error: Could not set lock on file "x.duckdb": '
            "Conflicting lock is held in python (PID 1)"
        )
    )
    assert not is_transient(RuntimeError("Catalog Error: Table with name nope does not exist"))


def test_should_migrate_a_version_1_store_to_the_current_schema(tmp_path):
    """A store written by the first release (schema 1) gains graphql_operations and
    alerts.updated_at (schema 2), the sample and alert-action tables and system_samples.source
    (schema 3), the hourly totals (schema 4), service_instances.requests_sampled_out
    (schema 5) and the GraphQL operations' hourly totals (schema 6), keeping its rows."""
    from otel_perf.storage.schema import CREATE_META, MIGRATIONS, SCHEMA_3_TABLES, WRITE_VERSION

    address = parse_address(str(tmp_path / "v1"))
    con = open_store(address)
    con.execute(CREATE_META)
    for statement in MIGRATIONS[1]:
        con.execute(statement)
    con.execute(WRITE_VERSION, ["1"])
    con.execute(
        "INSERT INTO alerts (id, type, severity, subject, occurrences, resolved) "
        "VALUES ('a1', 'slow_query', 'warning', 'h', 2, false)"
    )
    assert "updated_at" not in [c[0] for c in con.execute("DESCRIBE alerts").fetchall()]
    con.close()

    session = StoreSession(address)
    try:
        assert current_version(session.con) == SCHEMA_VERSION == 6
        columns = [c[0] for c in session.con.execute("DESCRIBE alerts").fetchall()]
        assert columns[-1] == "updated_at"
        assert session.con.execute("SELECT id, occurrences, updated_at FROM alerts").fetchall() == [
            ("a1", 2, None)
        ]
        assert session.con.execute("SELECT count(*) FROM graphql_operations").fetchone() == (0,)
        for table in SCHEMA_3_TABLES:
            assert session.con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        columns = [c[0] for c in session.con.execute("DESCRIBE system_samples").fetchall()]
        assert columns[-1] == "source"
        columns = [c[0] for c in session.con.execute("DESCRIBE service_instances").fetchall()]
        assert columns[-2:] == ["write_errors", "requests_sampled_out"]  # schema 5
    finally:
        session.close()


def test_a_catalog_read_during_another_workers_table_creation_is_retried():
    from otel_perf.storage.session import is_transient

    race = "Catalog Error: Failed to read inlined data from DuckLake: Table with name "
    assert is_transient(RuntimeError(race + "ducklake_inlined_data_1_1 does not exist!"))
    assert not is_transient(RuntimeError("Catalog Error: Table with name nope does not exist!"))


def test_a_reader_cursor_sees_one_snapshot_and_the_next_cursor_sees_later_commits(tmp_path):
    """A report's statements read one snapshot (its figures agree with each other) even while
    a writer commits; the API's next cursor sees that commit."""
    import duckdb

    from query_api.store import StoreReader

    store = str(tmp_path / "store")
    fill(store, requests=3)
    reader = StoreReader(store)
    count = "SELECT count(*) FROM requests"
    try:
        with reader.cursor() as cur:
            before = cur.execute(count).fetchone()[0]
            fill(store, requests=2)  # another writer commits in between
            assert cur.execute(count).fetchone()[0] == before == 3
        with reader.cursor() as cur:
            assert cur.execute(count).fetchone()[0] == 5
        with pytest.raises(duckdb.ProgrammingError), reader.cursor() as cur:
            cur.execute("SELECT nope FROM requests")
        with reader.cursor() as cur:  # a failed statement leaves no aborted transaction behind
            assert cur.execute(count).fetchone()[0] == 5
    finally:
        reader.close()
