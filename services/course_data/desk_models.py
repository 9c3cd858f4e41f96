"""Bodies and answers of the registrar's desk, rosters and exports (for validation and the spec)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.course_data.rules import OVERRIDES, Override


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _DeskBody(_Body):
    reason: str = Field(
        min_length=1, max_length=400, description="why the registrar acts; required, written in the audit record"
    )
    overrides: list[Override] = Field(
        default_factory=list,
        max_length=len(OVERRIDES),
        description="rules to skip for this action, each exactly its own: capacity (enroll past the seats, "
        "never onto the waitlist), prerequisites, time-conflict, credit-load (the credit and course-count "
        "limits), window (the registration window), drop-deadline, corequisites, restrictions (program, "
        "year, cohort), consent (instructor consent)",
    )

    @field_validator("reason")
    @classmethod
    def _said(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give a reason: it is written in the audit record")
        return value.strip()

    @field_validator("overrides")
    @classmethod
    def _once(cls, value: list[Override]) -> list[Override]:
        return sorted(set(value))


class DeskEnroll(_DeskBody):
    """One course, or a section group taken together (`section_ids`): exactly one of them."""

    course_id: int | None = Field(default=None, ge=1)
    section_ids: list[int] | None = Field(
        default=None, min_length=1, max_length=8, description="a section group: one section of each kind, together"
    )

    @model_validator(mode="after")
    def _one_of(self) -> DeskEnroll:
        if (self.course_id is None) == (self.section_ids is None):
            raise ValueError("course_id or section_ids: exactly one of them")
        return self


class DeskDrop(_DeskBody):
    course_id: int = Field(ge=1, description="the course to drop, or whose waitlist to leave")


class DeskSwap(_DeskBody):
    drop_course_id: int = Field(ge=1)
    add_course_id: int = Field(ge=1)


class PersonOut(BaseModel):
    id: int
    username: str
    full_name: str
    email: str
    student_number: str | None
    cohort: str | None


class DeskDecision(BaseModel):
    """What a desk action did: the ledger's decision, and what the registrar named."""

    student: PersonOut
    action: str = Field(description="enroll, drop or swap")
    course_id: int = Field(description="the course enrolled in or dropped; for a swap, the one added")
    drop_course_id: int | None = None
    outcome: str = Field(description="accepted or waitlisted (a refusal is a 409 problem with the rule's type)")
    reason: str = Field(description="the ledger's reason for the outcome")
    via_permit: bool = Field(description="enrolled past capacity (a permit or the capacity override)")
    overrides: list[str]
    desk_reason: str = Field(description="the registrar's reason, as audited")


class EnrollmentRow(BaseModel):
    course_id: int
    course_code: str
    section: str = Field(description='the section of its offering ("" for a course with one section)')
    course_title: str
    student_id: int
    student_number: str | None
    full_name: str
    email: str
    enrolled_at: str = Field(description="ISO 8601 with an offset (UTC)", json_schema_extra={"format": "date-time"})
    via_permit: bool


class EnrollmentExport(BaseModel):
    term: str | None = Field(description="the term's code; null: every term's enrollments")
    count: int
    items: list[EnrollmentRow] = Field(description="by course code, then order of enrollment")


class StudentPicture(BaseModel):
    student: PersonOut
    enrolled: list[dict[str, object]] = Field(description="courses, with enrolled_at and via_permit")
    waitlisted: list[dict[str, object]] = Field(description="courses, with position (1: next) and joined_at")
    holds: list[dict[str, object]] = Field(description="id, reason, created_by, created_at")
    completed: list[str] = Field(description="course codes")
    permits: list[dict[str, object]] = Field(description="course_id, capacity, prerequisites, consent, created_by")
    queue_requests: list[dict[str, object]] = Field(
        description="the requests of the rush the ledger decided for the student, newest first (request_id, "
        "action, course_id, drop_course_id, outcome, type, reason, decided_at)"
    )
    open_queue_requests: int | None = Field(
        description="requests still waiting in the queue, as the queue counts them (null if it cannot be asked)"
    )
    audit: list[dict[str, object]] = Field(description="the newest audit records about the student (up to 100)")


DESK_MODELS: dict[str, type[BaseModel]] = {
    "DeskEnroll": DeskEnroll,
    "DeskDrop": DeskDrop,
    "DeskSwap": DeskSwap,
    "DeskDecision": DeskDecision,
    "StudentPicture": StudentPicture,
    "EnrollmentExport": EnrollmentExport,
}
