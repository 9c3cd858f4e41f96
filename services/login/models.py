"""Request bodies of the login service (unknown fields are refused)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cluster.settings import Role
from services.common.body import Absent, omit_null_defaults, refuse_null

USERNAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE = r"^\+?[0-9 ()-]{6,32}$"
STUDENT_NUMBER = r"^[A-Za-z0-9-]{1,32}$"
GROUP = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"  # a program or priority group code


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(max_length=1024)
    otp: str | None = Field(default=None, pattern=r"^\d{6}$")


class RefreshRequest(_Body):
    refresh_token: str = Field(min_length=10, max_length=200)


class PasswordChange(_Body):
    old_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class OtpSetup(_Body):
    password: str = Field(max_length=1024, description="your password: 2FA changes need it")


class OtpConfirm(_Body):
    code: str = Field(pattern=r"^\d{6}$")
    password: str = Field(max_length=1024, description="your password: 2FA changes need it")


class OtpDisable(_Body):
    password: str = Field(max_length=1024)
    code: str = Field(pattern=r"^\d{6}$", description="a current one-time code")


class Profile(_Body):
    full_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, pattern=EMAIL, max_length=254)
    phone: str | None = Field(default=None, pattern=PHONE, description="for SMS notifications")
    student_number: str | None = Field(default=None, pattern=STUDENT_NUMBER)
    cohort: int | None = Field(default=None, ge=1900, le=2200, description="year of entry")
    program: str | None = Field(default=None, pattern=GROUP, description="the program of study (restrictions)")
    year: int | None = Field(default=None, ge=1, le=20, description="the year of study (restrictions)")
    priority_group: str | None = Field(
        default=None, pattern=GROUP, description="the priority group whose registration window applies"
    )
    department: str | None = Field(default=None, max_length=100)


class UserCreate(Profile):
    username: str = Field(pattern=USERNAME)
    role: Role
    password: str | None = Field(default=None, max_length=1024, description="omit for a temporary one")
    must_change_password: bool = True


class UserUpdate(_Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra=omit_null_defaults)

    full_name: str | Absent = Field(default=None, max_length=200)
    email: str | None = Field(default=None, pattern=EMAIL, max_length=254)
    phone: str | None = Field(default=None, pattern=PHONE)
    student_number: str | None = Field(default=None, pattern=STUDENT_NUMBER)
    cohort: int | None = Field(default=None, ge=1900, le=2200)
    program: str | None = Field(default=None, pattern=GROUP)
    year: int | None = Field(default=None, ge=1, le=20)
    priority_group: str | None = Field(default=None, pattern=GROUP)
    department: str | None = Field(default=None, max_length=100)
    role: Role | Absent = None
    disabled: bool | Absent = None

    _no_null = refuse_null("full_name", "role", "disabled")


class SettingsPatch(BaseModel):
    """A JSON merge patch of the settings: `{"security": {"bcrypt_rounds": 11}}`."""

    model_config = ConfigDict(extra="allow")

    def patch(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


MODELS: dict[str, type[BaseModel]] = {
    "LoginRequest": LoginRequest,
    "RefreshRequest": RefreshRequest,
    "PasswordChange": PasswordChange,
    "OtpSetup": OtpSetup,
    "OtpConfirm": OtpConfirm,
    "OtpDisable": OtpDisable,
    "UserCreate": UserCreate,
    "UserUpdate": UserUpdate,
}
