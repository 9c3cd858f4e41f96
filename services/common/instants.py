"""Instants on the wire: ISO 8601 with an offset in every answer; either form in requests.

Inside the system an instant is a Unix time (seconds, a float): what the databases store,
what Redis scores and the Lua scripts compare, what the clocks give. At the HTTP edge it
is ISO 8601 with an offset (the RFC 3339 profile), in UTC: every JSON answer renders the
instants it carries that way (`render`, called by `services.common.answers` and by the
few routes that write their JSON bytes themselves), and every request body takes either
an ISO 8601 string with an offset or a number of Unix seconds (`Instant`).

Which fields are instants is a naming rule, kept here only: a key named `at`, ending in
`_at`, or one of `EXTRA_KEYS`. The OpenAPI schemas type those fields with `INSTANT`
(`services.common.spec_schemas`), and a unit test holds every schema to the rule, so a
field cannot be an instant in one place and a number in the other.

An answer's instant has whole seconds when its value has (`2027-01-15T09:00:00+00:00`),
and milliseconds otherwise: enough to order events, and still one fixed format per value.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

EXTRA_KEYS = frozenset({"at", "drop_deadline", "last_heartbeat"})


def is_instant_key(key: str) -> bool:
    return key.endswith("_at") or key in EXTRA_KEYS


def iso(unix: float) -> str:
    """`unix` as ISO 8601 in UTC with its offset (`+00:00`)."""
    moment = dt.datetime.fromtimestamp(unix, dt.UTC)
    return moment.isoformat(timespec="seconds" if float(unix).is_integer() else "milliseconds")


def render(value: Any) -> Any:
    """`value` (an answer's JSON: dicts, lists, scalars) with every instant field's number
    as ISO 8601. Strings (an instant already rendered, in a term's zone) and nulls stay.
    Only containers are walked into (every answer passes here, the rush's too)."""
    if isinstance(value, dict):
        return {k: _field(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v) if isinstance(v, _CONTAINERS) else v for v in value]
    return value


_CONTAINERS = (dict, list, tuple)


def _field(key: Any, value: Any) -> Any:
    if isinstance(value, _CONTAINERS):
        return render(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and isinstance(key, str) and is_instant_key(key):
        return iso(value)
    return value


def unix(value: Any) -> float:
    """An instant as a request (or a peer's answer) gives it: Unix seconds, or ISO 8601
    with an offset. A time without an offset is refused: it would name a different
    instant in every time zone."""
    if isinstance(value, bool):
        raise ValueError("an instant is ISO 8601 with an offset, or Unix seconds")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not ISO 8601: {value!r} (e.g. 2027-01-15T09:00:00+01:00)") from None
    else:
        raise ValueError("an instant is ISO 8601 with an offset, or Unix seconds")
    if moment.utcoffset() is None:
        raise ValueError(f"{value!s} has no offset: add one (e.g. +01:00 or Z), or give Unix seconds")
    return moment.timestamp()


def unix_or_none(value: Any) -> float | None:
    return None if value is None else unix(value)


# A request body's instant: either form in, a Unix float inside.
Instant = Annotated[
    float,
    BeforeValidator(unix),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
            "description": "ISO 8601 with an offset (e.g. 2027-01-15T09:00:00+01:00), or Unix seconds",
        }
    ),
]

# An answer model's instant (what `render` makes of it): documented as ISO 8601.
InstantText = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
