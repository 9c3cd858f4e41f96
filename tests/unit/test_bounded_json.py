"""JSON bodies within limits: each limit holds at its edge and names the place past it."""

from __future__ import annotations

import orjson
import pytest

from services.common.bounded_json import JsonLimits, parse_json
from services.common.problems import BodyTooComplex, ValidationFailed

LIMITS = JsonLimits(depth=4, keys=3, values=10, string_chars=5, key_chars=4)


def refused(value: object) -> str:
    with pytest.raises(BodyTooComplex) as caught:
        parse_json(orjson.dumps(value), LIMITS)
    errors = caught.value.extra["errors"]
    return f"{errors[0]['field']}: {errors[0]['message']}"


def test_values_at_every_limit_pass() -> None:
    value = {"a": [[["12345"]]], "b": 2**63 - 1, "c": -(2**63) + 1}
    assert parse_json(orjson.dumps(value), LIMITS) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"a": [[[[1]]]]}, "a.0.0.0: nested deeper than 4 levels"),
        ({"a": 1, "b": 2, "c": 3, "d": 4}, "(body): an object with more than 3 keys"),
        ([[1, 2, 3], [4, 5, 6], [7, 8]], "0: more than 10 values in all"),
        ({"a": ["x", "123456"]}, "a.1: a string longer than 5 characters"),
        ({"abcde": 1}, "(body): a key longer than 4 characters"),
        ({"a": [2**63]}, "a.0: a number beyond 64 bits"),
        ({"a": -1e30}, "a: a number beyond 64 bits"),
        ("123456", "(body): a string longer than 5 characters"),
    ],
)
def test_past_a_limit_is_refused_naming_the_place(value: object, reason: str) -> None:
    assert refused(value) == reason


def test_too_many_separators_are_refused_before_parsing() -> None:
    with pytest.raises(BodyTooComplex, match="more than 10 values"):
        parse_json(b'{"a": "' + b"," * 10 + b'"}', LIMITS)


@pytest.mark.parametrize("raw", [b"{nope", b"[" * 2_000 + b"]" * 2_000, b"1" * 5_000, b'"\\ud800"', b"NaN", b"\xff"])
def test_what_is_not_json_or_beyond_the_parser_is_a_422(raw: bytes) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_json(raw)
    assert caught.value.status == 422
