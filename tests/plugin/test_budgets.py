"""Budgets: written on the first run, a rise fails exactly the tests that rose, the update
rewrites exactly their entries; xdist writes the same file as a serial run."""

import tomllib

from tests.plugin.conftest import example_table, failed_ids, run

BUDGET = "--perf-budget=perf-budget.toml"


def budget_of(sample) -> dict:
    return tomllib.loads((sample.path / "perf-budget.toml").read_text())


def test_should_record_budgets_fail_a_rise_and_accept_it_on_update(sample):
    views = example_table("library/views.py")
    documents = example_table("gql/documents.py")

    first = run(sample, BUDGET, "test_budget.py")
    first.assert_outcomes(passed=6)
    first.stdout.fnmatch_lines(["budget file *perf-budget.toml: 6 entries added (new tests)"])
    recorded = budget_of(sample)
    assert recorded["test_budget.py::test_book_detail"] == {"queries": views["/books/1/"]}
    assert recorded["test_budget.py::test_books_optimized"] == {
        "queries": views["/books/optimized/"]
    }
    assert recorded["test_budget.py::test_health"] == {"queries": views["/health/"]}
    deep = recorded["test_budget.py::test_graphql_deep"]
    assert deep["queries"] == documents["DeepBooks"]
    assert deep["graphql_complexity"] > 100  # the example's "costly on paper" document
    text = (sample.path / "perf-budget.toml").read_text()

    # One more query in one test; a wider page in the GraphQL document (more complexity,
    # the same queries).
    source = sample.path / "test_budget.py"
    changed = (
        source.read_text()
        .replace(
            'assert client.get("/books/1/").status_code == 200',
            'assert client.get("/books/1/").status_code == 200\n'
            "    from library.models import Book\n\n"
            "    assert Book.objects.count() == 30",
        )
        .replace("books(first: 25)", "books(first: 30)")
    )
    source.write_text(changed)
    second = run(sample, BUDGET, "test_budget.py")
    assert failed_ids(second) == {
        "test_budget.py::test_book_detail",
        "test_budget.py::test_graphql_deep",
    }
    second.assert_outcomes(passed=4, failed=2)
    second.stdout.fnmatch_lines(
        [
            "otel-perf: test_budget.py::test_book_detail: 2 DB queries, over its budget in "
            "perf-budget.toml of 1 (if the rise is intended: pytest --perf-budget-update)"
        ]
    )
    second.stdout.fnmatch_lines(
        [
            "otel-perf: test_budget.py::test_graphql_deep: GraphQL complexity *, over its "
            f"budget in perf-budget.toml of {deep['graphql_complexity']} (*"
        ]
    )
    assert "test_graphql_deep: * DB queries" not in second.stdout.str()
    assert (sample.path / "perf-budget.toml").read_text() == text  # checked, not rewritten

    third = run(sample, BUDGET, "--perf-budget-update", "test_budget.py")
    third.assert_outcomes(passed=6)
    updated = budget_of(sample)
    assert updated["test_budget.py::test_book_detail"] == {"queries": 2}
    assert updated["test_budget.py::test_graphql_deep"]["queries"] == deep["queries"]
    assert (
        updated["test_budget.py::test_graphql_deep"]["graphql_complexity"]
        > (deep["graphql_complexity"])
    )
    unchanged = set(recorded) - {
        "test_budget.py::test_book_detail",
        "test_budget.py::test_graphql_deep",
    }
    assert {k: updated[k] for k in unchanged} == {k: recorded[k] for k in unchanged}

    run(sample, BUDGET, "test_budget.py").assert_outcomes(passed=6)


def test_should_write_the_same_budget_file_with_two_xdist_workers(sample):
    args = ("--perf-budget-update", "--perf-n-plus-one=off", "test_budget.py", "test_views.py")
    serial = run(sample, "--perf-budget=serial.toml", "--perf-report=serial.json", *args)
    serial.assert_outcomes(passed=11, failed=1)  # the marker's max_queries=1
    parallel = run(sample, "-n", "2", "--perf-budget=xdist.toml", *args)
    parallel.assert_outcomes(passed=11, failed=1)
    parallel.stdout.fnmatch_lines(["2 workers ?12 items?"])
    serial_text = (sample.path / "serial.toml").read_text()
    assert len(tomllib.loads(serial_text)) == 12
    assert (sample.path / "xdist.toml").read_text() == serial_text
