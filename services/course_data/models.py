"""Request bodies of the course_data service."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.course_models import CODE as CODE
from services.common.course_models import COURSE_MODELS
from services.common.course_models import CourseIn as CourseIn
from services.common.course_models import CoursePatch as CoursePatch
from services.common.course_models import MeetingIn as MeetingIn
from services.common.course_models import minutes as minutes
from services.common.directory import PersonRef
from services.common.enrollment_contract import (
    BatchAnswer,
    LedgerBatch,
    LedgerDecision,
    LedgerGroupRequest,
    LedgerRequest,
)
from services.common.instants import Instant


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


GROUP = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"  # a program or priority group code


class WindowIn(_Body):
    """A window's audience is one student (a time ticket), a priority group, a cohort, or
    everyone (none of them): at most one is given. The most specific applies."""

    cohort: int | None = Field(default=None, ge=1900, le=2200, description="null: every cohort")
    student_id: PersonRef | None = Field(
        default=None, description="a time ticket: this student's own window (id, student number or username)"
    )
    priority_group: str | None = Field(
        default=None, pattern=GROUP, description="the window of the students of this priority group"
    )
    opens_at: Instant
    closes_at: Instant
    drop_deadline: Instant

    @model_validator(mode="after")
    def _ordered(self) -> WindowIn:
        if not self.opens_at < self.closes_at <= self.drop_deadline:
            raise ValueError("need opens_at < closes_at <= drop_deadline")
        if sum(x is not None for x in (self.cohort, self.student_id, self.priority_group)) > 1:
            raise ValueError("a window is for one audience: a student, a priority group or a cohort (or everyone)")
        return self


class WindowsIn(_Body):
    windows: list[WindowIn] = Field(max_length=100)


class HoldIn(_Body):
    student_id: PersonRef = Field(description="the student's id, student number or username")
    reason: str = Field(min_length=1, max_length=500)


MODELS: dict[str, type[BaseModel]] = {
    **COURSE_MODELS,
    "WindowsIn": WindowsIn,
    "HoldIn": HoldIn,
    "LedgerRequest": LedgerRequest,
    "LedgerGroupRequest": LedgerGroupRequest,
    "LedgerBatch": LedgerBatch,
    "Decision": LedgerDecision,
    "BatchAnswer": BatchAnswer,
}
