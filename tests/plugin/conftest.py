"""Fixtures of the plugin tests: the sample suite on the example app, in pytest's
``pytester`` (enabled for the whole suite by ``-p pytester`` in pyproject's addopts)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
import sqlalchemy.ext.asyncio  # noqa: F401
import sqlalchemy.orm  # noqa: F401
from _pytest.pytester import Pytester

# In-process pytester runs restore sys.modules when they end: a module first imported inside
# one is dropped afterwards, and SQLAlchemy cannot be imported twice in one process (its
# inspection registry survives: "Type <class 'object'> is already registered" in a later
# test). The imports above are what the plugin's in-process pipeline imports.

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "examples" / "django_app"
SUITE = Path(__file__).resolve().parent / "sample_suite"
# Plugins of this environment that the sample runs do not need (about a second of imports).
QUIET = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:schemathesis",
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:anyio",
)


@pytest.fixture
def sample(pytester: Pytester, monkeypatch) -> Pytester:
    """A project dir with the sample suite against the example Django app."""
    for name in ("DJANGO_SETTINGS_MODULE", "PYTEST_XDIST_AUTO_NUM_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini(
        f"[pytest]\nDJANGO_SETTINGS_MODULE = mysite.settings\npythonpath = {APP_DIR}\n"
    )
    shutil.copy(SUITE / "sample_conftest.py", pytester.path / "conftest.py")
    shutil.copy(SUITE / "sample_views.py", pytester.path / "test_views.py")
    shutil.copy(SUITE / "sample_budget.py", pytester.path / "test_budget.py")
    return pytester


def run(pytester: Pytester, *args: str, command: tuple[str, ...] = ()):
    """pytest in a subprocess: Django is set up once per process, and the runs need their own."""
    if command:
        return pytester.run(*command, "-m", "pytest", *QUIET, *args, timeout=120)
    return pytester.runpytest_subprocess(*QUIET, *args, timeout=120)


def failed_ids(result) -> set[str]:
    return {
        line.split()[1]
        for line in result.outlines
        if line.startswith("FAILED ") and "::" in line.split()[1]
    }


def example_table(relative: str, name: str = "EXPECTED_QUERIES") -> dict:
    """A literal table of the example app (its own suite checks it against Django's count),
    read without importing the app (that needs Django set up)."""
    tree = ast.parse((APP_DIR / relative).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise LookupError(f"{name} not in {relative}")
