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
from services.common.enrollment_contract import BatchAnswer, LedgerBatch, LedgerDecision, LedgerRequest


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


MODELS: dict[str, type[BaseModel]] = {
    **COURSE_MODELS,
    "WindowsIn": WindowsIn,
    "HoldIn": HoldIn,
    "LedgerRequest": LedgerRequest,
    "LedgerBatch": LedgerBatch,
    "Decision": LedgerDecision,
    "BatchAnswer": BatchAnswer,
}
