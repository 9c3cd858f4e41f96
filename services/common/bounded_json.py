"""JSON bodies parsed within limits, so no request costs more than its size allows.

A body is parsed by `orjson` (linear in its size, about ten times faster than the
standard library's parser; it refuses nesting past 1,024 levels, integers past 64 bits
and numbers that overflow a double), then walked once against `JsonLimits`: nesting
depth, keys per object, values in all, string and key length, and numbers within
64 bits (every integer column of the databases takes them). The walk stops at the first
limit passed, so its cost is bounded by the limits, not by the body; and a model never
sees 60,000 keys, so its error list stays short too (see `ValidationFailed`).
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
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(
            f"the body is not valid JSON: {exc}", errors=[{"field": "", "message": "malformed JSON"}]
        ) from None
    check_limits(value, limits)
    return value


def check_limits(root: Any, limits: JsonLimits) -> None:
    """Raise `BodyTooComplex` at the first limit `root` passes."""
    counted = 0
    pending: list[tuple[Any, int, str]] = [(root, 0, "")]
    while pending:
        value, depth, path = pending.pop()
        if isinstance(value, str):
            if len(value) > limits.string_chars:
                _refuse(path, f"a string longer than {limits.string_chars} characters")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int | float):
            if not -_INT64 <= value <= _INT64:
                _refuse(path, "a number beyond 64 bits")
        else:
            if depth >= limits.depth:
                _refuse(path, f"nested deeper than {limits.depth} levels")
            if isinstance(value, dict) and len(value) > limits.keys:
                _refuse(path, f"an object with more than {limits.keys} keys")
            counted += len(value)
            if counted > limits.values:
                _refuse(path, f"more than {limits.values} values in all")
            prefix = f"{path}." if path else ""
            if isinstance(value, dict):
                for key, item in value.items():
                    if len(key) > limits.key_chars:
                        _refuse(path, f"a key longer than {limits.key_chars} characters")
                    pending.append((item, depth + 1, prefix + key))
            else:
                pending.extend((item, depth + 1, f"{prefix}{index}") for index, item in enumerate(value))


def _refuse(path: str, message: str) -> None:
    field = path or "(body)"
    raise BodyTooComplex(f"{field}: {message}", errors=[{"field": field, "message": message}])
