"""GraphQL end to end: Graphene, Strawberry (sync and async views) and Ariadne served by the
example app under opentelemetry-instrument, real HTTP, and the store checked exactly."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import urllib.request

import pytest

from otel_perf import demo
from tests.e2e.conftest import (
    APP_DIR,
    columns_containing,
    prepare_database,
    query,
    wait_for_rows,
)

sys.path.insert(0, str(APP_DIR))
from gql import documents as D  # noqa: E402  (the example app's own documents)

pytestmark = pytest.mark.e2e

CANARY_PASSWORD = "canary-Pa55w0rd-7f3e"
SLOW_MS = 150  # the Slow document sleeps this long; the slow-query threshold is below it

# Complexity by hand (docs/graphql.md: object field 1, scalar 0, a list multiplies its
# children by `first` or the default list size 10, a mutation's root field adds 10):
EXPECTED_COMPLEXITY = {
    "BookCount": 0,  # one scalar
    "GetBook": 1,  # book 1 + scalars
    "AuthorsWithBooks": 11,  # authors: 1 + 10 x (books: 1 + 10 x 0)
    "AuthorsOptimized": 11,
    "DeepBooks": 109,  # books(4): 1 + 4 x (author: 1 + (books(25): 1 + 25 x (author 1)))
    # firstTwo: authors(2) through the fragment: 1 + 2 x (books: 1 + 10 x 0) = 3;
    # nextThree: authors(3): 1 + 3 x 0 = 1
    "AuthorsAliased": 4,
    "CreateBook": 11,  # createBook: 1 + 1 x 0 + 10
    "Login": 10,  # login, a scalar: 0 + 10
}


def post(base: str, endpoint: str, document: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": document, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        base + endpoint, body, {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # Ariadne answers 400 to invalid documents
        return json.loads(exc.read())


def plan(server: str) -> list[tuple[str, str, dict | None]]:
    """(name, document, variables) sent to each server, in order."""
    steps = [
        ("BookCount", D.BOOK_COUNT, None),
        ("BookCount", "query   BookCount {\n  bookCount\n}", None),  # same signature
        ("GetBook", D.GET_BOOK, {"id": "1"}),
        ("GetBook", D.GET_BOOK, {"id": "2"}),
        ("AuthorsWithBooks", D.AUTHORS_N_PLUS_ONE, None),
        ("AuthorsOptimized", D.AUTHORS_OPTIMIZED, None),
        ("DeepBooks", D.DEEP, None),
        ("AuthorsAliased", D.AUTHORS_ALIASED, None),  # a fragment, two aliases
        ("CachedCount", D.CACHED, None),  # a miss, then the count is cached
        ("CachedCount", D.CACHED, None),  # a hit
        ("Failing", D.FAILING, None),
    ]
    if server != "strawberry-async":
        steps += [
            ("CreateBook", D.CREATE_BOOK, {"title": "T", "authorId": "1", "published": 2001}),
            ("Login", D.LOGIN, {"username": "reader", "password": CANARY_PASSWORD}),
            ("Slow", D.SLOW, {"ms": SLOW_MS}),
        ]
    return steps


def sequence() -> list[tuple[str, str, str, dict | None]]:
    """(server, name, document, variables) of every request the run sends, in order."""
    steps = []
    for server in D.ENDPOINTS:
        steps += [(server, *step) for step in plan(server)]
        # A document that does not parse and one that does not validate.
        steps.append((server, "syntax", "query Broken { bookCount", None))
        steps.append((server, "invalid", "query Bad { noSuchField }", None))
    return steps


DJANGO_COUNT_SCRIPT = r"""
import json, os, sys
import django
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
django.setup()
client = Client(raise_request_exception=False)
counts = []
for endpoint, document, variables in json.load(sys.stdin):
    body = json.dumps({"query": document, "variables": variables or {}})
    with CaptureQueriesContext(connection) as ctx:
        client.post(endpoint, body, content_type="application/json")
    counts.append(len(ctx.captured_queries))
print(json.dumps(counts))
"""


@pytest.fixture(scope="module")
def django_counts(tmp_path_factory) -> dict[str, list[int]]:
    """Queries of each request of ``sequence()`` counted by Django itself
    (CaptureQueriesContext), uninstrumented, in one process and in the same order, so that
    the local-memory cache warms up exactly as in the instrumented run."""
    tmp = tmp_path_factory.mktemp("graphql-truth")
    env = demo.app_environment("none", str(tmp / "truth.sqlite3"))
    env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    prepare_database(env)
    steps = sequence()
    out = subprocess.run(
        [sys.executable, "-c", DJANGO_COUNT_SCRIPT],
        cwd=APP_DIR,
        env=env,
        input=json.dumps([(D.ENDPOINTS[s], doc, v) for s, _, doc, v in steps]),
        capture_output=True,
        text=True,
        check=True,
    )
    counts: dict[str, list[int]] = {}
    for (server, *_), count in zip(steps, json.loads(out.stdout.splitlines()[-1]), strict=True):
        counts.setdefault(server, []).append(count)
    return counts


@pytest.fixture(scope="module")
def graphql_run(tmp_path_factory):
    from tests.e2e.conftest import App

    tmp = tmp_path_factory.mktemp("graphql")
    # One worker: the local-memory cache and the hit/miss sequence live in one process.
    app = App(
        tmp,
        workers=1,
        extra_env={"OTEL_PERF_SLOW_QUERY_MS": str(SLOW_MS - 50)},
    ).prepare()
    app.start()
    sent: dict[str, list[tuple[str, dict]]] = {}
    try:
        for server, name, document, variables in sequence():
            answer = post(app.base, D.ENDPOINTS[server], document, variables)
            sent.setdefault(server, []).append((name, answer))
        expected = sum(len(v) for v in sent.values())
        got = wait_for_rows(app.store, expected, "SELECT count(*) FROM graphql_operations")
        assert got == expected, app.log()
    finally:
        app.stop()
    return app, sent


def operations(store: str, endpoint: str) -> list[dict]:
    columns = [
        "operation_name",
        "operation_type",
        "query_hash",
        "complexity_score",
        "depth",
        "alias_count",
        "database_queries",
        "duration_ms",
        "parsing_ms",
        "validation_ms",
        "execution_ms",
        "database_ms",
        "cache_ms",
        "cache_hits",
        "cache_misses",
        "error",
        "error_count",
        "n_plus_one_count",
        "query_text",
        "variables",
        "is_slow",
    ]
    # (duration_ms is selected above; is_slow is checked against it)
    rows = query(
        store,
        f"SELECT {', '.join(columns)} FROM graphql_operations "
        "WHERE endpoint = ? ORDER BY timestamp",
        [f"POST {endpoint}"],
    )
    return [dict(zip(columns, row, strict=True)) for row in rows]


@pytest.mark.parametrize("server", list(D.ENDPOINTS))
def test_should_store_each_operation_with_name_type_and_db_count(
    graphql_run, django_counts, server
):
    app, sent = graphql_run
    rows = operations(app.store, D.ENDPOINTS[server])
    names = [name for name, _ in sent[server]]
    assert len(rows) == len(names)
    first_server = server == next(iter(D.ENDPOINTS))
    for i, (name, row) in enumerate(zip(names, rows, strict=True)):
        # Django's own count of the same request (every statement ran inside the operation).
        assert row["database_queries"] == django_counts[server][i], (name, row)
        if name in ("syntax", "invalid"):
            assert row["error"] and row["execution_ms"] == 0, row
            assert row["database_queries"] == 0, row
            continue
        assert row["operation_name"] == name
        kind = "mutation" if name in ("CreateBook", "Login") else "query"
        assert row["operation_type"] == kind
        # And the example's documented counts. The cache is the process's: only the very
        # first CachedCount misses and queries.
        cold = name != "CachedCount" or (first_server and i == names.index("CachedCount"))
        expected_db = D.EXPECTED_QUERIES[name] if cold else 0
        assert row["database_queries"] == expected_db, (name, row)
        assert row["error"] is (name == "Failing")
        # Slow sleeps past the threshold; any other may be slow too on a loaded machine.
        assert row["is_slow"] is (row["duration_ms"] >= SLOW_MS - 50)
        if name == "Slow":
            assert row["is_slow"]


@pytest.mark.parametrize("server", list(D.ENDPOINTS))
def test_should_hash_by_signature(graphql_run, server):
    app, _ = graphql_run
    rows = operations(app.store, D.ENDPOINTS[server])
    hashes: dict[str, set] = {}
    for row in rows:
        if row["operation_name"]:
            hashes.setdefault(row["operation_name"], set()).add(row["query_hash"])
    # Same operation, different whitespace or variables: one hash. Different selections: not.
    assert all(len(h) == 1 for h in hashes.values()), hashes
    assert len({next(iter(h)) for h in hashes.values()}) == len(hashes)


@pytest.mark.parametrize("server", list(D.ENDPOINTS))
def test_should_score_complexity_as_computed_by_hand(graphql_run, server):
    app, sent = graphql_run
    rows = operations(app.store, D.ENDPOINTS[server])
    scores = {
        r["operation_name"]: r["complexity_score"]
        for r in rows
        if r["operation_name"] in EXPECTED_COMPLEXITY
    }
    names = {name for name, _ in sent[server]}  # the async schema has no mutations
    assert scores == {k: v for k, v in EXPECTED_COMPLEXITY.items() if k in names}
    aliased = next(r for r in rows if r["operation_name"] == "AuthorsAliased")
    # authors > books > title (the fragment adds no level); firstTwo and nextThree
    assert (aliased["depth"], aliased["alias_count"]) == (3, 2)


@pytest.mark.parametrize("server", list(D.ENDPOINTS))
def test_should_break_the_operation_down_into_phases_that_add_up(graphql_run, server):
    app, _ = graphql_run
    for row in operations(app.store, D.ENDPOINTS[server]):
        phases = row["parsing_ms"] + row["validation_ms"] + row["execution_ms"]
        # The phases tile the span (docs/graphql.md): they add up to its duration.
        assert phases == pytest.approx(row["duration_ms"], abs=0.01), row
        assert min(row["parsing_ms"], row["validation_ms"], row["execution_ms"]) >= 0, row
        assert row["database_ms"] <= row["execution_ms"] + 1e-6, row
        assert row["cache_ms"] <= row["execution_ms"] + 1e-6, row
        if row["operation_name"] == "Slow":
            assert row["execution_ms"] >= SLOW_MS


@pytest.mark.parametrize("server", list(D.ENDPOINTS))
def test_should_count_cache_hits_and_misses_per_operation(graphql_run, server):
    app, _ = graphql_run
    cached = [
        (r["cache_hits"], r["cache_misses"])
        for r in operations(app.store, D.ENDPOINTS[server])
        if r["operation_name"] == "CachedCount"
    ]
    # The four servers share the process's cache: only the first server sees the miss.
    first = server == next(iter(D.ENDPOINTS))
    assert cached == ([(0, 1), (1, 0)] if first else [(1, 0), (1, 0)])


@pytest.mark.parametrize("server", list(D.ENDPOINTS))
def test_should_flag_n_plus_one_with_its_field_path_only_when_unoptimised(graphql_run, server):
    app, _ = graphql_run
    endpoint = f"POST {D.ENDPOINTS[server]}"
    findings = query(
        app.store,
        "SELECT graphql_operation_name, graphql_field_path, executions, suggestion "
        "FROM n_plus_one WHERE endpoint = ?",
        [endpoint],
    )
    assert [f[:3] for f in findings] == [("AuthorsWithBooks", "authors.books", 10)]
    assert "DataLoader" in findings[0][3]


def test_should_never_store_the_password_or_literal_values(graphql_run):
    app, _ = graphql_run
    assert columns_containing(app.store, CANARY_PASSWORD) == []
    # A byte search of the raw files too (it alone proves little: Parquet may compress).
    for path in pathlib.Path(app.store).rglob("*"):
        if path.is_file():
            assert CANARY_PASSWORD.encode() not in path.read_bytes(), path
    variables = query(
        app.store,
        "SELECT variables FROM graphql_operations WHERE operation_name = 'Login' LIMIT 1",
    )[0][0]
    assert json.loads(variables) == {"username": "reader", "password": "[REDACTED]"}
    texts = query(app.store, "SELECT query_text FROM graphql_operations")
    assert not any("2001" in (t or "") or '"T"' in (t or "") for (t,) in texts)


def test_should_describe_the_request_by_its_operation(graphql_run):
    app, _ = graphql_run
    rows = query(
        app.store,
        "SELECT r.graphql_operation_name, r.graphql_query_hash, o.query_hash "
        "FROM requests r JOIN graphql_operations o ON o.root_span_id = r.span_id "
        "WHERE r.graphql_operation_name IS NOT NULL",
    )
    assert rows and all(r[1] == r[2] for r in rows)


def test_should_record_the_process_memory_at_each_operation(graphql_run):
    app, sent = graphql_run
    rows = query(
        app.store,
        "SELECT o.memory_usage_mb, r.memory_usage_mb FROM graphql_operations o "
        "JOIN requests r ON r.span_id = o.root_span_id",
    )
    assert len(rows) == sum(len(v) for v in sent.values())
    # The worker's RSS when the operation ended and again when its request ended, a few
    # milliseconds later in the same process: a real figure, and nearly the same one. Not
    # always within a few MB: a server's first request can import and allocate between the
    # two readings (Strawberry 0.341 on graphql-core 3.3: +13.5 MB once, CI 2026-12-06).
    differences = sorted(abs(operation_mb - request_mb) for operation_mb, request_mb in rows)
    assert all(operation_mb > 10 for operation_mb, _ in rows), rows
    assert differences[len(differences) // 2] < 1.0, rows  # the median: the same reading
    assert differences[-1] < 64, rows


def test_should_reject_operations_over_the_maximum_complexity_when_enforced(make_app):
    """OTEL_PERF_GRAPHQL_ENFORCE_COMPLEXITY: the rule is added to every server's validation."""
    env = {
        "OTEL_PERF_GRAPHQL_ENFORCE_COMPLEXITY": "true",
        "OTEL_PERF_GRAPHQL_MAX_COMPLEXITY": "100",
    }
    with make_app(workers=1, extra_env=env) as app:
        answers = {}
        for server, endpoint in D.ENDPOINTS.items():
            answers[server] = (
                post(app.base, endpoint, D.DEEP),  # complexity 109
                post(app.base, endpoint, D.AUTHORS_N_PLUS_ONE),  # 11
            )
        expected = 2 * len(D.ENDPOINTS)
        assert wait_for_rows(app.store, expected, "SELECT count(*) FROM graphql_operations") == (
            expected
        )
    for server, (deep, cheap) in answers.items():
        assert "data" not in deep or deep["data"] is None, (server, deep)
        message = deep["errors"][0]["message"]
        assert "109" in message and "100" in message, (server, message)
        assert len(cheap["data"]["authors"]) == 10, server
    rows = query(
        app.store,
        "SELECT operation_name, error, database_queries, execution_ms FROM graphql_operations "
        "WHERE operation_name = 'DeepBooks'",
    )
    # Rejected in validation: no resolver ran, no statement, no execution phase.
    assert rows == [("DeepBooks", True, 0, 0.0)] * len(D.ENDPOINTS)
