"""``otel-perf demo``: the example Django app under ``opentelemetry-instrument``, real HTTP load,
then a summary read back from the store.

Everything runs as a user would run it: the app is a subprocess (gunicorn with several workers
by default), the load goes over real HTTP on loopback, the summary is plain SQL on the store.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# (path, weight): a realistic mix — mostly healthy reads, some N+1, a few failures.
LOAD_MIX = (
    ("/books/", 30),
    ("/books/n-plus-one/", 15),
    ("/books/optimized/", 15),
    ("/books/1/", 20),
    ("/books/9999/", 5),
    ("/error/", 3),
    ("/slow/", 2),
    ("/no-such-page/", 2),
)

# The FastAPI example's routes (no trailing slashes), in the same proportions.
FASTAPI_LOAD_MIX = tuple((path.rstrip("/"), weight) for path, weight in LOAD_MIX)


def find_example_app(name: str = "django_app", marker: str = "manage.py") -> Path:
    candidates = []
    if os.environ.get("OTEL_PERF_EXAMPLE_DIR"):
        candidates.append(Path(os.environ["OTEL_PERF_EXAMPLE_DIR"]))
    repo = Path(__file__).resolve().parents[1]
    candidates += [repo / "examples" / name, Path.cwd() / "examples" / name]
    for path in candidates:
        if (path / marker).exists():
            return path
    raise SystemExit(
        "otel-perf: the example app was not found; run the demo from a checkout of otel-perf "
        f"(pip install -e .) or set OTEL_PERF_EXAMPLE_DIR to examples/{name}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bin_path(name: str) -> str:
    """A console script of this environment (the venv's, not whatever is first on PATH)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"otel-perf: {name} is not installed (pip install 'otel-perf[server]')")
    return found


def app_environment(store: str, db_path: str, debug: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        {
            "OTEL_PERF_STORE": store,
            "OTEL_SERVICE_NAME": env.get("OTEL_SERVICE_NAME", "otel-perf-demo"),
            "EXAMPLE_DB_PATH": db_path,
            "EXAMPLE_DEBUG": "1" if debug else "0",
            "EXAMPLE_SLOW_SECONDS": env.get("EXAMPLE_SLOW_SECONDS", "1.1"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def prepare_database(app_dir: Path, env: dict[str, str]) -> None:
    for command in (["migrate", "--noinput", "-v", "0"], ["seed_example"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=app_dir,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def fastapi_server_command(server: str, port: int, workers: int) -> list[str]:
    """The FastAPI example (run from examples/fastapi_app) under opentelemetry-instrument."""
    if server == "gunicorn":
        return [
            bin_path("opentelemetry-instrument"),
            bin_path("gunicorn"),
            "-k",
            "uvicorn.workers.UvicornWorker",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "10",
            "app:app",
        ]
    return [
        bin_path("opentelemetry-instrument"),
        bin_path("uvicorn"),
        "app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def prepare_fastapi_database(app_dir: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "seed.py"], cwd=app_dir, env=env, check=True, stdout=subprocess.DEVNULL
    )


def server_command(server: str, port: int, workers: int, reload: bool = False) -> list[str]:
    if server == "gunicorn":
        return [
            bin_path("opentelemetry-instrument"),
            bin_path("gunicorn"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "10",
            "mysite.wsgi",
        ]
    command = [
        bin_path("opentelemetry-instrument"),
        sys.executable,
        "manage.py",
        "runserver",
        f"127.0.0.1:{port}",
    ]
    return command if reload else [*command, "--noreload"]


def wait_ready(
    base: str, proc: subprocess.Popen, timeout: float = 60.0, path: str = "/health/"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"otel-perf: the example app exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(base + path, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise SystemExit("otel-perf: the example app did not become ready in time")


def fetch(url: str, headers: dict | None = None, network_errors_as_zero: bool = True) -> int:
    """GET ``url``; the HTTP status (4xx/5xx included), or 0 when the connection failed."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code
    except (urllib.error.URLError, OSError):
        if network_errors_as_zero:
            return 0
        raise


def drive_load(
    base: str, total: int, concurrency: int, seed: int = 7, mix=LOAD_MIX
) -> dict[str, int]:
    rng = random.Random(seed)
    paths = [p for p, _ in mix]
    weights = [w for _, w in mix]
    plan = rng.choices(paths, weights=weights, k=total)
    done = 0
    statuses: dict[str, int] = {}
    lock = threading.Lock()

    def one(path: str) -> None:
        nonlocal done
        status = fetch(base + path)
        with lock:
            done += 1
            key = f"{status // 100}xx" if status else "failed"
            statuses[key] = statuses.get(key, 0) + 1
            progress(done, total)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, plan))
    sys.stderr.write("\n")
    return statuses


def progress(done: int, total: int, width: int = 40) -> None:
    """A progress bar on a terminal; on a pipe or file, one line at the end."""
    if not sys.stderr.isatty():
        if done == total:
            sys.stderr.write(f"  {done}/{total} requests")
        return
    filled = int(width * done / total)
    if done == total or filled != int(width * (done - 1) / total):
        sys.stderr.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} requests")
        sys.stderr.flush()


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def print_summary(store: str, out=sys.stdout, pools: bool = False) -> None:
    from otel_perf import queries
    from otel_perf.cli import format_table
    from otel_perf.storage import open_store, parse_address
    from query_api import queries_pool as pool_queries
    from query_api.weighted import statement_for

    con = open_store(parse_address(store), read_only=True)
    try:
        for title, sql, params in (
            ("Overall", queries.OVERALL_SUMMARY, []),
            ("Per endpoint", queries.ENDPOINT_SUMMARY, []),
            ("N+1 findings", queries.N_PLUS_ONE_FINDINGS, [10]),
            *([("Connection pools", pool_queries.DEMO_POOLS, [])] if pools else []),
        ):
            result = con.execute(statement_for(con, sql, params), params)
            columns = [d[0] for d in result.description]
            print(f"\n{title}\n", file=out)
            print(format_table(columns, result.fetchall(), max_width=90), file=out)
    finally:
        con.close()


def run_demo(args) -> int:
    fastapi = getattr(args, "app", "django") == "fastapi"
    if args.server == ("runserver" if fastapi else "uvicorn"):
        raise SystemExit(f"otel-perf: --server {args.server} does not run the {args.app} example")
    app_dir = find_example_app("fastapi_app", "app.py") if fastapi else find_example_app()
    store = os.path.abspath(args.store)
    if os.path.exists(os.path.join(store, "catalog.sqlite")):
        shutil.rmtree(store)  # a fresh store, so the summary is this run's
    elif os.path.exists(store) and os.listdir(store):
        raise SystemExit(
            f"otel-perf: {store} exists and is not an otel-perf store; choose another --store"
        )
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="otel-perf-demo-") as tmp:
        env = app_environment(store, os.path.join(tmp, "demo.sqlite3"))
        print(f"otel-perf demo: preparing the example app ({app_dir})")
        if fastapi:
            env.setdefault("EXAMPLE_DATABASE_URL", f"sqlite:///{tmp}/demo.sqlite3")
            env.setdefault("OTEL_PERF_POOL_SAMPLE_INTERVAL_S", "1")
            prepare_fastapi_database(app_dir, env)
            command = fastapi_server_command(args.server, port, args.workers)
        else:
            prepare_database(app_dir, env)
            command = server_command(args.server, port, args.workers)
        shown = " ".join(Path(c).name if i < 2 else c for i, c in enumerate(command))
        print(f"otel-perf demo: starting  {shown}")
        log = open(os.path.join(tmp, "server.log"), "w+")
        proc = subprocess.Popen(
            command,
            cwd=app_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_ready(base, proc, path="/health" if fastapi else "/health/")
            print(f"otel-perf demo: sending {args.requests} requests over HTTP to {base}")
            mix = FASTAPI_LOAD_MIX if fastapi else LOAD_MIX
            statuses = drive_load(base, args.requests, args.concurrency, mix=mix)
            if fastapi:
                time.sleep(2.5)  # a pool sample or two (each process samples every second)
            print(
                "otel-perf demo: responses "
                + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
            )
        finally:
            stop(proc)
            log.seek(0)
            server_log = log.read()
            log.close()
        if proc.returncode not in (0, -signal.SIGTERM):
            print(server_log[-4000:], file=sys.stderr)
    print_summary(store, pools=fastapi)
    print(
        f"\nThe store is {store} — query it while an app runs, e.g.\n"
        f'  otel-perf sql --store {args.store} "SELECT endpoint, count(*) FROM requests '
        f'GROUP BY 1"'
    )
    return 0
