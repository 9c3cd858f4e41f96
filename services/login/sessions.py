"""Sessions, access tokens and refresh tokens.

A session starts at login and ends on logout, idle timeout, absolute lifetime, password
change (all other sessions), account disable, admin revoke, or refresh-token reuse.
Refresh tokens are opaque (`<session id>.<random>`), stored as SHA-256 hashes and
rotated on every use; presenting one that was already exchanged ends the session (it
was stolen, or the client is confused: either way nobody keeps it).

Ending a session (`end()`) is recorded in the login database together with its
revocation, in the caller's transaction; after the commit, `revoke_everywhere()` proposes
it to the replicated revocation list, which every node checks on every request: tokens
of an ended session stop working everywhere once that Raft entry is applied. If Raft
cannot take it now (no quorum), the route still answers for the change it committed,
and the login master delivers the revocation when Raft is back (`revocations.py`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from cluster.node import ClusterNode
from cluster.settings import SecuritySettings
from services.common.auth import ALGORITHM, AUDIENCE, ISSUER
from services.common.problems import Unauthorized
from services.login.keys import SigningKeys
from services.login.revocations import Revocations
from storage.schemas.login import sessions, used_refresh_tokens

MAX_ACCESS_SECONDS = 60 * 60  # the longest access token lifetime the settings allow


class RefreshRefused(Unauthorized):
    slug, title = "invalid-refresh-token", "Refresh token refused"


class RefreshReused(Unauthorized):
    slug, title = "refresh-token-reused", "Refresh token already used: the session is ended"


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str

    def body(self, user: Row[Any], needs_2fa_setup: bool) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "must_change_password": bool(user.must_change_password),
            "must_set_up_2fa": needs_2fa_setup,
        }


@dataclass(frozen=True)
class Rotation:
    session: Row[Any] | None = None
    refresh_token: str = ""
    reused: bool = False
    refused: str = ""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def needs_2fa_setup(user: Row[Any], policy: SecuritySettings) -> bool:
    return user.role in policy.require_2fa_roles and not user.totp_enabled


class SessionIssuer:
    def __init__(self, keys: SigningKeys, cluster: ClusterNode, revocations: Revocations) -> None:
        self.keys = keys
        self.cluster = cluster
        self.revocations = revocations

    def access_token(self, user: Row[Any], session_id: str, session_expires: float, now: float) -> tuple[str, int]:
        policy = self.cluster.settings().security
        expires = int(min(now + policy.access_token_minutes * 60, session_expires))
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user.id),
            "name": user.username,
            "role": user.role,
            "sid": session_id,
            "iat": int(now),
            "exp": expires,
        }
        if user.cohort is not None:
            claims["cohort"] = user.cohort  # registration windows are per cohort
        # The registrar's rules' other inputs: restrictions (program, year), the priority group's window.
        for claim, value in (("program", user.program), ("year", user.year), ("pg", user.priority_group)):
            if value is not None:
                claims[claim] = value
        if user.must_change_password:
            claims["mcp"] = True
        if needs_2fa_setup(user, policy):
            claims["otp_setup"] = True
        key = self.keys.current
        token = jwt.encode({"alg": ALGORITHM, "kid": key.kid}, claims, key.key, algorithms=[ALGORITHM])
        return token, max(0, expires - int(now))

    async def open(self, conn: AsyncConnection, user: Row[Any], client: str, now: float) -> Tokens:
        policy = self.cluster.settings().security
        session_id = secrets.token_hex(16)
        refresh = f"{session_id}.{secrets.token_urlsafe(32)}"
        expires_at = now + policy.session_absolute_hours * 3600
        await conn.execute(
            sessions.insert().values(
                id=session_id,
                user_id=user.id,
                refresh_hash=_hash(refresh),
                created_at=now,
                last_seen_at=now,
                expires_at=expires_at,
                client=client[:64],
            )
        )
        access, expires_in = self.access_token(user, session_id, expires_at, now)
        return Tokens(access, refresh, expires_in, session_id)

    async def rotate(self, conn: AsyncConnection, refresh: str, now: float) -> Rotation:
        """Exchange a refresh token: the new one, or why not (reuse is reported, not raised,
        so the caller can commit the session's end before refusing)."""
        session_id = refresh.partition(".")[0]
        token_hash = _hash(refresh)
        row = (await conn.execute(select(sessions).where(sessions.c.id == session_id))).first()
        if row is None:
            return Rotation(refused="unknown refresh token")
        if row.refresh_hash != token_hash:
            used = select(used_refresh_tokens).where(used_refresh_tokens.c.token_hash == token_hash)
            if (await conn.execute(used)).first() is not None:
                return Rotation(session=row, reused=True)
            return Rotation(refused="unknown refresh token")
        policy = self.cluster.settings().security
        if row.ended_at is not None:
            return Rotation(refused=f"the session has ended ({row.end_reason})")
        if now >= row.expires_at:
            return Rotation(refused="the session reached its maximum lifetime; log in again")
        if now - row.last_seen_at > policy.session_idle_minutes * 60:
            return Rotation(refused="the session was idle too long; log in again")
        new_refresh = f"{session_id}.{secrets.token_urlsafe(32)}"
        await conn.execute(
            used_refresh_tokens.insert().values(token_hash=token_hash, session_id=session_id, used_at=now)
        )
        await conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id)
            .values(refresh_hash=_hash(new_refresh), last_seen_at=now)
        )
        return Rotation(session=row, refresh_token=new_refresh)

    async def end(self, conn: AsyncConnection, session_ids: list[str], reason: str, now: float) -> list[str]:
        """End sessions in the caller's transaction, their revocation everywhere recorded with it;
        after the commit, pass what this returns to `revoke_everywhere()`."""
        live = [
            r.id
            for r in await conn.execute(
                select(sessions.c.id).where(sessions.c.id.in_(session_ids), sessions.c.ended_at.is_(None))
            )
        ]
        if live:
            await conn.execute(
                update(sessions)
                .where(sessions.c.id.in_(live))
                .values(ended_at=now, end_reason=reason, refresh_hash=None)
            )
            await self.revocations.record(conn, live, now + MAX_ACCESS_SECONDS, now)
        return live

    async def sessions_of(self, conn: AsyncConnection, user_id: int, except_session: str | None = None) -> list[str]:
        query = select(sessions.c.id).where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None))
        if except_session:
            query = query.where(sessions.c.id != except_session)
        return [r.id for r in await conn.execute(query)]

    async def revoke_everywhere(self, session_ids: list[str]) -> bool:
        """After the commit of `end()`: refuse these sessions' access tokens on every node now if
        Raft can take it (within a second), else as soon as it can. Never raises (the change is
        committed); True if Raft has the revocation already."""
        return await self.revocations.push(session_ids)
