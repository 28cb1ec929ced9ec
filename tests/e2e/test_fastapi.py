"""The FastAPI + SQLAlchemy example under ``opentelemetry-instrument uvicorn`` as a subprocess, real
HTTP, on PostgreSQL (psycopg 3, a schema per test) and on sqlite.

Ground truth is SQLAlchemy's own statement events, counted inside the app per request (its
test-mode ledger, ``EXAMPLE_STATEMENT_LEDGER=1``), not our spans: the store must agree with it
request by request (counts, slow statements, N+1 findings), and endpoints must be route
templates. Pool usage is checked by exhausting a pool of two connections.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from otel_perf import demo
from otel_perf.settings import Settings
from otel_perf.storage import open_store, parse_address
from query_api.bottlenecks import pool as pool_rules
from query_api.reports import pools as pool_report
from query_api.reports.common import fetch_dict
from query_api.reports.stats import totals_statement
from tests.e2e.conftest import get, launch, query, wait_for_rows

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "examples" / "fastapi_app"
PG_URL = os.environ.get(
    "OTEL_PERF_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SLOW_S = 0.6  # the slow statement: over OTEL_PERF_SLOW_DB_MS=400, nothing else comes near
N_PLUS_ONE_THRESHOLD = 5
SYNC_PLAN = {
    "/books": 2,
    "/books/n-plus-one": 2,
    "/books/optimized": 2,
    "/books/1": 1,
    "/books/9999": 1,
    "/slow": 1,
    "/error": 1,
}
ASYNC_PLAN = {f"/async{p}": n for p, n in SYNC_PLAN.items() if p != "/error"}
ROUTES = {"/books/1": "/books/{book_id}", "/books/9999": "/books/{book_id}"}


def need_postgres() -> None:
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(PG_URL)
        psycopg.connect(
            host=url.host, port=url.port, dbname=url.database, user=url.username, connect_timeout=3
        ).close()
    except Exception as exc:  # noqa: BLE001 - any reason PostgreSQL is not usable here
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at {PG_URL} (required when CI=true): {exc}")
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL}: {exc}")


class FastAPIApp:
    def __init__(self, tmp: Path, database: str, server: str = "uvicorn", env: dict | None = None):
        self.port = demo.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.store = str(tmp / f"store-{self.port}")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        self.env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "OTEL_SERVICE_NAME": "fastapi-example",
                "OTEL_PERF_STORE": self.store,
                "OTEL_PERF_FLUSH_INTERVAL_S": "0.3",
                "OTEL_PERF_SLOW_DB_MS": "400",
                "OTEL_PERF_N_PLUS_ONE_THRESHOLD": str(N_PLUS_ONE_THRESHOLD),
                "OTEL_PERF_EXCLUDE_PATHS": "/health,/_test/",
                "EXAMPLE_STATEMENT_LEDGER": "1",
                "EXAMPLE_SLOW_SECONDS": str(SLOW_S),
            }
        )
        if database == "postgresql":
            self.env["EXAMPLE_DATABASE_URL"] = PG_URL
            self.env["EXAMPLE_DB_SCHEMA"] = f"otelperf_{uuid.uuid4().hex[:10]}"
        else:
            self.env["EXAMPLE_DATABASE_URL"] = f"sqlite:///{tmp / f'app-{self.port}.sqlite3'}"
        self.env.update(env or {})
        self.command = demo.fastapi_server_command(server, self.port, workers=2)
        self.log_path = tmp / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def seed(self, *args: str) -> None:
        plain = {k: v for k, v in self.env.items() if not k.startswith("OTEL_")}
        subprocess.run(
            [sys.executable, "seed.py", *args], cwd=APP_DIR, env=plain, check=True, timeout=60
        )

    def start(self) -> FastAPIApp:
        self.seed()
        launch(self, APP_DIR, path="/health")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            demo.stop(self.proc)
            self._log.close()
            self.proc = None
            if "EXAMPLE_DB_SCHEMA" in self.env:
                self.seed("--drop")

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def ledger(self) -> list[dict]:
        with urllib.request.urlopen(self.base + "/_test/statements", timeout=10) as resp:
            return json.loads(resp.read())["requests"]


@pytest.fixture
def run_app(tmp_path):
    apps: list[FastAPIApp] = []

    @contextlib.contextmanager
    def run(database: str, **kwargs):
        if database == "postgresql":
            need_postgres()
        app = FastAPIApp(tmp_path, database, **kwargs).start()
        apps.append(app)
        try:
            yield app
        finally:
            app.stop()

    yield run
    for app in apps:
        with contextlib.suppress(Exception):
            app.stop()


def truth_per_request(entry: dict) -> dict:
    """What SQLAlchemy itself saw for one request: statements, slow ones, N+1 executions."""
    by_text = collections.Counter(statement for statement, _ in entry["statements"])
    return {
        "db_count": len(entry["statements"]),
        "db_slow_count": sum(1 for _, ms in entry["statements"] if ms >= 400),
        "n_plus_one": sorted(n for n in by_text.values() if n >= N_PLUS_ONE_THRESHOLD),
        "db_time_ms": sum(ms for _, ms in entry["statements"]),
    }


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_store_agrees_with_sqlalchemy_request_by_request(run_app, database):
    plan = dict(SYNC_PLAN)
    if database == "postgresql":
        plan.update(ASYNC_PLAN)  # the async engine runs on psycopg 3
    with run_app(database) as app:
        sent = 0
        for path, times in plan.items():
            for _ in range(times):
                status = get(app.base + path)
                assert status == {"/books/9999": 404, "/error": 500}.get(
                    path.removeprefix("/async"), 200
                ), path
                sent += 1
        # The ledger takes a request when its middleware unwinds, just after the response.
        deadline = time.monotonic() + 10
        while len(ledger := [e for e in app.ledger() if e["path"] in plan]) < sent:
            assert time.monotonic() < deadline, ledger
            time.sleep(0.1)
        assert len(ledger) == sent
        assert wait_for_rows(app.store, sent) == sent, app.log()
        rows = query(
            app.store,
            "SELECT trace_id, path, endpoint, route, status_code, error, db_count, db_slow_count, "
            "db_time_ms, n_plus_one_count, duration_ms FROM requests ORDER BY timestamp",
        )
        findings = query(app.store, "SELECT trace_id, endpoint, executions FROM n_plus_one")
    assert len(rows) == sent
    executions = collections.defaultdict(list)
    for trace_id, _endpoint, n in findings:
        executions[trace_id].append(n)
    # Requests of one path were sent one after another: within a path, the store's order (by
    # start) is the ledger's (by end); across paths a quick request may end before the one
    # sent just before it.
    rows = sorted(rows, key=lambda row: list(plan).index(row[1]))
    ledger = sorted(ledger, key=lambda entry: list(plan).index(entry["path"]))
    for row, entry in zip(rows, ledger, strict=True):
        trace_id, path, endpoint, route, status, error, count, slow, db_ms, n1, duration = row
        truth = truth_per_request(entry)
        assert path == entry["path"]
        template = ("/async" if path.startswith("/async") else "") + ROUTES.get(
            path.removeprefix("/async"), path.removeprefix("/async")
        )
        assert (endpoint, route) == (f"GET {template}", template)
        assert count == truth["db_count"], (path, count, truth)
        assert slow == truth["db_slow_count"], (path, slow, truth)
        assert sorted(executions[trace_id]) == truth["n_plus_one"], path
        assert n1 == len(truth["n_plus_one"])
        assert error == (status >= 500)
        # Our time is the SQLAlchemy spans', whose listeners run next to the ledger's around
        # the same cursor calls; a thread switch between them lands in one or the other.
        assert abs(db_ms - truth["db_time_ms"]) <= 0.25 * truth["db_time_ms"] + 15, path
        assert db_ms <= duration
    # The facts the example exists to show, on both engines.
    by_path = {r[1]: r for r in rows}
    assert by_path["/books/n-plus-one"][6] == 11 and by_path["/books/optimized"][6] == 2
    assert by_path["/slow"][7] == 1 and by_path["/slow"][8] >= SLOW_S * 1000
    if database == "postgresql":
        assert by_path["/async/books/n-plus-one"][9] == 1


def hammer(base: str, path: str, clients: int) -> list[int]:
    barrier = threading.Barrier(clients)
    statuses: list[int] = []

    def one():
        barrier.wait()
        statuses.append(get(base + path))

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


@pytest.mark.parametrize(
    ("database", "path"), [("sqlite", "/pool/hold"), ("postgresql", "/async/pool/hold")]
)
def test_exhausted_pool_shows_usage_waits_and_raises_alerts(run_app, database, path):
    env = {
        "EXAMPLE_POOL_SIZE": "2",
        "EXAMPLE_MAX_OVERFLOW": "0",
        "OTEL_PERF_POOL_SAMPLE_INTERVAL_S": "0.5",
    }
    with run_app(database, env=env) as app:
        # Six requests each holding a connection 300 ms, two connections: four must wait.
        statuses = hammer(app.base, f"{path}?ms=300", clients=6)
        assert statuses == [200] * 6
        samples = "SELECT count(*) FROM pool_samples WHERE waits > 0"
        assert wait_for_rows(app.store, 1, samples) >= 1, app.log()
        time.sleep(1.0)  # the interval after the burst is sampled too
        rows = query(
            app.store,
            "SELECT pool_name, size, max_overflow, usage, waits, wait_ms_total, wait_ms_max, "
            "timeouts, timestamp FROM pool_samples ORDER BY timestamp",
        )
        held = query(app.store, f"SELECT count(*) FROM requests WHERE path = '{path}'")[0][0]
    assert held == 6
    everything = rows
    # PostgreSQL has the sync engine's pool too (idle here): judge the one the path used.
    (name,) = {r[0] for r in rows if r[0].endswith(" (async)") == (database == "postgresql")}
    rows = [r for r in rows if r[0] == name]
    assert {(r[1], r[2]) for r in rows} == {(2, 0)}
    assert max(r[3] for r in rows) == 1.0
    waits = sum(r[4] for r in rows)
    # Each wait is at most one or two holds long (300 ms each, 600 ms for the last pair).
    assert 2 <= waits <= 4
    assert 100 <= max(r[6] for r in rows) <= 1500
    assert sum(r[7] for r in rows) == 0
    # Judged up to the newest sample read above (the app wrote more while stopping).
    now = max(r[8] for r in everything) + datetime.timedelta(microseconds=1)
    con = open_store(parse_address(app.store), read_only=True)
    try:
        (exhausted,) = pool_rules.pool_exhausted(con, Settings(), now)
        (long_wait,) = pool_rules.pool_long_wait(con, Settings(pool_max_wait_ms=100.0), now)
        window = {"start": everything[0][8], "end": now}
        thresholds = {"slow_ms": 1000.0, "max_complexity": 100}
        totals = fetch_dict(con, *totals_statement(window, thresholds))  # stats' statement
        usage = round(totals["pool_usage"], 4)
        (section,) = [p for p in pool_report.section(con, window, 10) if p["pool"] == name]
    finally:
        con.close()
    assert exhausted.severity == "error" and exhausted.details["waits"] == waits
    assert long_wait.worst_value == max(r[6] for r in rows)
    assert usage == round(sum(r[3] for r in everything) / len(everything), 4)
    assert section["peak_usage"] == 1.0 and section["waits"] == waits


def test_gunicorn_uvicorn_workers_store_every_request_and_sample_each_process(run_app):
    env = {"OTEL_PERF_POOL_SAMPLE_INTERVAL_S": "0.5"}
    with run_app("sqlite", server="gunicorn", env=env) as app:
        for _ in range(12):
            assert get(app.base + "/books/n-plus-one") == 200
        assert wait_for_rows(app.store, 12) == 12, app.log()
        served = query(app.store, "SELECT count(DISTINCT service_instance) FROM requests")[0][0]
        sampling = "SELECT count(DISTINCT service_instance) FROM pool_samples"
        # Every process that served requests samples its own pool (no election).
        assert wait_for_rows(app.store, served, sampling) == served, app.log()
        store = app.store
    # Stopped (SIGTERM): every request is in, with its N+1, whichever worker served it.
    rows = query(store, "SELECT endpoint, db_count, n_plus_one_count FROM requests")
    assert set(rows) == {("GET /books/n-plus-one", 11, 1)} and len(rows) == 12
    pools = query(store, "SELECT DISTINCT pool_name, size, max_overflow FROM pool_samples")
    assert [(size, overflow) for _, size, overflow in pools] == [(5, 10)]


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_requests_of_the_last_interval_survive_sigterm(run_app, server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, skipping atexit: without the
    uvicorn_flush hook, nothing queued for this long flush interval would be stored."""
    with run_app("sqlite", server=server, env={"OTEL_PERF_FLUSH_INTERVAL_S": "60"}) as app:
        for _ in range(5):
            assert get(app.base + "/books") == 200
        store = app.store
    assert query(store, "SELECT count(*) FROM requests")[0][0] == 5


def post_graphql(base: str, document: str) -> dict:
    request = urllib.request.Request(
        base + "/graphql",
        data=json.dumps({"query": document}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_strawberry_on_fastapi_operations_and_n_plus_one_by_field(run_app):
    """Strawberry's ASGI integration: operations stored with their statements, against
    SQLAlchemy's own count, and the lazy load attributed to its field path."""
    pytest.importorskip("strawberry")
    with run_app("sqlite") as app:
        lazy = post_graphql(app.base, "query AuthorsBooks { authors { name books { title } } }")
        eager = post_graphql(
            app.base, "query AuthorsEager { authorsOptimized { name books { title } } }"
        )
        assert "errors" not in lazy and "errors" not in eager, (lazy, eager)
        assert len(lazy["data"]["authors"]) == 10
        assert wait_for_rows(app.store, 2, "SELECT count(*) FROM graphql_operations") == 2
        truth = [e for e in app.ledger() if e["path"] == "/graphql"]
        operations = dict(
            query(
                app.store,
                "SELECT operation_name, database_queries FROM graphql_operations",
            )
        )
        findings = query(
            app.store,
            "SELECT graphql_operation_name, graphql_field_path, executions FROM n_plus_one",
        )
        endpoints = query(app.store, "SELECT DISTINCT endpoint FROM requests")
    assert [len(e["statements"]) for e in truth] == [11, 2]  # SQLAlchemy's own count
    assert operations == {"AuthorsBooks": 11, "AuthorsEager": 2}
    assert findings == [("AuthorsBooks", "authors.books", 10)]
    assert endpoints == [("POST /graphql",)]
