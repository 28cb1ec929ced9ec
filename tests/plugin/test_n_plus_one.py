"""N+1 detection, the marker, the ``perf`` fixture, the summary and the JSON report."""

import json
import re

from tests.plugin.conftest import APP_DIR, example_table, failed_ids, run


def n_plus_one_line() -> int:
    """The line of the example's N+1 view that iterates each author's books (independent of
    the plugin: read from the source)."""
    source = (APP_DIR / "library" / "views.py").read_text().splitlines()
    start = next(i for i, line in enumerate(source) if "def books_n_plus_one" in line)
    return next(i for i in range(start, len(source)) if "a.books.all()" in source[i]) + 1


def test_should_fail_the_n_plus_one_test_with_the_finding_and_pass_its_optimised_twin(sample):
    result = run(sample, "--perf-n-plus-one=fail", "--perf-report=report.json", "test_views.py")
    assert failed_ids(result) == {
        "test_views.py::test_books_n_plus_one",
        "test_views.py::test_books_optimized_over_marker",
        "test_views.py::test_graphql_authors_n_plus_one",
    }
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines(
        [
            "otel-perf: N+1 query in test_views.py::test_books_n_plus_one: the same statement "
            "ran 10 times in request GET /books/n-plus-one/",
            '  statement:   SELECT "library_book"."id", * FROM "library_book" WHERE '
            '"library_book"."author_id" = ? ORDER BY "library_book"."id" ASC',
            "  fingerprint: ????????????????",
            f"  issued at:   library/views.py:{n_plus_one_line()} in *",
            "  fix:         *prefetch_related*",
            "  (waive with @pytest.mark.perf(allow_n_plus_one=True))",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "otel-perf: test_views.py::test_books_optimized_over_marker: 2 DB queries, over "
            "its @pytest.mark.perf limit of 1"
        ]
    )
    # Inside GraphQL: the field path, the resolver, a DataLoader.
    result.stdout.fnmatch_lines(
        [
            "otel-perf: N+1 query in test_views.py::test_graphql_authors_n_plus_one: the same "
            "statement ran 10 times in GraphQL field authors.books (POST /graphql/)",
            "  statement:   *",
            "  fingerprint: *",
            "  issued at:   gql/resolvers.py:* in *",
            "  fix:         *while resolving authors.books: batch it with a DataLoader*",
        ]
    )
    # The summary: the findings of the failing tests and of the waived one.
    result.stdout.fnmatch_lines(
        [
            "*= otel-perf =*",
            "6 tests measured, * DB queries, * ms DB time",
            "over budget (1):",
            "N+1 findings (3):",
            "  test_views.py::test_books_n_plus_one: 10x * in GET /books/n-plus-one/ at *",
            "slowest tests by DB time:",
        ]
    )
    report = json.loads((sample.path / "report.json").read_text())
    tests = {t["id"]: t for t in report["tests"]}
    n_plus_one = tests["test_views.py::test_books_n_plus_one"]
    assert n_plus_one["queries"] == example_table("library/views.py")["/books/n-plus-one/"]
    assert n_plus_one["outcome"] == "failed" and n_plus_one["perf_failed"]
    (finding,) = n_plus_one["n_plus_one"]
    assert finding["count"] == 10 and finding["endpoint"] == "GET /books/n-plus-one/"
    assert re.fullmatch(r"[0-9a-f]{16}", finding["fingerprint"])
    assert tests["test_views.py::test_books_optimized"]["queries"] == 2
    assert tests["test_views.py::test_books_optimized"]["n_plus_one"] == []
    waived = tests["test_views.py::test_books_n_plus_one_waived"]
    assert waived["outcome"] == "passed" and len(waived["n_plus_one"]) == 1
    assert report["over_budget"] == ["test_views.py::test_books_optimized_over_marker"]
    assert [f["id"] for f in report["n_plus_one"]] == [
        "test_views.py::test_books_n_plus_one",
        "test_views.py::test_books_n_plus_one_waived",
        "test_views.py::test_graphql_authors_n_plus_one",
    ]
    (graphql_finding,) = tests["test_views.py::test_graphql_authors_n_plus_one"]["n_plus_one"]
    assert graphql_finding["graphql_field_path"] == "authors.books"
    assert graphql_finding["fingerprint"] == finding["fingerprint"]  # the same statement


def test_should_warn_and_pass_in_warn_mode(sample):
    result = run(sample, "--perf-n-plus-one=warn", "test_views.py::test_books_n_plus_one")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*PerfWarning: otel-perf: N+1 query in *test_books_n_plus_one*"])
