"""A course's request bodies: the catalogue's (course_data) and a teacher's own (the teacher
service relays them to course_data, and documents the same schemas)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.common.body import Absent, omit_null_defaults, refuse_null
from services.common.directory import PersonRef

CODE = r"^[A-Za-z0-9-]{2,32}$"
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
SECTION = r"^[A-Za-z0-9-]{0,16}$"  # a section's name in its offering ("" for a single section)
KIND = r"^[a-z][a-z-]{1,15}$"  # lecture, lab, tutorial, seminar...


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeetingIn(_Body):
    weekday: int = Field(ge=0, le=6, description="0 Monday .. 6 Sunday")
    start: str = Field(pattern=HHMM, examples=["09:00"])
    end: str = Field(pattern=HHMM, examples=["10:30"])

    @model_validator(mode="after")
    def _ordered(self) -> MeetingIn:
        if minutes(self.end) <= minutes(self.start):
            raise ValueError("end must be after start")
        return self


GROUP = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"  # a program code


class Restrictions(_Body):
    """Who may take a course: per kind, the values allowed; an empty list allows anyone."""

    program: list[str] = Field(default_factory=list, max_length=50, description="program codes")
    year: list[int] = Field(default_factory=list, max_length=20, description="years of study")
    cohort: list[int] = Field(default_factory=list, max_length=50, description="cohorts (year of entry)")

    @field_validator("program")
    @classmethod
    def _programs(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not re.match(GROUP, p)]
        if bad:
            raise ValueError(f"not program codes: {', '.join(bad)}")
        return sorted(set(value))

    def rows(self) -> list[tuple[str, str]]:
        """(kind, value) rows of `course_restrictions`."""
        return [("program", p) for p in self.program] + [
            (kind, str(v)) for kind in ("year", "cohort") for v in sorted(set(getattr(self, kind)))
        ]


def _course_codes(value: list[str]) -> list[str]:
    bad = [code for code in value if not re.match(CODE, code)]
    if bad:
        raise ValueError(f"not course codes: {', '.join(bad)}")
    return sorted(set(value))


class CourseIn(_Body):
    term: str | None = Field(default=None, max_length=32, description="the term's code or id; null: the current term")
    code: str = Field(pattern=CODE, description="unique within its term (with its section)")
    section: str = Field(
        default="", pattern=SECTION, description='the section\'s name in its offering (e.g. "L01"); "" for one section'
    )
    kind: str = Field(
        default="lecture",
        pattern=KIND,
        description="lecture, lab, tutorial...: an offering with several kinds is taken one section of each",
    )
    linked_to: int | None = Field(
        default=None, ge=1, description="the section (of the same offering) this one is taken only with"
    )
    title: str = Field(min_length=1, max_length=200)
    department: str = Field(default="", max_length=100)
    teacher_id: PersonRef | None = Field(default=None, description="the teacher's id or username")
    teacher_name: str = Field(default="", max_length=200)
    credits: int = Field(ge=0, le=30)
    capacity: int = Field(ge=0, le=100_000)
    meetings: list[MeetingIn] = Field(default_factory=list, max_length=20)
    prerequisites: list[str] = Field(default_factory=list, max_length=20)
    corequisites: list[str] = Field(
        default_factory=list, max_length=20, description="codes taken the same term: enrolled in, or completed"
    )
    restrictions: Restrictions = Field(default_factory=Restrictions, description="who may take it (empty: anyone)")
    consent_required: bool = Field(default=False, description="students need a consent permit from the teacher")
    location: str = Field(default="", max_length=100)
    description: str = Field(default="", max_length=5000)

    @field_validator("prerequisites", "corequisites")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        return _course_codes(value)


class CoursePatch(_Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra=omit_null_defaults)

    section: str | Absent = Field(
        default=None, pattern=SECTION, description="its name in its offering: unique there (409 otherwise)"
    )
    kind: str | Absent = Field(
        default=None, pattern=KIND, description="lecture, lab, tutorial...; refused (409) if a held group would break"
    )
    linked_to: int | None = Field(
        default=None,
        ge=1,
        description="the section of its offering, of another kind, it is taken only with; null: none. Refused"
        " (409) while students hold it with another section",
    )
    title: str | Absent = Field(default=None, min_length=1, max_length=200)
    department: str | Absent = Field(default=None, max_length=100)
    teacher_id: PersonRef | None = Field(default=None, description="the teacher's id or username; null: no teacher")
    teacher_name: str | Absent = Field(default=None, max_length=200)
    credits: int | Absent = Field(default=None, ge=0, le=30)
    capacity: int | Absent = Field(default=None, ge=0, le=100_000)
    meetings: list[MeetingIn] | Absent = Field(default=None, max_length=20)
    prerequisites: list[str] | Absent = Field(default=None, max_length=20)
    corequisites: list[str] | Absent = Field(default=None, max_length=20)
    restrictions: Restrictions | Absent = None
    consent_required: bool | Absent = None
    location: str | Absent = Field(default=None, max_length=100)
    description: str | Absent = Field(default=None, max_length=5000)

    @field_validator("prerequisites", "corequisites")
    @classmethod
    def _codes(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _course_codes(value)

    _no_null = refuse_null(
        "section",
        "kind",
        "title",
        "department",
        "teacher_name",
        "credits",
        "capacity",
        "meetings",
        "prerequisites",
        "corequisites",
        "restrictions",
        "consent_required",
        "location",
        "description",
    )


COURSE_MODELS: dict[str, type[BaseModel]] = {"CourseIn": CourseIn, "CoursePatch": CoursePatch}  # (+ Restrictions)
# CoursePatch's fields that change an offering's shape (checked against held groups).
SECTION_FIELDS = {"section", "kind", "linked_to"}
# CourseIn's fields kept in their own tables, not in `courses`' row.
DETAIL_FIELDS = {"meetings", "prerequisites", "corequisites", "restrictions", "consent_required"}
