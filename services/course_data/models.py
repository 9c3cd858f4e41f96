"""Request bodies of the course_data service."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.course_models import CODE as CODE
from services.common.course_models import COURSE_MODELS
from services.common.course_models import CourseIn as CourseIn
from services.common.course_models import CoursePatch as CoursePatch
from services.common.course_models import MeetingIn as MeetingIn
from services.common.course_models import minutes as minutes
from services.common.directory import PersonRef


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowIn(_Body):
    cohort: int | None = Field(default=None, ge=1900, le=2200, description="null: every cohort")
    opens_at: float = Field(description="Unix time")
    closes_at: float
    drop_deadline: float

    @model_validator(mode="after")
    def _ordered(self) -> WindowIn:
        if not self.opens_at < self.closes_at <= self.drop_deadline:
            raise ValueError("need opens_at < closes_at <= drop_deadline")
        return self


class WindowsIn(_Body):
    windows: list[WindowIn] = Field(max_length=100)


class HoldIn(_Body):
    student_id: PersonRef = Field(description="the student's id, student number or username")
    reason: str = Field(min_length=1, max_length=500)


class LedgerRequest(_Body):
    """An enrollment change, as the student (or queue) service sends it to the ledger."""

    action: Literal["enroll", "drop", "swap"]
    student_id: int = Field(ge=1)
    cohort: int | None = None
    course_id: int = Field(ge=1, description="the course to enroll in or drop; for a swap, the one to add")
    drop_course_id: int | None = Field(default=None, ge=1, description="swap only: the course to give up")
    actor: str = Field(max_length=64)


class QueuedIn(_Body):
    """A request the queue admitted, as its master sends it to the ledger."""

    request_id: str = Field(min_length=8, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    action: Literal["enroll", "drop", "swap"]
    student_id: int = Field(ge=1)
    cohort: int | None = None
    course_id: int = Field(ge=1)
    drop_course_id: int | None = Field(default=None, ge=1)
    actor: str = Field(max_length=64)
    admitted_at: float = Field(description="Unix time the queue admitted it")


class LedgerBatch(_Body):
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="if given, a request not decided this long after admission is rejected; the queue sends "
        "none (a stall delays its decisions in order, it never times them out)",
    )
    requests: list[QueuedIn] = Field(min_length=1, max_length=10_000)


MODELS: dict[str, type[BaseModel]] = {
    **COURSE_MODELS,
    "WindowsIn": WindowsIn,
    "HoldIn": HoldIn,
    "LedgerRequest": LedgerRequest,
    "LedgerBatch": LedgerBatch,
}
