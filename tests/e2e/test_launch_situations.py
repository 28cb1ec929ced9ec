"""Unchanged launches: beside the upstream opentelemetry-distro, and a pytest-django suite."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version

import pytest

from otel_perf import demo
from tests.e2e.conftest import APP_DIR, query, wait_for_rows

pytestmark = pytest.mark.e2e

UNSAMPLED = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}


@pytest.fixture(scope="session")
def upstream_distro(tmp_path_factory):
    """The upstream opentelemetry-distro, installed into a folder that only the app under test
    sees (PYTHONPATH), so the rest of the suite keeps its own entry points."""
    target = tmp_path_factory.mktemp("upstream-distro")
    wanted = f"opentelemetry-distro=={version('opentelemetry-instrumentation')}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            wanted,
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot install {wanted}: {result.stderr}")
        pytest.skip(f"cannot install {wanted} (no package index?): {result.stderr[-300:]}")
    return str(target)


@pytest.mark.parametrize("winner", ["upstream", "otel_perf"])
def test_beside_the_upstream_distro_whichever_wins(make_app, upstream_distro, winner):
    env = {
        "PYTHONPATH": upstream_distro,
        "OTEL_PYTHON_DISTRO": "distro" if winner == "upstream" else "otel_perf",
        "OTEL_PYTHON_CONFIGURATOR": "configurator" if winner == "upstream" else "otel_perf",
        # The upstream distro defaults to OTLP export; no Collector runs in this test.
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    with make_app(server="gunicorn", workers=2, extra_env=env) as app:
        for _ in range(3):
            assert app.get("/books/n-plus-one/") == 200
        assert app.get("/books/", UNSAMPLED) == 200
        assert wait_for_rows(app.store, 4) == 4
    rows = query(app.store, "SELECT endpoint, n_plus_one_count FROM requests ORDER BY endpoint")
    assert rows == [("GET /books/", 0)] + [("GET /books/n-plus-one/", 1)] * 3
    warned = "another distro configured OpenTelemetry" in app.log()
    assert warned is (winner == "upstream")


def _pytest_summary(output: str) -> str:
    match = re.search(r"(\d+ passed[^\n]*)", output)
    assert match, output
    return re.sub(r" in [\d.]+s.*", "", match.group(1))


def test_pytest_django_suite_unchanged_under_opentelemetry_instrument(tmp_path):
    """Settings module only in pytest.ini; nothing exported. Same results as without us."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["OTEL_PERF_STORE"] = str(tmp_path / "store")
    env.pop("PYTEST_ADDOPTS", None)
    plain = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    instrumented = subprocess.run(
        [
            demo.bin_path("opentelemetry-instrument"),
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert instrumented.returncode == 0, instrumented.stdout + instrumented.stderr
    # The same results. One warning may differ, and it is not ours: where FastAPI's
    # instrumentation is installed (this repo's test environment), opentelemetry-instrument
    # imports FastAPI and so anyio before pytest can rewrite anyio's plugin.
    warning = re.compile(r", 1 warning$")
    assert warning.sub("", _pytest_summary(instrumented.stdout)) == _pytest_summary(plain.stdout)
    if warning.search(_pytest_summary(instrumented.stdout)):
        assert "Module already imported so cannot be rewritten; anyio" in instrumented.stdout
    # The test client's requests went through the instrumented middleware into the store.
    stored = query(str(tmp_path / "store"), "SELECT count(*) FROM requests")[0][0]
    assert stored > 0
