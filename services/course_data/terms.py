"""Terms: what a course belongs to, and what "the current term" is where a request names none.

A term has dates (`starts_on`..`ends_on`, whole days), an IANA time zone (the timetable's
and the dates' own), registration windows and a drop deadline. Exactly one term is
current: the one an admin marked so (`PATCH /terms/{id}` with `current: true`); the
default term migration 104 made is current until then. Every route that reads or writes
courses or windows without naming a term means the current one, so clients from before
terms keep working. The default term has no dates until an admin sets them: the settings'
`course.term_start` and `course.term_end` stand in for them.

Times in answers are ISO 8601 with the term's offset; requests may send ISO 8601 (with an
offset) or Unix seconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from cluster.settings import CourseSettings
from services.common.body import Absent, omit_null_defaults, refuse_null
from services.common.instants import Instant
from services.common.pagination import whole_number
from services.common.problems import NotFound, ValidationFailed
from storage.schemas.course_data import terms

TERM_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"
EVERY_TERM = "all"  # `?term=all`: every term (the windows the queue applies, a catalogue across terms)


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _timezone(value: str) -> str:
    if value not in available_timezones():
        raise ValueError("an IANA time zone name, e.g. Europe/Berlin")
    try:
        zone(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("an IANA time zone name, e.g. Europe/Berlin") from None
    return value


def _code(value: str | None) -> str | None:
    """A code is not `all` (the filter of every term) nor digits alone (a term's id)."""
    if value is not None and (value.lower() == EVERY_TERM or value.isdigit()):
        raise ValueError("a term code is not 'all' nor digits alone (those name every term, or an id)")
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TermIn(_Body):
    code: str = Field(pattern=TERM_CODE, examples=["2026-fall"])
    name: str = Field(default="", max_length=200)
    starts_on: dt.date = Field(description="first day (YYYY-MM-DD)")
    ends_on: dt.date = Field(description="last day (YYYY-MM-DD)")
    timezone: str = Field(default="UTC", max_length=64, description="IANA name, e.g. Europe/Berlin")
    drop_deadline: Instant | None = Field(default=None, description="null: the windows' deadlines alone")
    current: bool = Field(default=False, description="make it the current term")

    _zone = field_validator("timezone")(_timezone)
    _not_a_filter = field_validator("code")(_code)

    @model_validator(mode="after")
    def _ordered(self) -> TermIn:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self


class TermPatch(_Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra=omit_null_defaults)

    code: str | Absent = Field(default=None, pattern=TERM_CODE)
    name: str | Absent = Field(default=None, max_length=200)
    starts_on: dt.date | Absent = None
    ends_on: dt.date | Absent = None
    timezone: str | Absent = Field(default=None, max_length=64)
    drop_deadline: Instant | None = Field(default=None, description="null: none")
    current: bool | Absent = Field(default=None, description="true: make it the current term")

    _no_null = refuse_null("code", "name", "starts_on", "ends_on", "timezone", "current")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _timezone(value)

    @field_validator("current")
    @classmethod
    def _only_true(cls, value: bool | None) -> bool | None:
        if value is False:
            raise ValueError("mark another term current instead (one term is always current)")
        return value

    _not_a_filter = field_validator("code")(_code)


class CopyIn(_Body):
    to_term: str | int = Field(description="the term to copy into: its code or id", examples=["2027-spring"])


TERM_MODELS: dict[str, type[BaseModel]] = {"TermIn": TermIn, "TermPatch": TermPatch, "CopyIn": CopyIn}


def iso(at: float | None, tz: ZoneInfo) -> str | None:
    return None if at is None else dt.datetime.fromtimestamp(at, tz).isoformat()


def dates_of(row: Row[Any], rules: CourseSettings) -> tuple[dt.date | None, dt.date | None]:
    """A term's first and last day (the settings' term_start/term_end where it has none)."""
    return row.starts_on or rules.term_start, row.ends_on or rules.term_end


def term_json(row: Row[Any], rules: CourseSettings) -> dict[str, Any]:
    tz = zone(row.timezone)
    first, last = dates_of(row, rules)
    starts_at = None if first is None else dt.datetime.combine(first, dt.time(), tz).isoformat()
    ends_at = None if last is None else dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz).isoformat()
    return {
        "id": row.id,
        "code": row.code,
        "name": row.name,
        "starts_on": None if first is None else first.isoformat(),
        "ends_on": None if last is None else last.isoformat(),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "dates_from_settings": row.starts_on is None or row.ends_on is None,
        "timezone": row.timezone,
        "drop_deadline": iso(row.drop_deadline, tz),
        "current": bool(row.is_current),
        "created_at": iso(row.created_at, tz),
        "updated_at": iso(row.updated_at, tz),
    }


async def current_term(conn: AsyncConnection) -> Row[Any]:
    """The current term (exactly one; the lowest id should a write ever have left none marked)."""
    query = select(terms).order_by(terms.c.is_current.desc(), terms.c.id).limit(1)
    row = (await conn.execute(query)).first()
    if row is None:  # (migration 104 makes the default term)
        raise RuntimeError("no term: course_data's migrations have not run")
    return row


async def find_term(conn: AsyncConnection, ref: str | int) -> Row[Any] | None:
    """The term `ref` names: its code, or its id."""
    query = select(terms).where(terms.c.code == str(ref))
    if (row := (await conn.execute(query)).first()) is not None:
        return row
    number = ref if isinstance(ref, int) else whole_number(ref)
    return None if number is None else (await conn.execute(select(terms).where(terms.c.id == number))).first()


async def term_named(conn: AsyncConnection, ref: str | int | None, field: str = "term") -> Row[Any]:
    """The term a request names in `field` (none: the current term); 422 naming the field if none has it."""
    if ref is None or ref == "":
        return await current_term(conn)
    row = await find_term(conn, ref)
    if row is None:
        reason = f"no term {ref!r}"
        raise ValidationFailed(f"{field}: {reason}", errors=[{"field": field, "message": reason}])
    return row


async def term_by_id(conn: AsyncConnection, term_id: int) -> Row[Any]:
    row = (await conn.execute(select(terms).where(terms.c.id == term_id))).first()
    if row is None:
        raise NotFound(f"no term {term_id}")
    return row


async def term_filter(conn: AsyncConnection, ref: str | None) -> int | None:
    """The term id a `?term=` filter names (None: `all`, every term; absent: the current term)."""
    if ref == EVERY_TERM:
        return None
    return int((await term_named(conn, ref)).id)
