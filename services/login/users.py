"""Users in the login database: reading, who may manage whom, the audit trail."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.auth import Principal
from services.common.problems import Forbidden, NotFound
from storage.schemas.login import audit_log, users

PUBLIC_COLUMNS = (
    "id",
    "username",
    "role",
    "full_name",
    "email",
    "phone",
    "student_number",
    "cohort",
    "program",
    "year",
    "priority_group",
    "department",
    "disabled",
    "must_change_password",
    "totp_enabled",
    "created_at",
    "updated_at",
    "last_login_at",
)
# Admins manage students and teachers; only a super_admin manages admins and super_admins.
_MANAGES = {"admin": {"student", "teacher"}, "super_admin": {"student", "teacher", "admin", "super_admin"}}


def user_json(row: Row[Any]) -> dict[str, Any]:
    return {column: getattr(row, column) for column in PUBLIC_COLUMNS}


async def user_by_id(conn: AsyncConnection, user_id: int) -> Row[Any]:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    if row is None:
        raise NotFound(f"no user {user_id}")
    return row


async def user_by_name(conn: AsyncConnection, username: str) -> Row[Any] | None:
    return (await conn.execute(select(users).where(users.c.username == username))).first()


def check_manages(actor: Principal, role: str) -> None:
    if role not in _MANAGES.get(actor.role, set()):
        raise Forbidden(f"a {actor.role} cannot manage {role} accounts")


async def audit(conn: AsyncConnection, actor: str, action: str, target: str = "", **detail: Any) -> None:
    await conn.execute(
        audit_log.insert().values(
            at=time.time(), actor=actor, action=action, target=target, detail=json.dumps(detail, default=str)
        )
    )
