"""The cost of the GraphQL document analysis per execution, cached and not, in one run.

    python -m benchmarks.graphql_complexity [--iterations 2000] [--rounds 5]

Three documents against one schema: small (3 fields), medium (fragments, an inline fragment,
variables; 25 fields) and large (about 100 fields). For each: ``operation_facts`` uncached
(the cache emptied before every call: what the first execution of a document costs),
``operation_facts`` cached (every later execution: what the instrumentor pays per request),
and ``analyze`` alone (what computing complexity outside the cache would cost each time).
Medians over the rounds, in µs per call.
"""

from __future__ import annotations

import argparse
import statistics
import time

from graphql import FieldNode, build_schema, parse

from processors.graphql import document_facts
from processors.graphql.complexity import ComplexityConfig, analyze
from processors.graphql.document_facts import operation_facts

_SCALARS = [f"f{i}" for i in range(20)]

SCHEMA = build_schema(
    """
    type Query {
      books(first: Int, genre: String): [Book!]!
      book(id: ID!): Book
      authors(limit: Int): [Author]
      search(pageSize: Int, text: String): [Result]
    }
    type Book { title: String year: Int author: Author reviews(first: Int): [Review]
    """
    + " ".join(f"{name}: String" for name in _SCALARS)
    + """ }
    type Review { stars: Int text: String author: Author }
    type Author { name: String born: Int books(first: Int): [Book] }
    union Result = Book | Author
    """
)

SMALL = 'query Book { book(id: "42") { title year } }'

MEDIUM = """
query Shelf($n: Int, $genre: String, $withReviews: Boolean!) {
  books(first: $n, genre: $genre) {
    ...BookCard
    reviews(first: 3) @include(if: $withReviews) { stars text author { ...AuthorLine } }
  }
  search(pageSize: 5, text: "dune") {
    ... on Book { ...BookCard }
    ... on Author { ...AuthorLine books(first: 2) { title } }
  }
}
fragment BookCard on Book { title year f0 f1 f2 author { ...AuthorLine } }
fragment AuthorLine on Author { name born }
"""

LARGE = (
    "query Large { "
    + " ".join(
        f"b{i}: books(first: {i + 1}) {{ title {' '.join(_SCALARS)} "
        f"author {{ name born }} reviews {{ stars }} }}"
        for i in range(4)
    )
    + " }"
)

DOCUMENTS = {"small": SMALL, "medium": MEDIUM, "large": LARGE}
VARIABLES = {"small": None, "medium": {"n": 20, "genre": "sf", "withReviews": True}, "large": None}


def _field_count(document) -> int:
    count = 0
    pending = [d.selection_set for d in document.definitions]
    while pending:
        for selection in pending.pop().selections:
            count += isinstance(selection, FieldNode)
            if getattr(selection, "selection_set", None) is not None:
                pending.append(selection.selection_set)
    return count


def _per_call_us(fn, iterations: int) -> float:
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations * 1e6


def measure(iterations: int = 2000, rounds: int = 5) -> dict:
    config = ComplexityConfig()
    result: dict = {"iterations": iterations, "rounds": rounds, "documents": {}}
    for label, text in DOCUMENTS.items():
        document = parse(text)
        variables = VARIABLES[label]

        def uncached(document=document, variables=variables):
            document_facts.clear_cache()
            operation_facts(SCHEMA, document, None, variables, config)

        def cached(document=document, variables=variables):
            operation_facts(SCHEMA, document, None, variables, config)

        def analysis(document=document, variables=variables):
            analyze(SCHEMA, document, None, variables, config)

        facts = operation_facts(SCHEMA, document, None, variables, config)
        times: dict[str, list[float]] = {"uncached": [], "cached": [], "analyze": []}
        for _ in range(rounds):  # interleaved, so drift on a shared machine hits all alike
            times["uncached"].append(_per_call_us(uncached, max(iterations // 10, 10)))
            cached()
            times["cached"].append(_per_call_us(cached, iterations))
            times["analyze"].append(_per_call_us(analysis, max(iterations // 5, 10)))
        medians = {k: statistics.median(v) for k, v in times.items()}
        result["documents"][label] = {
            "fields": _field_count(document),
            "chars": len(text),
            "complexity": facts.complexity,
            "us": medians,
            "uncached_over_cached": medians["uncached"] / medians["cached"],
            "analyze_over_cached": medians["analyze"] / medians["cached"],
        }
    document_facts.clear_cache()
    return result


def render(result: dict) -> list[str]:
    """Markdown lines for docs/benchmarks.md."""
    lines = [
        "## GraphQL document analysis",
        "",
        f"`python -m benchmarks.graphql_complexity`: medians of {result['rounds']} interleaved "
        "rounds, µs per call. *Uncached*: `operation_facts` with the cache emptied first (a "
        "document's first execution); *cached*: every later execution; *analyze*: complexity "
        "alone, the per-execution cost if it were kept out of the cache.",
        "",
        "| document | fields | chars | complexity | uncached µs | cached µs | analyze µs "
        "| uncached / cached | analyze / cached |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in result["documents"].items():
        us = r["us"]
        lines.append(
            f"| {label} | {r['fields']} | {r['chars']} | {r['complexity']} | "
            f"{us['uncached']:.1f} | {us['cached']:.2f} | {us['analyze']:.1f} | "
            f"{r['uncached_over_cached']:.0f} | {r['analyze_over_cached']:.0f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("\n".join(render(measure(args.iterations, args.rounds))))


if __name__ == "__main__":
    main()
