"""End-to-end fixtures: the example app as a real subprocess under ``opentelemetry-instrument``.

Nothing of ours is mocked: the app is launched the way a user launches it, requests go over
real HTTP, and the store is read back with the same code the CLI uses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_perf import demo
from otel_perf.storage import StoreUnavailable, open_store, parse_address

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "examples" / "django_app"

GROUND_TRUTH_SCRIPT = r"""
import json, os, sys
import django
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
django.setup()
client = Client(raise_request_exception=False)
out = {}
for path in sys.argv[1:]:
    with CaptureQueriesContext(connection) as ctx:
        status = client.get(path).status_code
    out[path] = {"queries": len(ctx.captured_queries), "status": status}
print(json.dumps(out))
"""


# Where the session keeps its migrated and seeded example databases (set by ``_seed_folder``).
# pytest loads this file as ``conftest`` and the tests import it as ``tests.e2e.conftest``: two
# module objects, so the folder is always kept in (and read from) the latter.
_SEED_FOLDER: Path | None = None
# Variables that change nothing in the database's schema or data (they are read at request
# time; the cache is local memory or Redis, never the database): apps differing only in them
# share one seeded database. Any other variable (EXAMPLE_SILK adds tables) gets its own.
_RUNTIME_ONLY = {
    "EXAMPLE_DB_PATH",
    "EXAMPLE_DEBUG",
    "EXAMPLE_SLOW_SECONDS",
    "EXAMPLE_OTEL_PERF_SLOW_REQUEST_MS",
    "EXAMPLE_CACHE",
    "EXAMPLE_CACHE_URL",
    "EXAMPLE_CACHE_PREFIX",
}


@pytest.fixture(scope="session", autouse=True)
def _seed_folder(tmp_path_factory):
    import tests.e2e.conftest as shared

    shared._SEED_FOLDER = tmp_path_factory.mktemp("seeded")
    yield
    shared._SEED_FOLDER = None


def prepare_database(env: dict[str, str]) -> None:
    """The example's database at ``env["EXAMPLE_DB_PATH"]``, migrated and seeded, as
    ``demo.prepare_database`` leaves it. That takes two Django start-ups (2-4 s on a 2-core CI
    machine) and some 30 apps of this suite need it: the session runs it once per distinct
    configuration and each app gets a fresh copy of the resulting SQLite file."""
    import tests.e2e.conftest as shared

    folder = shared._SEED_FOLDER
    plain = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    if folder is None:  # outside a pytest session
        demo.prepare_database(APP_DIR, plain)
        return
    key = sorted(
        (k, v) for k, v in plain.items() if k.startswith("EXAMPLE_") and k not in _RUNTIME_ONLY
    )
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]
    template = folder / f"seed-{digest}.sqlite3"
    if not template.exists():
        demo.prepare_database(APP_DIR, {**plain, "EXAMPLE_DB_PATH": str(template)})
        # One self-contained file once Django has exited (no journal or WAL left beside it).
        assert [p.name for p in folder.glob(template.name + "-*")] == []
    shutil.copyfile(template, plain["EXAMPLE_DB_PATH"])


def query(store: str, sql: str, params=None):
    con = open_store(parse_address(store), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def columns_containing(store: str, needle: str) -> list[tuple[str, str]]:
    """Every (table, column) of the store whose text contains ``needle`` (case-insensitive)."""
    con = open_store(parse_address(store), read_only=True)
    try:
        columns = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_catalog = 'perf' AND data_type IN ('VARCHAR', 'BLOB')"
        ).fetchall()
        hits = []
        for table, column in columns:
            found = con.execute(
                f'SELECT count(*) FROM "{table}" '
                f'WHERE contains(lower(CAST("{column}" AS VARCHAR)), ?)',
                [needle.lower()],
            ).fetchone()[0]
            if found:
                hits.append((table, column))
        return hits
    finally:
        con.close()


def wait_for_rows(
    store: str, expected: int, sql: str = "SELECT count(*) FROM requests", timeout: float = 20.0
) -> int:
    """Poll the store (readable while the app runs) until ``expected`` rows are there."""
    deadline = time.monotonic() + timeout
    count = -1
    while time.monotonic() < deadline:
        try:
            count = query(store, sql)[0][0]
        except StoreUnavailable:
            count = -1
        if count >= expected:
            return count
        time.sleep(0.2)
    return count


def get(url: str, headers: dict | None = None) -> int:
    """Tests want to see a failed connection, not a status 0."""
    return demo.fetch(url, headers, network_errors_as_zero=False)


def exhaust_anonymous_budget(get) -> tuple[int, object, bytes]:
    """Anonymous requests (``get()`` -> status, headers, body) until the 429 of the 100-a-minute
    tier, checking the headers on the way and the refusal's envelope; the 429's answer."""
    previous = None
    for _ in range(250):  # 100 a minute; a window that ends mid-loop starts a fresh 100
        status, headers, body = get()
        assert headers["X-RateLimit-Limit"] == "100"
        if status == 429:
            break
        assert status == 200, body
        previous = headers
    else:
        pytest.fail("no 429 after 250 anonymous requests")
    assert previous is not None, "the caller was refused before its first request"
    assert previous["X-RateLimit-Remaining"] == "0"  # the last one allowed used the budget up
    assert headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Reset"] == previous["X-RateLimit-Reset"]
    assert 1 <= int(headers["Retry-After"]) <= 60
    document = json.loads(body)
    assert document["status"] == "error" and document["error"]["code"] == "RATE_LIMITED"
    assert document["timestamp"].endswith("Z")
    return status, headers, body


def start_serve(
    log_path: Path, env: dict, *args: str, ready: str = "/openapi.json", ready_port=None
) -> tuple[subprocess.Popen, str]:
    """``otel-perf serve`` on a free port (plus ``args``) as a subprocess, waited for until
    ``ready`` answers 200 on ``ready_port`` (default: the report port). Returns the process
    and the report port's base URL; the test fails with the log if it never answers."""
    import urllib.request

    port = demo.free_port()
    command = [sys.executable, "-m", "otel_perf.cli", "serve", "--port", str(port), *args]
    with open(log_path, "w") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    check = f"http://127.0.0.1:{ready_port or port}{ready}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(Path(log_path).read_text())
        try:
            with urllib.request.urlopen(check, timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:  # not listening yet, or not ready (HTTPError is an OSError)
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def interruptible() -> None:
    """Children's Ctrl-C as in a terminal. A suite started as a background job (``pytest &``
    from a script) inherits SIGINT ignored, and so would every app it starts: runserver would
    then wait out its 20 s stop timeout and be killed without flushing, and the monitor would
    never see its Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def launch(app, cwd: Path, **ready) -> None:
    """Start ``app.command`` in ``cwd`` (its output in ``app.log_path``) and wait until it
    answers at ``app.base``; the test fails with the app's log if it never does."""
    app._log = open(app.log_path, "w")
    app.proc = subprocess.Popen(
        app.command,
        cwd=cwd,
        env=app.env,
        stdout=app._log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=interruptible,
    )
    try:
        demo.wait_ready(app.base, app.proc, timeout=60, **ready)
    except SystemExit as exc:
        app.stop()
        pytest.fail(f"{exc}\n{app.log()}")


class App:
    """A running example app: ``base`` URL, its ``store``, its combined output in ``log()``."""

    def __init__(
        self,
        tmp: Path,
        server: str = "gunicorn",
        workers: int = 2,
        debug: bool = False,
        store: str | None = None,
        extra_env: dict | None = None,
        reload: bool = False,
    ) -> None:
        self.tmp = tmp
        self.server = server
        self.port = demo.free_port()
        # One store per app, so a test may run several apps side by side or in turn.
        self.store = store if store is not None else str(tmp / f"store-{self.port}")
        self.db_path = str(tmp / "app.sqlite3")
        self.env = demo.app_environment(self.store, self.db_path, debug=debug)
        self.env["EXAMPLE_SLOW_SECONDS"] = "1.05"
        self.env["OTEL_PERF_FLUSH_INTERVAL_S"] = "0.3"
        self.env.update(extra_env or {})
        self.base = f"http://127.0.0.1:{self.port}"
        self.command = demo.server_command(server, self.port, workers, reload=reload)
        self.log_path = tmp / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def prepare(self) -> App:
        prepare_database(self.env)
        return self

    def start(self) -> App:
        launch(self, APP_DIR)
        return self

    def get(self, path: str, headers: dict | None = None) -> int:
        return get(self.base + path, headers)

    def stop(self) -> int | None:
        """Stop as a user would: Ctrl-C for runserver (its reloader child too), SIGTERM for
        gunicorn's master (which stops its workers gracefully)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if self.server == "runserver":
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGINT)
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
            demo.stop(self.proc)
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@pytest.fixture
def make_app(tmp_path):
    apps: list[App] = []

    @contextlib.contextmanager
    def run(**kwargs):
        app = App(tmp_path, **kwargs).prepare().start()
        apps.append(app)
        try:
            yield app
        finally:
            app.stop()

    yield run
    for app in apps:
        with contextlib.suppress(Exception):
            app.stop()


@pytest.fixture(scope="session")
def ground_truth(tmp_path_factory):
    """Queries per endpoint counted by Django itself (CaptureQueriesContext), uninstrumented."""

    # The counts depend on the paths and DEBUG only, and nothing writes to them: each
    # combination is computed once per session.
    computed: dict[tuple[tuple[str, ...], bool], dict] = {}

    def compute(paths: list[str], debug: bool) -> dict:
        key = (tuple(paths), debug)
        if key not in computed:
            computed[key] = count(paths, debug)
        return computed[key]

    def count(paths: list[str], debug: bool) -> dict:
        tmp = tmp_path_factory.mktemp("truth")
        env = demo.app_environment("none", str(tmp / "truth.sqlite3"), debug=debug)
        env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
        env["EXAMPLE_SLOW_SECONDS"] = "0"
        prepare_database(env)
        out = subprocess.run(
            [sys.executable, "-c", GROUND_TRUTH_SCRIPT, *paths],
            cwd=APP_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    return compute
