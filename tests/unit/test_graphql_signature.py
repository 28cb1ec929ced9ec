"""Operation signatures: one text per operation shape, never a literal value in it."""

from graphql import parse

from processors.graphql.signature import (
    apollo_operation_id,
    query_hash,
    signature,
    stripped_document,
)

CANARY = "canary-7f3a9c"


def sig(text: str, name: str | None = None) -> str:
    return signature(parse(text), name)


def test_should_give_one_hash_for_other_literals_variables_whitespace_aliases_and_order():
    variants = [
        'query Books { books(first: 5, title: "Dune") { title author { name } } }',
        'query Books { books(title: "Emma", first: 50) { author { name } title } }',
        "query   Books {\n  list: books(first: 1, title: $t) {\n"
        "    t: title\n    author { name }\n  }\n}",
    ]
    # A variable and a literal are different shapes (as in Apollo): compare like with like.
    hashes = {query_hash(sig(v, "Books")) for v in variants[:2]}
    assert len(hashes) == 1
    assert sig(variants[2], "Books") == sig(
        "query Books { books(title: $t, first: 9) { author { name } title } }", "Books"
    )


def test_should_give_another_hash_for_another_selection_set():
    a = sig("query Books { books { title } }")
    b = sig("query Books { books { title year } }")
    assert query_hash(a) != query_hash(b)


def test_should_print_the_compact_sorted_form_apollo_prints():
    text = """
        query Q($b: [String], $a: Int = 3) {
          z: zeta(y: [1, 2], x: {k: "v"}) { b a }
          ... on Query @skip(if: false) @include(if: true) { alpha }
          ...F
          alpha
        }
        fragment F on Query { beta(f: 1.5) }
    """
    assert sig(text, "Q") == (
        "fragment F on Query{beta(f:0)}"
        "query Q($a:Int=0,$b:[String]){alpha zeta(x:{},y:[]){a b}...F"
        "...on Query@include(if:true)@skip(if:false){alpha}}"
    )


def test_should_drop_other_operations_and_unused_fragments():
    text = """
        query A { ...Used }
        query B { ...Unused other }
        fragment Used on Query { x ...Nested }
        fragment Nested on Query { y }
        fragment Unused on Query { z }
    """
    result = sig(text, "A")
    assert result == "fragment Nested on Query{y}fragment Used on Query{x...Nested}query A{...Used}"
    assert "Unused" not in stripped_document(parse(text), "A")


def test_should_choose_the_only_operation_when_no_name_is_given():
    assert sig("query Only { a }") == "query Only{a}"
    assert sig("{ a(x: 1) }") == "{a(x:0)}"


def test_should_keep_every_definition_when_no_operation_can_be_chosen():
    # Ambiguous (two operations, no name): nothing is dropped, as in Apollo.
    assert sig("query A { a } query B { b }") == "query A{a}query B{b}"


def test_should_never_keep_a_literal_canary():
    text = f"""
        query Q($v: String = "{CANARY}") {{
          a(s: "{CANARY}", block: \"\"\"{CANARY}\"\"\", l: ["{CANARY}"], o: {{k: "{CANARY}"}}) {{
            b @include(if: true)
          }}
        }}
    """
    document = parse(text)
    assert CANARY not in signature(document, "Q")
    assert CANARY not in stripped_document(document, "Q")


def test_should_keep_aliases_and_order_in_the_stripped_document():
    text = 'query Q { second: b(x: 7) { z y } a(s: "secret") } query Other { o }'
    assert stripped_document(parse(text), "Q") == 'query Q{second:b(x:0){z y}a(s:"")}'


def test_should_not_change_the_parsed_document():
    document = parse("query Q { b: a(x: 1) { z y } }")
    before = document.to_dict()
    signature(document, "Q")
    stripped_document(document, "Q")
    assert document.to_dict() == before


def test_should_survive_a_fragment_cycle():
    text = "query Q { ...A } fragment A on Query { ...B } fragment B on Query { x ...A }"
    assert sig(text, "Q") == "fragment A on Query{...B}fragment B on Query{x...A}query Q{...A}"


def test_should_hash_with_sixteen_hex_digits_of_sha256():
    # sha256("{a}") = 5c8a5c8e...; the first 16 hex digits are the key.
    import hashlib

    assert query_hash("{a}") == hashlib.sha256(b"{a}").hexdigest()[:16]
    assert len(query_hash("{a}")) == 16


def test_should_make_the_operation_id_from_apollos_stats_report_key():
    import hashlib

    assert apollo_operation_id("Q", "query Q{a}") == hashlib.sha1(b"# Q\nquery Q{a}").hexdigest()
    assert apollo_operation_id(None, "{a}") == hashlib.sha1(b"# -\n{a}").hexdigest()
