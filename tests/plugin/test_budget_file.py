"""The budget file's text: stable, readable, and read back exactly (tomllib)."""

import tomllib

import pytest

from otel_perf.pytest_plugin import budget


def test_should_write_sorted_entries_with_quoted_ids_that_read_back():
    budgets = {
        "tests/test_b.py::test_x": {"queries": 3},
        'tests/test_a.py::test_p[a"b\\c]': {"queries": 1, "graphql_complexity": 12},
        "tests/test_a.py::test_q[\t]": {"queries": 0, "db_time_ms": 1.23456},
    }
    text = budget.dumps(budgets)
    assert tomllib.loads(text) == {
        "tests/test_b.py::test_x": {"queries": 3},
        'tests/test_a.py::test_p[a"b\\c]': {"queries": 1, "graphql_complexity": 12},
        "tests/test_a.py::test_q[\t]": {"queries": 0, "db_time_ms": 1.235},
    }
    headers = [line for line in text.splitlines() if line.startswith("[")]
    assert headers == [
        '["tests/test_a.py::test_p[a\\"b\\\\c]"]',
        '["tests/test_a.py::test_q[\\u0009]"]',
        '["tests/test_b.py::test_x"]',
    ]
    assert budget.dumps(dict(reversed(list(budgets.items())))) == text


def test_should_add_new_tests_only_unless_updating():
    existing = {"a": {"queries": 1}, "b": {"queries": 2}}
    measured = {"b": {"queries": 5}, "c": {"queries": 0}}
    assert budget.merged(existing, measured, update=False) == {
        "a": {"queries": 1},
        "b": {"queries": 2},
        "c": {"queries": 0},
    }
    assert budget.merged(existing, measured, update=True) == {
        "a": {"queries": 1},
        "b": {"queries": 5},
        "c": {"queries": 0},
    }


def test_should_refuse_a_broken_file_with_its_path(tmp_path):
    path = tmp_path / "perf-budget.toml"
    path.write_text("[unclosed\n")
    with pytest.raises(budget.BudgetFileError, match="perf-budget.toml"):
        budget.load(path)
    assert budget.load(tmp_path / "missing.toml") == {}


def test_should_check_limits_and_give_db_time_its_tolerance():
    from otel_perf.pytest_plugin.facts import limit_problems

    facts = {"queries": 3, "graphql_complexity": 12, "db_time_ms": 15.0}
    assert limit_problems(facts, {"max_queries": 3, "max_complexity": 12}, "x") == []
    assert limit_problems(facts, {"max_queries": 2}, "its budget") == [
        "3 DB queries, over its budget of 2"
    ]
    assert limit_problems(facts, {"max_complexity": 11}, "b") == [
        "GraphQL complexity 12, over b of 11"
    ]
    assert limit_problems(facts, {"max_db_time_ms": 10.0}, "b", tolerance=2.0) == []
    assert limit_problems(facts, {"max_db_time_ms": 7.0}, "b", tolerance=2.0) == [
        "DB time 15.000 ms, over b of 7.0 ms x 2"
    ]
    assert limit_problems({**facts, "graphql_complexity": None}, {"max_complexity": 1}, "b") == []
