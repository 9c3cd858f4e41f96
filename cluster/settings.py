"""The cluster-wide settings of the seed: security, course rules, queue, notifications.

They live in the Raft-replicated state, so every node sees the same values. A change is
a JSON merge patch, validated as a whole before it is proposed: a bad value is refused
with the key that is wrong, and nothing changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from limits import parse_many
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["student", "teacher", "admin", "super_admin"]
Action = Literal["drop", "swap", "enroll"]
ROLES: tuple[Role, ...] = ("student", "teacher", "admin", "super_admin")
_DEFAULT_PRIORITIES: dict[Action, int] = {"drop": 0, "swap": 1, "enroll": 2}
SECRET_KEYS = {("notifications", "smtp_password"), ("notifications", "sms_webhook_token")}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _rate_limits(value: str) -> str:
    try:
        parse_many(value)
    except ValueError:
        raise ValueError("must be rate limits like '20 per minute; 100 per hour'") from None
    return value


class SecuritySettings(_Section):
    password_min_length: int = Field(8, ge=8, le=64)
    password_max_length: int = Field(64, ge=64, le=72, description="characters; bcrypt's limit is 72 bytes")
    reject_common_passwords: bool = True
    bcrypt_rounds: int = Field(12, ge=10, le=15)
    access_token_minutes: int = Field(15, ge=1, le=60)
    session_idle_minutes: int = Field(30, ge=5, le=24 * 60)
    session_absolute_hours: int = Field(12, ge=1, le=30 * 24)
    throttle_after_failures: int = Field(3, ge=1, le=50, description="failures before delays start growing")
    lockout_threshold: int = Field(10, ge=3, le=100)
    lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    address_failure_limits: str = "30 per minute; 200 per hour"
    require_2fa_roles: list[Role] = Field(default_factory=list)

    _check_limits = field_validator("address_failure_limits")(_rate_limits)

    @model_validator(mode="after")
    def _lockout_after_throttle(self) -> SecuritySettings:
        if self.lockout_threshold <= self.throttle_after_failures:
            raise ValueError("lockout_threshold must exceed throttle_after_failures")
        return self


class CourseSettings(_Section):
    max_credits: int = Field(24, ge=1, le=60)
    max_courses: int = Field(8, ge=1, le=30)
    conflict_checking: bool = True
    prerequisite_checking: bool = True
    waitlist_enabled: bool = True
    waitlist_max_length: int = Field(50, ge=0, le=10_000)
    catalogue_cache_seconds: float = Field(
        1.0, ge=0, le=60, description="how long a node may answer a catalogue page from memory (0: never)"
    )
    term_start: dt.date | None = None
    term_end: dt.date | None = None

    @model_validator(mode="after")
    def _term_order(self) -> CourseSettings:
        if self.term_start and self.term_end and self.term_end <= self.term_start:
            raise ValueError("term_end must be after term_start")
        return self


class QueueSettings(_Section):
    enabled: bool = False
    priorities: dict[Action, int] = Field(default_factory=lambda: _DEFAULT_PRIORITIES.copy(), description="lower first")
    max_retries: int = Field(3, ge=0, le=20)
    decision_timeout_seconds: float = Field(30, gt=0, le=3600)
    batch_size: int = Field(500, ge=1, le=10_000)
    student_rate_limit: str = "30 per minute"
    max_open_requests: int = Field(
        10, ge=0, le=1000, description="requests a student may have waiting for a decision at once (0: no cap)"
    )
    full_course_cache_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="a course the ledger reports full (seats and waitlist) refuses enrollments at admission "
        "this long, unless a drop or swap out of it waits; 0: every enrollment is queued",
    )

    _check_limits = field_validator("student_rate_limit")(_rate_limits)

    @field_validator("priorities")
    @classmethod
    def _three_levels(cls, value: dict[Action, int]) -> dict[Action, int]:
        if any(not 0 <= p <= 2 for p in value.values()):
            raise ValueError("priorities are 0 (first), 1 or 2")
        return value


class NotificationSettings(_Section):
    email_enabled: bool = False
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_username: str = ""
    smtp_password: str = ""
    email_from: str = "registrar@university.invalid"
    sms_enabled: bool = False
    sms_webhook_url: str = ""
    sms_webhook_token: str = ""
    max_attempts: int = Field(8, ge=1, le=50, description="deliveries tried before a message is marked failed")
    retry_base_seconds: float = Field(5, ge=0.05, le=3600, description="first retry delay; doubles each time")
    retry_max_seconds: float = Field(900, ge=1, le=86_400)

    @model_validator(mode="after")
    def _configured_when_enabled(self) -> NotificationSettings:
        if self.email_enabled and not self.smtp_host:
            raise ValueError("smtp_host is required when email_enabled")
        if self.sms_enabled and not self.sms_webhook_url.startswith(("http://", "https://")):
            raise ValueError("sms_webhook_url (http or https) is required when sms_enabled")
        return self


class Settings(_Section):
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    course: CourseSettings = Field(default_factory=CourseSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)


def merge_patch(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch: objects merge, null removes (back to the default)."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = value if not isinstance(value, Mapping) else merge_patch({}, value)
    return merged


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as JSON, with secrets replaced by whether they are set."""
    data = settings.model_dump(mode="json")
    for section, key in SECRET_KEYS:
        data[section][key] = "********" if data[section][key] else ""
    return data
