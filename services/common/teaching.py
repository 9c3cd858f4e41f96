"""Request bodies shared by the teacher service and the course_data ledger it calls."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.common.directory import PersonRef


class PermitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    student_id: PersonRef = Field(description="the student's id, student number or username")
    capacity: bool = Field(default=True, description="may enroll past capacity")
    prerequisites: bool = Field(default=False, description="may skip prerequisites")
    consent: bool = Field(default=False, description="the teacher consents (an instructor-consent course)")


class Removal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


TEACHING_MODELS: dict[str, type[BaseModel]] = {"PermitIn": PermitIn, "Removal": Removal}
