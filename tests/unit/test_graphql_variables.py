"""Variables made safe to store: secrets redacted, e-mail masked, size bounded, never raising."""

import datetime
import decimal
import json

from processors.graphql.variables import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_NODES,
    MAX_STRING,
    redact_variables,
)


def test_should_redact_values_under_sensitive_keys_however_spelt():
    variables = {
        "password": "hunter2",
        "newPassword": "x",
        "user_passwd": "x",
        "refresh-token": "x",
        "clientSecret": "x",
        "Authorization": "Bearer x",
        "API Key": "x",
        "credit_card": {"number": "4111"},
        "cardNumber": 4111,
        "CVV": 123,
        "title": "Dune",
    }
    redacted = redact_variables(variables)
    assert redacted.pop("title") == "Dune"
    assert set(redacted.values()) == {"[REDACTED]"}


def test_should_redact_nested_values_and_inside_lists():
    variables = {"input": {"users": [{"name": "a", "token": "t1"}, {"name": "b", "token": "t2"}]}}
    assert redact_variables(variables) == {
        "input": {
            "users": [{"name": "a", "token": "[REDACTED]"}, {"name": "b", "token": "[REDACTED]"}]
        }
    }


def test_should_redact_the_configured_extra_keys_normalised():
    redacted = redact_variables({"socialSecurity": "1", "dob": "2000"}, ("Social_Security", "DOB"))
    assert redacted == {"socialSecurity": "[REDACTED]", "dob": "[REDACTED]"}


def test_should_mask_email_addresses():
    redacted = redact_variables({"email": "ada@example.org", "note": "write to bob.b@mail.co.uk"})
    assert redacted == {"email": "[EMAIL]", "note": "write to [EMAIL]"}


def test_should_truncate_long_strings_with_a_marker():
    redacted = redact_variables({"q": "x" * 100_000})
    assert redacted["q"].startswith("x" * MAX_STRING)
    assert redacted["q"].endswith("…[TRUNCATED: 100000 characters]")
    assert len(redacted["q"]) < MAX_STRING + 50


def test_should_mask_an_address_across_the_cut():
    text = "a" * (MAX_STRING - 5) + " ada@example.org"
    assert "ada" not in redact_variables({"q": text})["q"]


def test_should_cut_large_lists_and_objects_with_a_marker():
    redacted = redact_variables(
        {"ids": list(range(10_000)), "map": {str(i): i for i in range(999)}}
    )
    assert redacted["ids"][:MAX_ITEMS] == list(range(MAX_ITEMS))
    assert redacted["ids"][-1] == f"[TRUNCATED: {10_000 - MAX_ITEMS} more items]"
    assert redacted["map"]["[TRUNCATED]"] == f"{999 - MAX_ITEMS} more keys"


def test_should_cut_deep_nesting_and_self_references():
    loop: dict = {}
    loop["self"] = loop
    redacted = redact_variables(loop)
    text = json.dumps(redacted)
    assert text.count("self") == MAX_DEPTH
    assert "[DEPTH LIMIT]" in text


def test_should_bound_the_total_size():
    wide = {f"k{i}": [{"v": "x" * 1000} for _ in range(50)] for i in range(50)}
    text = json.dumps(redact_variables(wide))
    assert len(text) < MAX_NODES * (MAX_STRING + 100)
    assert "[TRUNCATED]" in text


def test_should_turn_other_types_into_json():
    redacted = redact_variables(
        {
            "when": datetime.date(2024, 1, 2),
            "price": decimal.Decimal("9.99"),
            "nan": float("nan"),
            "huge": 10**30,
            "tags": ("a", "b"),
            1: "int key",
        }
    )
    assert redacted == {
        "when": "2024-01-02",
        "price": "9.99",
        "nan": "nan",
        "huge": str(10**30),
        "tags": ["a", "b"],
        "1": "int key",
    }
    json.dumps(redacted, allow_nan=False)


def test_should_never_raise():
    class Hostile:
        def __str__(self):
            raise RuntimeError("no")

    class BadMapping(dict):
        def items(self):
            raise RuntimeError("no")

    assert redact_variables({"x": Hostile()}) == {"x": "[UNSERIALISABLE]"}
    assert redact_variables(BadMapping(a=1)) == "[REDACTED]"
    assert redact_variables(None) is None
    assert redact_variables({"x": 1}, extra_keys=None) == {"x": 1}
