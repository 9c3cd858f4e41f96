"""What the login service keeps for its lifetime, and its start-up (first-start accounts)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from sqlalchemy import func, select
from starlette.requests import Request

from cluster.secrets import load_or_create_secret
from services.common.auth import JwksSource
from services.common.background import run_in_background
from services.common.context import NodeContext, context_of
from services.login.keys import KeySeal, SigningKeys
from services.login.passwords import hash_password, hash_rounds
from services.login.revocations import Revocations
from services.login.sessions import MAX_ACCESS_SECONDS, SessionIssuer
from services.login.throttle import LoginThrottle
from storage.database import Database
from storage.schemas.login import users

log = logging.getLogger("course_selection.login")

# The seed's default accounts: they exist at first start and must change their password.
DEFAULT_ACCOUNTS = (("admin", "admin123", "admin"), ("super_admin", "super123", "super_admin"))


@dataclass
class LoginState:
    keys: SigningKeys
    issuer: SessionIssuer
    throttle: LoginThrottle
    dummy_hash: str  # checked against for unknown usernames, so they cost as much as known ones
    clock: Callable[[], float] = field(default=time.time)  # the throttle's time: tests set it


def login_of(request: Request) -> LoginState:
    return context_of(request).state(LoginState)


async def ensure_default_accounts(database: Database, rounds: int) -> list[str]:
    """Create the default accounts if there are no users at all (a first start)."""
    async with database.read() as conn:
        if (await conn.execute(select(func.count()).select_from(users))).scalar_one():
            return []
    hashes = [await hash_password(password, rounds) for _, password, _ in DEFAULT_ACCOUNTS]
    now = time.time()
    async with database.write() as conn:  # the write lock: concurrent first starts create them once
        if (await conn.execute(select(func.count()).select_from(users))).scalar_one():
            return []
        for (username, _, role), hashed in zip(DEFAULT_ACCOUNTS, hashes, strict=True):
            await conn.execute(
                users.insert().values(
                    username=username,
                    role=role,
                    password_hash=hashed,
                    must_change_password=True,
                    full_name=f"Default {role}",
                    created_at=now,
                    updated_at=now,
                    password_changed_at=now,
                )
            )
    log.warning("created the default accounts admin and super_admin: change their passwords")
    return [username for username, _, _ in DEFAULT_ACCOUNTS]


async def start_login(ctx: NodeContext, stack: AsyncExitStack) -> LoginState:
    assert ctx.redis is not None
    secret = load_or_create_secret(ctx.config.data_dir, "cluster", ctx.config.secret("cluster"))
    keys = SigningKeys(ctx.database, KeySeal(secret))
    await keys.load()
    rounds = hash_rounds(ctx.config, ctx.cluster.settings().security)
    await ensure_default_accounts(ctx.database, rounds)
    dummy = await hash_password(secrets.token_urlsafe(16), rounds)
    revocations = Revocations(ctx.database, ctx.cluster.raft.revoke_sessions, ctx.cluster.master.is_master)
    run_in_background(stack, revocations.run(), revocations.stop)  # delivers while this node is master
    ctx.metrics.registry.register(revocations)
    issuer = SessionIssuer(keys, ctx.cluster, revocations)
    return LoginState(keys, issuer, LoginThrottle(ctx.redis), dummy)


def local_jwks(ctx: NodeContext) -> JwksSource:
    async def fetch() -> dict[str, object]:
        return await ctx.state(LoginState).keys.jwks(MAX_ACCESS_SECONDS)

    return fetch
