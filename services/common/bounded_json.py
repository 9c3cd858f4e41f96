"""JSON bodies parsed within limits, so no request costs more than its size allows.

A body is parsed by `orjson` (linear in its size, about ten times faster than the
standard library's parser; it refuses nesting past 1,024 levels, integers past 64 bits
and numbers that overflow a double), then walked once against `JsonLimits`: nesting
depth, keys per object, values in all, string and key length, and numbers within
64 bits (every integer column of the databases takes them). A body with more separators
(`,` and `:`) than values allowed is refused before parsing; the walk stops at the first
limit passed: the cost is bounded by the limits, not by the body (about 2 ms at most
here, against ~14 ms to parse 60,000 keys), and a model never sees 60,000 keys, so its
error list stays short too (see `ValidationFailed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from services.common.problems import BodyTooComplex, ValidationFailed

_INT64 = 2**63 - 1


@dataclass(frozen=True)
class JsonLimits:
    depth: int = 32
    keys: int = 1_000  # per object
    values: int = 10_000  # in all: every array item and object member
    string_chars: int = 100_000
    key_chars: int = 200


JSON_LIMITS = JsonLimits()
# For internal bulk bodies (the queue's batches to the ledger), sent with an internal token.
BULK_JSON_LIMITS = JsonLimits(values=250_000)


def parse_json(raw: bytes, limits: JsonLimits = JSON_LIMITS) -> Any:
    """The body's JSON value: 422 `validation-error` if it is not JSON, 422 `body-too-complex`
    naming the place and the limit if it passes one."""
    if raw.count(b",") >= limits.values or raw.count(b":") > limits.values:
        # Building 60,000 keys costs even orjson ~15 ms: refused before parsing. Each member
        # or item past the first needs a separator (counting those in strings too: an upper bound).
        _refuse("", f"more than {limits.values} values in all")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(
            f"the body is not valid JSON: {exc}", errors=[{"field": "", "message": "malformed JSON"}]
        ) from None
    check_limits(value, limits)
    return value


def check_limits(root: Any, limits: JsonLimits) -> None:
    """Raise `BodyTooComplex` at the first limit `root` passes.

    Only containers are queued (with their path as a tuple, named only on a refusal);
    leaves are checked in the loop over their container, by exact type (orjson makes
    only dict, list, str, int, float, bool and None).
    """
    counted = 0
    pending: list[tuple[Any, int, tuple[object, ...]]] = []
    _check_value(root, limits, (), pending, 0)
    while pending:
        value, depth, path = pending.pop()
        if depth >= limits.depth:
            _refuse(_name(path), f"nested deeper than {limits.depth} levels")
        if type(value) is dict:
            if len(value) > limits.keys:
                _refuse(_name(path), f"an object with more than {limits.keys} keys")
            if value and max(map(len, value)) > limits.key_chars:
                _refuse(_name(path), f"a key longer than {limits.key_chars} characters")
            items: Any = value.items()
        else:
            items = enumerate(value)
        counted += len(value)
        if counted > limits.values:
            _refuse(_name(path), f"more than {limits.values} values in all")
        for key, item in items:
            kind = type(item)
            if kind is str:
                if len(item) > limits.string_chars:
                    _refuse(_name((*path, key)), f"a string longer than {limits.string_chars} characters")
            elif kind is int or kind is float:
                if not -_INT64 <= item <= _INT64:
                    _refuse(_name((*path, key)), "a number beyond 64 bits")
            elif kind is dict or kind is list:
                pending.append((item, depth + 1, (*path, key)))


def _check_value(
    value: Any,
    limits: JsonLimits,
    path: tuple[object, ...],
    pending: list[tuple[Any, int, tuple[object, ...]]],
    depth: int,
) -> None:
    """The top-level value: a container is queued, a leaf checked."""
    kind = type(value)
    if kind is dict or kind is list:
        pending.append((value, depth, path))
    elif kind is str and len(value) > limits.string_chars:
        _refuse("", f"a string longer than {limits.string_chars} characters")
    elif (kind is int or kind is float) and not -_INT64 <= value <= _INT64:
        _refuse("", "a number beyond 64 bits")


def _name(path: tuple[object, ...]) -> str:
    return ".".join(map(str, path))


def _refuse(path: str, message: str) -> None:
    field = path or "(body)"
    raise BodyTooComplex(f"{field}: {message}", errors=[{"field": field, "message": message}])
