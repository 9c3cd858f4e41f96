"""`/auth/*` and the JWKS: log in, refresh, log out, who am I, password, 2FA, keys."""

from __future__ import annotations

import math
import time
from typing import Any

import pyotp
from sqlalchemy import update
from sqlalchemy.engine import Row
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import authenticate
from services.common.body import read_json
from services.common.context import context_of
from services.common.forwarding import client_address, on_master
from services.common.problems import Conflict, ProblemError, Unauthorized, ValidationFailed
from services.login.models import LoginRequest, OtpConfirm, OtpDisable, OtpSetup, PasswordChange, RefreshRequest
from services.login.passwords import check_password, hash_password, hash_rounds, policy_problems
from services.login.sessions import MAX_ACCESS_SECONDS, RefreshRefused, RefreshReused, Tokens, needs_2fa_setup
from services.login.state import LoginState, login_of
from services.login.throttle import Attempt, retry_after
from services.login.users import audit, user_by_id, user_by_name, user_json
from storage.schemas.login import users

OTP_ISSUER = "Course Selection"


class InvalidCredentials(Unauthorized):
    slug, title = "invalid-credentials", "Invalid credentials"


class OtpRequired(Unauthorized):
    slug, title = "otp-required", "A one-time code is required"


class InvalidOtp(Unauthorized):
    slug, title = "invalid-otp", "Invalid one-time code"


class TooManyAttempts(ProblemError):
    status, slug, title = 429, "too-many-attempts", "Too many failed attempts"


def _client(request: Request) -> str:
    return client_address(request)


async def _reserve(state: LoginState, request: Request, username: str, now: float) -> Attempt:
    """Reserve one password check against the throttle (before checking), or answer 429."""
    policy = context_of(request).cluster.settings().security
    attempt = await state.throttle.reserve(username, _client(request), policy, now)
    if attempt.wait > 0:
        raise TooManyAttempts(
            f"too many failed attempts; retry in {math.ceil(attempt.wait)} s",
            headers={"Retry-After": retry_after(attempt.wait)},
        )
    return attempt


async def reauthenticate(request: Request, user: Row[Any], password: str, code: str | None = None) -> int | None:
    """Check the password (and a current one-time code when `code` is given) of the signed-in
    user before a security change: throttled like a login, so a stolen access token is no
    way around the login throttle. Returns the code's time step."""
    state, now = login_of(request), login_of(request).clock()
    attempt = await _reserve(state, request, user.username, now)
    if not await check_password(password, user.password_hash):
        raise InvalidCredentials("the password is wrong")
    step = None
    if code is not None:
        step = _otp_step(user.totp_secret, code, user.totp_last_step, now) if user.totp_secret else None
        if step is None:
            raise InvalidOtp("the one-time code is wrong or was already used")
    await state.throttle.succeeded(attempt, now)
    return step


def _otp_step(secret: str, code: str, last_step: int | None, now: float) -> int | None:
    """The time step `code` matches (this one or the one before or after), if not used before."""
    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        step = int(now // totp.interval) + offset
        if totp.at(step * totp.interval) == code and (last_step is None or step > last_step):
            return step
    return None


async def login(request: Request) -> Response:
    """Log in with username and password (and a one-time code when 2FA is on).
    ---
    summary: Log in
    tags: [auth]
    security: []
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/LoginRequest"}}}
    responses:
      "200":
        description: "access_token, refresh_token, token_type, expires_in, must_change_password"
        content: {application/json: {schema: {$ref: "#/components/schemas/Tokens"}}}
      "401": {description: "Invalid credentials, or a one-time code is required or wrong"}
      "429": {description: "Too many failed attempts for this name or address; see Retry-After"}
    """
    ctx, state = context_of(request), login_of(request)
    body = await read_json(request, LoginRequest)
    policy = ctx.cluster.settings().security
    now, client = state.clock(), _client(request)
    # Reserved before the check: an attempt counts as failed unless it succeeds.
    attempt = await _reserve(state, request, body.username, now)
    async with ctx.database.read() as conn:
        user = await user_by_name(conn, body.username)
    # Unknown names cost a bcrypt check too, so timing does not tell which names exist.
    valid = await check_password(body.password, user.password_hash if user else state.dummy_hash)
    if user is None or not valid or user.disabled:
        raise InvalidCredentials("the username or the password is wrong")
    otp_step = None
    if user.totp_enabled:
        if not body.otp:
            await state.throttle.password_only(attempt)
            raise OtpRequired("this account uses two-factor authentication: send otp")
        otp_step = _otp_step(user.totp_secret, body.otp, user.totp_last_step, now)
        if otp_step is None:
            raise InvalidOtp("the one-time code is wrong or was already used")
    await state.throttle.succeeded(attempt, now)
    async with ctx.master_write() as conn:
        values: dict[str, object] = {"last_login_at": now}
        if otp_step is not None:
            values["totp_last_step"] = otp_step
        await conn.execute(update(users).where(users.c.id == user.id).values(**values))
        tokens = await state.issuer.open(conn, user, client, now)
        await audit(conn, user.username, "login", user.username, session=tokens.session_id, client=client)
    return JSONResponse(tokens.body(user, needs_2fa_setup(user, policy)))


async def refresh(request: Request) -> Response:
    """Exchange a refresh token for a new pair; the old refresh token dies.
    ---
    summary: Refresh tokens
    description: Presenting a refresh token that was already exchanged ends the whole session.
    tags: [auth]
    security: []
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/RefreshRequest"}}}
    responses:
      "200":
        description: "A new token pair"
        content: {application/json: {schema: {$ref: "#/components/schemas/Tokens"}}}
      "401": {description: "Unknown, expired, or reused refresh token"}
    """
    ctx, state = context_of(request), login_of(request)
    body = await read_json(request, RefreshRequest)
    now = time.time()
    async with ctx.master_write() as conn:
        rotation = await state.issuer.rotate(conn, body.refresh_token, now)
        ended: list[str] = []
        if rotation.reused and rotation.session is not None:
            ended = await state.issuer.end(conn, [rotation.session.id], "refresh-token-reuse", now)
            await audit(
                conn, "system", "refresh-token-reuse", str(rotation.session.user_id), session=rotation.session.id
            )
        elif rotation.session is not None and not rotation.refused:
            user = await user_by_id(conn, rotation.session.user_id)
            if user.disabled:
                raise RefreshRefused("the account is disabled")
    if rotation.reused:
        await state.issuer.revoke_everywhere(ended)
        raise RefreshReused("this refresh token was already used; the whole session is now ended")
    if rotation.refused or rotation.session is None:
        raise RefreshRefused(rotation.refused or "unknown refresh token")
    access, expires_in = state.issuer.access_token(user, rotation.session.id, rotation.session.expires_at, now)
    tokens = Tokens(access, rotation.refresh_token, expires_in, rotation.session.id)
    return JSONResponse(tokens.body(user, needs_2fa_setup(user, ctx.cluster.settings().security)))


async def logout(request: Request) -> Response:
    """End the current session: its tokens stop working on every node.
    ---
    summary: Log out
    tags: [auth]
    security: [{bearer: []}]
    responses:
      "204": {description: "The session has ended"}
    """
    ctx, state = context_of(request), login_of(request)
    me = await authenticate(request, allow_restricted=True)
    async with ctx.master_write() as conn:
        ended = await state.issuer.end(conn, [me.session_id], "logout", time.time())
        await audit(conn, me.username, "logout", me.username, session=me.session_id)
    await state.issuer.revoke_everywhere(ended)
    return Response(status_code=204)


async def me(request: Request) -> Response:
    """The caller's account.
    ---
    summary: Who am I
    tags: [auth]
    security: [{bearer: []}]
    responses:
      "200":
        description: "The account"
        content: {application/json: {schema: {$ref: "#/components/schemas/Me"}}}
    """
    ctx = context_of(request)
    principal = await authenticate(request, allow_restricted=True)
    async with ctx.database.read() as conn:
        user = await user_by_id(conn, principal.user_id)
    return JSONResponse({**user_json(user), "session_id": principal.session_id})


async def change_password(request: Request) -> Response:
    """Change your password; every other session of yours ends. Returns a new token pair.
    ---
    summary: Change password
    tags: [auth]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/PasswordChange"}}}
    responses:
      "200":
        description: "Changed; a new token pair for this session"
        content: {application/json: {schema: {$ref: "#/components/schemas/Tokens"}}}
      "401": {description: "The old password is wrong"}
      "422": {description: "The new password does not meet the policy"}
    """
    ctx, state = context_of(request), login_of(request)
    principal = await authenticate(request, allow_restricted=True)
    body = await read_json(request, PasswordChange)
    policy = ctx.cluster.settings().security
    async with ctx.database.read() as conn:
        user = await user_by_id(conn, principal.user_id)
    await reauthenticate(request, user, body.old_password)
    problems = policy_problems(body.new_password, policy, user.username)
    if body.new_password == body.old_password:
        problems.append("must differ from the old password")
    if problems:
        raise ValidationFailed(
            "new_password: " + "; ".join(problems),
            errors=[{"field": "new_password", "message": p} for p in problems],
        )
    hashed = await hash_password(body.new_password, hash_rounds(ctx.config, policy))
    now = time.time()
    async with ctx.master_write() as conn:
        await conn.execute(
            update(users)
            .where(users.c.id == user.id)
            .values(password_hash=hashed, must_change_password=False, password_changed_at=now, updated_at=now)
        )
        others = await state.issuer.sessions_of(conn, user.id, except_session=principal.session_id)
        ended = await state.issuer.end(conn, others, "password-changed", now)
        await audit(conn, user.username, "password-change", user.username, other_sessions_ended=len(ended))
        user = await user_by_id(conn, user.id)
        tokens = await state.issuer.open(conn, user, _client(request), now)
        ended += await state.issuer.end(conn, [principal.session_id], "password-changed", now)
    await state.issuer.revoke_everywhere(ended)
    return JSONResponse(tokens.body(user, needs_2fa_setup(user, policy)))


async def otp_setup(request: Request) -> Response:
    """Start two-factor setup (needs your password): a new secret and its otpauth:// URI.
    ---
    summary: Set up 2FA
    description: A stolen access token alone cannot enrol the thief's authenticator.
    tags: [auth]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/OtpSetup"}}}
    responses:
      "200":
        description: "secret and otpauth_uri; confirm with a code to turn 2FA on"
        content: {application/json: {schema: {$ref: "#/components/schemas/OtpSecret"}}}
      "401": {description: "Wrong password"}
      "409": {description: "2FA is already on"}
      "429": {description: "Too many failed attempts; see Retry-After"}
    """
    ctx = context_of(request)
    principal = await authenticate(request, allow_2fa_setup=True)
    body = await read_json(request, OtpSetup)
    async with ctx.database.read() as conn:
        user = await user_by_id(conn, principal.user_id)
    if user.totp_enabled:
        raise Conflict("two-factor authentication is already on; turn it off first")
    await reauthenticate(request, user, body.password)
    secret = pyotp.random_base32()
    async with ctx.master_write() as conn:
        changed = await conn.execute(
            update(users)
            .where(users.c.id == user.id, users.c.totp_enabled.is_(False))
            .values(totp_secret=secret, totp_last_step=None)
        )
        if not changed.rowcount:
            raise Conflict("two-factor authentication is already on; turn it off first")
        await audit(conn, user.username, "2fa-setup-started", user.username)
    uri = pyotp.TOTP(secret).provisioning_uri(name=principal.username, issuer_name=OTP_ISSUER)
    return JSONResponse({"secret": secret, "otpauth_uri": uri})


async def otp_confirm(request: Request) -> Response:
    """Turn two-factor authentication on with your password and a code from the authenticator app.
    ---
    summary: Confirm 2FA
    tags: [auth]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/OtpConfirm"}}}
    responses:
      "200":
        description: "2FA is on; log in again for tokens without the setup restriction"
        content: {application/json: {schema: {$ref: "#/components/schemas/OtpState"}}}
      "401": {description: "Wrong password"}
      "409": {description: "No setup in progress"}
      "422": {description: "Wrong code"}
      "429": {description: "Too many failed attempts; see Retry-After"}
    """
    ctx = context_of(request)
    principal = await authenticate(request, allow_2fa_setup=True)
    body = await read_json(request, OtpConfirm)
    async with ctx.database.read() as conn:
        user = await user_by_id(conn, principal.user_id)
    if user.totp_enabled or not user.totp_secret:
        raise Conflict("no two-factor setup in progress: POST /auth/otp/setup first")
    await reauthenticate(request, user, body.password)
    now = login_of(request).clock()
    async with ctx.master_write() as conn:
        user = await user_by_id(conn, principal.user_id)
        if user.totp_enabled or not user.totp_secret:
            raise Conflict("no two-factor setup in progress: POST /auth/otp/setup first")
        step = _otp_step(user.totp_secret, body.code, user.totp_last_step, now)
        if step is None:
            raise ValidationFailed("code: wrong one-time code", errors=[{"field": "code", "message": "wrong code"}])
        await conn.execute(update(users).where(users.c.id == user.id).values(totp_enabled=True, totp_last_step=step))
        await audit(conn, user.username, "2fa-enabled", user.username)
    return JSONResponse({"totp_enabled": True})


async def otp_disable(request: Request) -> Response:
    """Turn two-factor authentication off: needs your password and a current code.
    ---
    summary: Turn 2FA off
    description: Lost the authenticator? An admin can reset it (DELETE /users/{id}/otp).
    tags: [auth]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/OtpDisable"}}}
    responses:
      "200":
        description: "2FA is off"
        content: {application/json: {schema: {$ref: "#/components/schemas/OtpState"}}}
      "401": {description: "Wrong password or code"}
      "409": {description: "2FA is not on"}
      "429": {description: "Too many failed attempts; see Retry-After"}
    """
    ctx = context_of(request)
    principal = await authenticate(request)
    body = await read_json(request, OtpDisable)
    async with ctx.database.read() as conn:
        user = await user_by_id(conn, principal.user_id)
    if not user.totp_enabled:
        raise Conflict("two-factor authentication is not on")
    await reauthenticate(request, user, body.password, body.code)
    async with ctx.master_write() as conn:
        await conn.execute(
            update(users).where(users.c.id == user.id).values(totp_enabled=False, totp_secret=None, totp_last_step=None)
        )
        await audit(conn, user.username, "2fa-disabled", user.username)
    return JSONResponse({"totp_enabled": False})


async def jwks(request: Request) -> Response:
    """The public keys that verify access tokens (JWKS).
    ---
    summary: JSON Web Key Set
    tags: [auth]
    security: []
    responses:
      "200":
        description: "The key set"
        content: {application/json: {schema: {$ref: "#/components/schemas/JsonWebKeySet"}}}
    """
    keys = await login_of(request).keys.jwks(MAX_ACCESS_SECONDS)
    return JSONResponse(keys, headers={"Cache-Control": "max-age=60"})


async def rotate_keys(request: Request) -> Response:
    """Sign new tokens with a new key; the old key stays published until its tokens expire.
    ---
    summary: Rotate the signing key
    tags: [auth]
    security: [{bearer: []}]
    responses:
      "200":
        description: "The new key id"
        content: {application/json: {schema: {$ref: "#/components/schemas/KeyRotated"}}}
      "403": {description: "Only a super_admin may rotate keys"}
    """
    ctx = context_of(request)
    principal = await authenticate(request, "super_admin")
    kid = await login_of(request).keys.rotate(ctx.master_write)
    async with ctx.master_write() as conn:
        await audit(conn, principal.username, "key-rotation", kid)
    return JSONResponse({"kid": kid})


def auth_routes() -> list[BaseRoute]:
    return [
        Route("/auth/login", on_master(login), methods=["POST"]),
        Route("/auth/refresh", on_master(refresh), methods=["POST"]),
        Route("/auth/logout", on_master(logout), methods=["POST"]),
        Route("/auth/me", me, methods=["GET"]),
        Route("/auth/password", on_master(change_password), methods=["POST"]),
        Route("/auth/otp/setup", on_master(otp_setup), methods=["POST"]),
        Route("/auth/otp/confirm", on_master(otp_confirm), methods=["POST"]),
        Route("/auth/otp", on_master(otp_disable), methods=["DELETE"]),
        Route("/auth/keys/rotate", on_master(rotate_keys), methods=["POST"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    ]
