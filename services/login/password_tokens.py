"""One-time set-password tokens: how an imported account without a password gets one.

An import stores no password for such a row (`UNUSABLE_PASSWORD`: nothing can sign in)
and no bcrypt hash is made at import. Instead it stores the SHA-256 of a random token and
sends the token by the notification outbox. `POST /auth/password/set` with the token and
a new password (the policy applies) sets it, once, within `TOKEN_DAYS`; then the account
signs in like any other. An account whose message could not be delivered (no email)
gets a temporary password from an admin's `POST /users/{id}/password-reset`.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.body import read_json
from services.common.context import context_of
from services.common.forwarding import on_master
from services.common.outbox import notify_many
from services.common.problems import BadRequest, ValidationFailed
from services.login.passwords import hash_password, hash_rounds, policy_problems
from services.login.users import audit
from storage.schemas.login import password_tokens, users

TOKEN_DAYS = 7


class PasswordSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=20, max_length=100)
    new_password: str = Field(max_length=1024)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(token to send, its hash to store)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def invitation(username: str, actor: str, token: str) -> tuple[str, str]:
    """(subject, body) of the message that carries a set-password token."""
    return (
        "Your account was created: choose your password",
        f"An administrator ({actor}) created the account {username} for you. Choose its password within "
        f"{TOKEN_DAYS} days by sending this one-time token and your new password to POST /auth/password/set: "
        f"{token} . Until then the account cannot sign in. If you did not expect this, contact the registrar.",
    )


async def invite(conn: AsyncConnection, created: list[tuple[int, str]], actor: str, now: float) -> None:
    """Store a token for each (user id, username) and queue its message, in the caller's transaction."""
    if not created:
        return
    rows, messages = [], []
    for user_id, username in created:
        token, hashed = new_token()
        rows.append(
            {"token_hash": hashed, "user_id": user_id, "created_at": now, "expires_at": now + TOKEN_DAYS * 86400}
        )
        subject, body = invitation(username, actor, token)
        messages.append((user_id, "account-created", subject, body))
    await conn.execute(password_tokens.insert(), rows)
    await notify_many(conn, messages, now)


async def set_password(request: Request) -> Response:
    """Choose the password of an account with a one-time set-password token (sent at import).
    ---
    summary: Set a password with a token
    tags: [auth]
    security: []
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/PasswordSet"}}}
    responses:
      "200":
        description: "id and username: the account can sign in with the new password"
        content: {application/json: {schema: {$ref: "#/components/schemas/PasswordIsSet"}}}
      "400": {description: "The token is unknown, used or expired"}
      "422": {description: "The new password does not meet the policy"}
    """
    ctx = context_of(request)
    body = await read_json(request, PasswordSet)
    now = time.time()
    async with ctx.database.read() as conn:
        found = (
            await conn.execute(
                select(password_tokens.c.user_id, users.c.username)
                .join(users, users.c.id == password_tokens.c.user_id)
                .where(
                    password_tokens.c.token_hash == token_hash(body.token),
                    password_tokens.c.used_at.is_(None),
                    password_tokens.c.expires_at > now,
                    users.c.created_at <= password_tokens.c.created_at,  # not a later account with its id
                )
            )
        ).first()
    if found is None:
        raise BadRequest("the token is unknown, already used or expired: ask an administrator for a new one")
    policy = ctx.cluster.settings().security
    problems = policy_problems(body.new_password, policy, found.username)
    if problems:
        raise ValidationFailed(
            "new_password: " + "; ".join(problems), errors=[{"field": "new_password", "message": p} for p in problems]
        )
    hashed = await hash_password(body.new_password, hash_rounds(ctx.config, policy))
    async with ctx.master_write() as conn:
        used = await conn.execute(
            update(password_tokens)
            .where(password_tokens.c.token_hash == token_hash(body.token), password_tokens.c.used_at.is_(None))
            .values(used_at=now)
        )
        if used.rowcount != 1:  # used by a concurrent request meanwhile
            raise BadRequest("the token is unknown, already used or expired: ask an administrator for a new one")
        await conn.execute(
            update(users)
            .where(users.c.id == found.user_id)
            .values(password_hash=hashed, must_change_password=False, password_changed_at=now, updated_at=now)
        )
        await audit(conn, found.username, "password-set", found.username)
    return JSONResponse({"id": found.user_id, "username": found.username})


def password_token_routes() -> list[BaseRoute]:
    return [Route("/auth/password/set", on_master(set_password), methods=["POST"])]
