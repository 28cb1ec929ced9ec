"""Installed but not enabled, the plugin changes nothing; enabled in-process, it undoes what
it did when the run ends."""

import re
import sqlite3

import pytest

from tests.plugin.conftest import QUIET, run

PLAIN = """
import sqlite3

import pytest


def lookups():
    cursor = sqlite3.connect(":memory:").cursor()
    cursor.execute("CREATE TABLE t (x INTEGER)")
    for i in range(6):
        cursor.execute("SELECT x FROM t WHERE x = ?", (i,)).fetchall()


def test_lookups():
    lookups()


@pytest.mark.perf(max_queries=1)
def test_marked():
    lookups()
"""


def outcome_lines(result) -> list[str]:
    """The run's output without the lines that differ between any two runs."""
    return [
        re.sub(r" in [0-9.]+s", " in (time)", line)
        for line in result.outlines
        if not line.startswith(("plugins:", "rootdir:", "platform"))
    ]


@pytest.fixture
def plain(pytester, monkeypatch):
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makepyfile(test_plain=PLAIN)
    return pytester


def test_should_change_nothing_in_a_run_without_the_options(plain):
    connect = sqlite3.connect
    with_plugin = plain.runpytest_inprocess(*QUIET, "-p", "no:django", "-p", "no:xdist")
    without = plain.runpytest_inprocess(
        *QUIET, "-p", "no:django", "-p", "no:xdist", "-p", "no:otel_perf"
    )
    with_plugin.assert_outcomes(passed=2)
    assert outcome_lines(with_plugin) == outcome_lines(without)
    assert not any("otel-perf" in line for line in outcome_lines(with_plugin))
    assert sorted(p.name for p in plain.path.iterdir()) == ["test_plain.py"]
    assert sqlite3.connect is connect


def test_should_undo_its_instrumentation_after_an_enabled_in_process_run(plain):
    """Enabled by the ini file alone, in this very process."""
    connect = sqlite3.connect
    plain.makeini("[pytest]\nperf_n_plus_one = fail\n")
    result = plain.runpytest_inprocess(*QUIET, "-p", "no:django", "-p", "no:xdist")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "otel-perf: N+1 query in test_plain.py::test_lookups: the same statement ran 6 "
            "times in the test body (no request)",
            "  statement:   SELECT x FROM t WHERE x = ?",
            "  issued at:   test_plain.py:10 in lookups",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*test_marked: 7 DB queries, over its @pytest.mark.perf limit of 1"]
    )
    assert sqlite3.connect is connect


def test_should_fail_the_perf_fixture_with_a_hint_when_not_enabled(plain):
    plain.makepyfile(test_fixture="def test_facts(perf):\n    pass\n")
    result = plain.runpytest_inprocess(*QUIET, "-p", "no:django", "test_fixture.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the 'perf' fixture needs the otel-perf plugin enabled*"])


def test_should_run_under_opentelemetry_instrument(sample, monkeypatch):
    """The app's own launcher: the plugin adds its collector to the configured provider."""
    from otel_perf import demo

    monkeypatch.setenv("OTEL_PERF_STORE", "none")
    result = run(
        sample,
        "--perf-n-plus-one=fail",
        "test_views.py::test_books_n_plus_one",
        "test_views.py::test_books_optimized",
        command=(demo.bin_path("opentelemetry-instrument"), demo.bin_path("python")),
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*N+1 query in test_views.py::test_books_n_plus_one: the same statement ran 10 times*"]
    )
