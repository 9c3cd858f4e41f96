"""The cluster-wide settings of the seed: security, course rules, queue, notifications.

They live in the Raft-replicated state, so every node sees the same values. A change is
a JSON merge patch, validated as a whole before it is proposed: a bad value is refused
with the key that is wrong, and nothing changes.

Secret settings (`SECRET_KEYS`) never enter the replicated state, its log or its
snapshots in plain text: `SecretBox` seals them (AES-GCM, with a key derived from the
cluster secret kept in `secrets/`) before they are proposed, and each node opens them
when it parses its replica. The settings audit records a mask in their place, and every
read path (`masked`, `masked_patch`) shows only whether a secret is set.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from collections.abc import Mapping
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from limits import parse_many
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cluster.errors import SecretSealError
from cluster.secret_keys import MASK, SECRET_KEYS, masked_patch

__all__ = ["MASK", "SECRET_KEYS", "masked_patch"]  # (defined in cluster/secret_keys.py: the Raft agent needs them)

Role = Literal["student", "teacher", "admin", "super_admin"]
Action = Literal["drop", "swap", "enroll"]
ROLES: tuple[Role, ...] = ("student", "teacher", "admin", "super_admin")
_DEFAULT_PRIORITIES: dict[Action, int] = {"drop": 0, "swap": 1, "enroll": 2}
_SEALED = "sealed:v1:"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _rate_limits(value: str) -> str:
    try:
        parse_many(value)
    except ValueError:
        raise ValueError("must be rate limits like '20 per minute; 100 per hour'") from None
    return value


class SecuritySettings(_Section):
    password_min_length: int = Field(8, ge=8, le=64, description="characters")
    password_max_length: int = Field(64, ge=64, le=72, description="characters; bcrypt's limit is 72 bytes")
    reject_common_passwords: bool = Field(True, description="refuse the 30,000 most common passwords (zxcvbn's list)")
    bcrypt_rounds: int = Field(12, ge=10, le=15, description="cost of new password hashes (each +1 doubles it)")
    access_token_minutes: int = Field(15, ge=1, le=60, description="access token lifetime (never past its session)")
    session_idle_minutes: int = Field(30, ge=5, le=24 * 60, description="a session not refreshed this long ends")
    session_absolute_hours: int = Field(12, ge=1, le=30 * 24, description="a session ends this long after login")
    throttle_after_failures: int = Field(3, ge=1, le=50, description="failures before delays start growing")
    lockout_threshold: int = Field(10, ge=3, le=100, description="failures that lock the account name")
    lockout_minutes: int = Field(15, ge=1, le=24 * 60, description="how long a lock lasts (or until an admin unlocks)")
    account_failures_per_hour: int = Field(
        50,
        ge=5,
        le=1000,
        description="failed logins an account takes per hour from addresses it never logged in from "
        "(and as many from those it did): the bound on guesses, however many run at once",
    )
    address_failure_limits: str = Field(
        "30 per minute; 200 per hour", description="failed logins allowed per client address, in moving windows"
    )
    require_2fa_roles: list[Role] = Field(
        default_factory=list, description="roles that must set up TOTP before their tokens can do anything else"
    )

    _check_limits = field_validator("address_failure_limits")(_rate_limits)

    @model_validator(mode="after")
    def _lockout_after_throttle(self) -> SecuritySettings:
        if self.lockout_threshold <= self.throttle_after_failures:
            raise ValueError("lockout_threshold must exceed throttle_after_failures")
        return self


class CourseSettings(_Section):
    max_credits: int = Field(24, ge=1, le=60, description="credits a student may hold at once")
    max_courses: int = Field(8, ge=1, le=30, description="courses a student may hold at once")
    conflict_checking: bool = Field(True, description="refuse a course whose meetings overlap an enrolled one")
    prerequisite_checking: bool = Field(True, description="refuse a course whose prerequisites are not completed")
    waitlist_enabled: bool = Field(True, description="a full course puts students on its waitlist")
    waitlist_max_length: int = Field(50, ge=0, le=10_000, description="places on each waitlist")
    catalogue_cache_seconds: float = Field(
        1.0, ge=0, le=60, description="how long a node may answer a catalogue page from memory (0: never)"
    )
    plan_max_items: int = Field(8, ge=1, le=100, description="items a student's plan may hold")
    plan_max_alternatives: int = Field(3, ge=0, le=20, description="alternatives each plan item may name")
    term_start: dt.date | None = Field(
        None, description="first day (YYYY-MM-DD) of the default term while it has no dates of its own (/terms)"
    )
    term_end: dt.date | None = Field(None, description="last day (YYYY-MM-DD) of the default term, likewise")

    @model_validator(mode="after")
    def _term_order(self) -> CourseSettings:
        if self.term_start and self.term_end and self.term_end <= self.term_start:
            raise ValueError("term_end must be after term_start")
        return self


class QueueSettings(_Section):
    enabled: bool = Field(False, description="the student service sends enrollments through the queue")
    priorities: dict[Action, int] = Field(default_factory=lambda: _DEFAULT_PRIORITIES.copy(), description="lower first")
    max_retries: int = Field(3, ge=0, le=20, description="deliveries of a request the ledger failed on")
    decision_timeout_seconds: float = Field(
        30, gt=0, le=3600, description="a request not decided this long after admission ends rejected: timeout"
    )
    batch_size: int = Field(500, ge=1, le=10_000, description="requests the ledger decides in one transaction")
    student_rate_limit: str = Field("30 per minute", description="admissions allowed per student")
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
    email_enabled: bool = Field(False, description="deliver notifications by SMTP")
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_starttls: bool = Field(True, description="upgrade the SMTP connection with STARTTLS")
    smtp_username: str = ""
    smtp_password: str = ""
    email_from: str = Field("registrar@university.invalid", description="the From address")
    sms_enabled: bool = Field(False, description="deliver notifications to sms_webhook_url")
    sms_webhook_url: str = ""
    sms_webhook_token: str = ""
    max_attempts: int = Field(8, ge=1, le=50, description="deliveries tried before a message is marked failed")
    retry_base_seconds: float = Field(5, ge=0.05, le=3600, description="first retry delay; doubles each time")
    retry_max_seconds: float = Field(900, ge=1, le=86_400, description="longest retry delay")

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
        data[section][key] = MASK if data[section][key] else ""
    return data


class SecretBox:
    """Seals the secret settings with a key derived from the cluster secret (AES-GCM)."""

    def __init__(self, cluster_secret: str) -> None:
        key = hashlib.sha256(b"course-selection settings secrets\x00" + cluster_secret.encode()).digest()
        self._aead = AESGCM(key)

    def seal(self, value: str) -> str:
        if not value:
            return value
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), _SEALED.encode())
        return _SEALED + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, value: str) -> str:
        if not value.startswith(_SEALED):
            return value  # written before secrets were sealed: still readable (sealed at the next change)
        try:
            raw = base64.urlsafe_b64decode(value[len(_SEALED) :])
            return self._aead.decrypt(raw[:12], raw[12:], _SEALED.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise SecretSealError("a sealed setting does not open with this cluster's secret") from exc

    def _each_secret(self, data: Mapping[str, Any], change: Any) -> dict[str, Any]:
        out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
        for section, key in SECRET_KEYS:
            part = out.get(section)
            if isinstance(part, dict) and isinstance(part.get(key), str):
                part[key] = change(part[key])
        return out

    def seal_settings(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Stored settings (or a patch) with every secret sealed."""
        return self._each_secret(data, self.seal)

    def open_settings(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Stored settings with every secret opened (what the node validates and uses)."""
        return self._each_secret(data, self.open)
