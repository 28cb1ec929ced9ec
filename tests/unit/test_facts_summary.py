"""summarize_db groups executions by raw text before fingerprinting (a speed-up): it must give
exactly what the plain definition gives — one pass over the executions in order, each one
fingerprinted and added to its group — written out independently here."""

import random

from processors.facts import StatementGroup, is_framework_statement, summarize_db
from processors.sql_fingerprint import fingerprint

STATEMENTS = [
    "SELECT * FROM t WHERE id = %s",
    "SELECT * FROM t WHERE id = 7",  # another text, the same fingerprint as the first
    "SELECT * FROM t WHERE id  =  %s  -- tail",  # and another
    "SELECT a FROM u",
    "UPDATE u SET a = ? WHERE id = ?",
    "SELECT QUOTE(?), QUOTE(?)",  # a framework statement: not counted
]


def reference(entries, slow_db_ns, threshold):
    ids = {e[0] for e in entries}
    groups: dict[int, StatementGroup] = {}
    count = total = slow = 0
    slowest_ns, slowest = 0, None
    for _span_id, parent_id, statement, duration_ns, system, field_path in entries:
        if parent_id in ids or is_framework_statement(statement):
            continue
        fp, normalized = fingerprint(statement)
        group = groups.setdefault(fp, StatementGroup(fp, normalized, system, field_path=field_path))
        group.calls += 1
        group.total_ns += duration_ns
        group.max_ns = max(group.max_ns, duration_ns)
        if duration_ns >= slow_db_ns:
            group.slow_count += 1
            slow += 1
        if duration_ns >= slowest_ns:
            slowest_ns, slowest = duration_ns, group
        count += 1
        total += duration_ns
    ordered = list(groups.values())
    return (
        count,
        total,
        slow,
        slowest_ns,
        slowest,
        ordered,
        [g for g in ordered if g.calls >= threshold],
    )


def random_entries(rng: random.Random, n: int) -> list[tuple]:
    entries = []
    for i in range(n):
        # Some spans are twins: children of an earlier DB span.
        parent = entries[rng.randrange(len(entries))][0] if entries and rng.random() < 0.15 else 1
        entries.append(
            (
                100 + i,
                parent,
                rng.choice(STATEMENTS),
                rng.choice((0, 5, 5, 40, 120, rng.randrange(200))),  # ties on purpose
                rng.choice(("sqlite", "postgresql")),
                rng.choice((None, f"path{i}")),
            )
        )
    return entries


def test_summary_equals_the_per_execution_definition():
    rng = random.Random(10)
    for _ in range(400):
        entries = random_entries(rng, rng.randrange(0, 40))
        got = summarize_db(entries, 100, 3)
        count, total, slow, slowest_ns, slowest, groups, n_plus_one = reference(entries, 100, 3)
        assert (got.count, got.total_ns, got.slow_count, got.slowest_ns) == (
            count,
            total,
            slow,
            slowest_ns,
        )
        assert got.groups == groups  # dataclass equality: every field, in order
        assert got.n_plus_one == n_plus_one
        # The slowest is the same group (by position: equal groups may compare equal).
        assert (slowest is None) == (got.slowest is None)
        if slowest is not None:
            assert groups.index(slowest) == got.groups.index(got.slowest)
            assert got.slowest.fingerprint == slowest.fingerprint
        # Told that no span can be a twin (no DB span overlapped another), the summary is the
        # same whenever that is true.
        ids = {e[0] for e in entries}
        if not any(e[1] in ids for e in entries):
            assert summarize_db(entries, 100, 3, may_nest=False) == got


def test_same_text_different_timings_and_twins():
    entries = [
        (1, 0, "SELECT a FROM t WHERE id = 1", 10, "sqlite", None),
        (2, 0, "SELECT a FROM t WHERE id = 2", 30, "sqlite", None),
        (3, 2, "SELECT a FROM t WHERE id = 2", 999, "sqlite", None),  # twin of 2: not counted
        (4, 0, "SELECT b FROM t", 30, "postgresql", "f"),  # ties the slowest: the later one wins
        (5, 0, "SELECT a FROM t WHERE id = 1", 5, "sqlite", None),
        # Ties again, later, with a text seen before: now the first group is the slowest.
        (6, 0, "SELECT a FROM t WHERE id = 2", 30, "sqlite", None),
    ]
    s = summarize_db(entries, 30, 3)
    assert (s.count, s.total_ns, s.slow_count, s.slowest_ns) == (5, 105, 3, 30)
    assert [g.statement for g in s.groups] == ["SELECT a FROM t WHERE id = ?", "SELECT b FROM t"]
    assert s.slowest is s.groups[0]
    assert summarize_db(entries[:5], 30, 3).slowest.statement == "SELECT b FROM t"
    a = s.groups[0]
    assert (a.calls, a.total_ns, a.max_ns, a.slow_count) == (4, 75, 30, 2)
    assert [g.statement for g in s.n_plus_one] == ["SELECT a FROM t WHERE id = ?"]
