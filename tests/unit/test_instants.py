"""Instants on the wire (issue 15, item 8): ISO 8601 with an offset in every answer,
ISO 8601 or Unix seconds in requests, and one naming rule that says which fields are
instants, held against every service's OpenAPI document."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

from cluster.config import SERVICES
from services.common.answers import JSONResponse
from services.common.instants import Instant, is_instant_key, iso, render, unix
from tests.unit.test_openapi_schemas import document


def test_answers_render_instants_as_iso_8601_with_an_offset() -> None:
    answer = {
        "created_at": 1_800_000_000,
        "items": [{"joined_at": 1_800_000_000.25, "position": 1, "at": 0}],
        "drop_deadline": None,
        "opens_at": "2027-01-15T09:00:00+01:00",  # already rendered (in a term's zone): kept
        "seconds_to_open": 12.5,
        "flag_at": True,  # not a number: left as it is
    }
    assert render(answer) == {
        "created_at": "2027-01-15T08:00:00+00:00",
        "items": [{"joined_at": "2027-01-15T08:00:00.250+00:00", "position": 1, "at": "1970-01-01T00:00:00+00:00"}],
        "drop_deadline": None,
        "opens_at": "2027-01-15T09:00:00+01:00",
        "seconds_to_open": 12.5,
        "flag_at": True,
    }
    assert JSONResponse({"updated_at": 1_800_000_000}).body == b'{"updated_at":"2027-01-15T08:00:00+00:00"}'


def test_every_rendered_instant_reads_back_as_the_same_instant() -> None:
    for value in (0, 1_800_000_000, 1_800_000_000.125, 1_764_614_400.5):
        assert unix(iso(value)) == pytest.approx(value, abs=1e-3)
        assert dt.datetime.fromisoformat(iso(value)).utcoffset() == dt.timedelta(0)


def test_requests_give_instants_as_iso_8601_with_an_offset_or_as_unix_seconds() -> None:
    class Body(pydantic.BaseModel):
        opens_at: Instant

    for given in ("2027-01-15T09:00:00+01:00", "2027-01-15T08:00:00Z", 1_800_000_000, 1_800_000_000.0):
        assert Body.model_validate({"opens_at": given}).opens_at == 1_800_000_000.0
    for bad, reason in (
        ("2027-01-15T09:00:00", "no offset"),
        ("next tuesday", "not ISO 8601"),
        (True, "ISO 8601 with an offset, or Unix seconds"),
        ([1], "ISO 8601 with an offset, or Unix seconds"),
    ):
        with pytest.raises(pydantic.ValidationError, match=reason):
            Body.model_validate({"opens_at": bad})
    schema = Body.model_json_schema()["properties"]["opens_at"]
    assert {"type": "string", "format": "date-time"} in schema["anyOf"]


def _properties(node: Any, at: str = "") -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, property name, its schema) of every object property anywhere in `node`."""
    if isinstance(node, dict):
        for name, schema in (node.get("properties") or {}).items():
            if isinstance(schema, dict):
                yield at, name, schema
        for key, value in node.items():
            yield from _properties(value, f"{at}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _properties(value, f"{at}/{i}")


def _is_date_time(schema: dict[str, Any]) -> bool:
    return schema.get("format") == "date-time" or any(_is_date_time(s) for s in schema.get("anyOf", []))


@pytest.mark.parametrize("service", SERVICES)
def test_every_documented_instant_follows_the_naming_rule(service: str, tmp_path: Path) -> None:
    """A field named as an instant is documented as ISO 8601, and a date-time field is
    named as an instant: the answers' renderer goes by the name, so the two must agree."""
    spec = document(service, tmp_path)
    wrong = [
        (where, name)
        for where, name, schema in _properties(spec)
        if is_instant_key(name) != _is_date_time(schema) and "$ref" not in schema and "items" not in schema
    ]
    assert wrong == []
