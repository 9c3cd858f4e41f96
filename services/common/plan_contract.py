"""The plan (cart) contract: a student's saved plan as the student service takes it, as
course_data stores and checks it, and as the queue admits it at opening.

A plan is a list of items in the student's order of preference; each item is a course and
its alternatives, also in order: at opening each item becomes one queued request, and
when the ledger refuses it its next alternative is queued in its place (`services.queue`).
Items are courses; `section_id` is left for sections (always null until they exist).
The caps are settings (`course.plan_max_items`, `course.plan_max_alternatives`), checked
where the plan is stored, with the rest of what needs the catalogue (unknown courses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.problems import Conflict

HARD_MAX_ITEMS = 100  # the model's bound; the setting is at most this
HARD_MAX_ALTERNATIVES = 20


class PlanEmpty(Conflict):
    slug, title = "plan-empty", "No plan is saved"


PlanOutcome = Literal["enrolled", "waitlisted", "refused"]
# The ledger's outcome of an enrollment, in the plan's words.
PLAN_OUTCOMES: dict[str, PlanOutcome] = {"accepted": "enrolled", "waitlisted": "waitlisted", "rejected": "refused"}


class PlanItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    course_id: int = Field(ge=1, description="the course wanted")
    alternatives: list[int] = Field(
        default_factory=list,
        max_length=HARD_MAX_ALTERNATIVES,
        description="course ids tried in this order when the ledger refuses the one before",
        json_schema_extra={"items": {"type": "integer", "minimum": 1}},
    )
    section_id: None = Field(default=None, description="reserved for sections (null until they exist)")


class PlanIn(BaseModel):
    """`PUT /student/plan`: the whole plan, replacing the one saved."""

    model_config = ConfigDict(extra="forbid")
    items: list[PlanItemIn] = Field(max_length=HARD_MAX_ITEMS, description="in order of preference")


class StudentPlan(BaseModel):
    """A plan submitted for a student by the student service (`POST /internal/queue/plans`):
    without `items` (the student service's way), the student's saved plan, which the queue
    reads from course_data (`services/queue/plans.py`)."""

    model_config = ConfigDict(extra="forbid")
    student_id: int = Field(ge=1)
    cohort: int | None = None
    program: str | None = Field(default=None, max_length=32, description="the student's program (restrictions)")
    year: int | None = Field(default=None, ge=1, le=20, description="the student's year of study")
    priority_group: str | None = Field(default=None, max_length=32, description="the student's priority group")
    actor: str = Field(default="", max_length=64)
    idempotency_key: str = Field(min_length=1, max_length=128)
    items: list[PlanItemIn] | None = Field(
        default=None, min_length=1, max_length=HARD_MAX_ITEMS, description="absent: the student's saved plan"
    )


READ_MAX = 500  # students per `POST /internal/plans/read`


class PlansToRead(BaseModel):
    """`POST /internal/plans/read` (course_data): whose saved plans, for the queue to admit them."""

    model_config = ConfigDict(extra="forbid")
    student_ids: list[int] = Field(max_length=READ_MAX, json_schema_extra={"items": {"type": "integer", "minimum": 1}})


def plan_errors(items: Sequence[PlanItemIn], max_items: int, max_alternatives: int) -> list[dict[str, str]]:
    """What is wrong with a plan, field by field (`items.1.alternatives.0`), the catalogue aside:
    too many items or alternatives, a bad course id, a course named twice anywhere in the plan."""
    errors: list[dict[str, str]] = []
    if len(items) > max_items:
        errors.append({"field": "items", "message": f"at most {max_items} items (course.plan_max_items)"})
    seen: dict[int, str] = {}
    for i, item in enumerate(items):
        if len(item.alternatives) > max_alternatives:
            message = f"at most {max_alternatives} alternatives (course.plan_max_alternatives)"
            errors.append({"field": f"items.{i}.alternatives", "message": message})
        named = [(f"items.{i}.course_id", item.course_id)]
        named += [(f"items.{i}.alternatives.{j}", c) for j, c in enumerate(item.alternatives)]
        for field, course_id in named:
            if course_id < 1:
                errors.append({"field": field, "message": "a course id"})
            elif course_id in seen:
                errors.append(
                    {"field": field, "message": f"course {course_id} is already in the plan ({seen[course_id]})"}
                )
            else:
                seen[course_id] = field
    return errors


def courses_of(items: Sequence[PlanItemIn]) -> list[int]:
    """Every course the plan names, in order."""
    return [c for item in items for c in (item.course_id, *item.alternatives)]
