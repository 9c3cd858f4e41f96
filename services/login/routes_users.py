"""`/users`: accounts managed by admins (students and teachers) and super_admins (all)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cluster.settings import ROLES
from services.common.answers import JSONResponse
from services.common.auth import ADMINS, Principal, authenticate
from services.common.body import read_json
from services.common.calls import DependencyUnavailable, call_service
from services.common.context import context_of
from services.common.csv_body import csv_bytes
from services.common.forwarding import on_master
from services.common.internal import require_internal
from services.common.jobs import accepted, jobs_of
from services.common.outbox import notify
from services.common.pagination import page_of
from services.common.problems import Conflict, ValidationFailed
from services.login.csv_import import run_user_import
from services.login.models import UserCreate, UserUpdate
from services.login.passwords import hash_password, hash_rounds, policy_problems
from services.login.state import login_of
from services.login.users import audit, check_manages, user_by_id, user_json
from storage.schemas.login import users

# Fields an access token carries (services/login/sessions.py): changing one ends the
# user's sessions everywhere, or a demoted admin would keep admin powers until expiry.
TOKEN_CLAIMS = ("role", "cohort", "program", "year", "priority_group", "username", "must_change_password")


def temporary_password() -> str:
    return secrets.token_urlsafe(12)


def _password_problems(request: Request, password: str, username: str) -> None:
    problems = policy_problems(password, context_of(request).cluster.settings().security, username)
    if problems:
        raise ValidationFailed(
            "password: " + "; ".join(problems), errors=[{"field": "password", "message": p} for p in problems]
        )


def new_user_values(body: UserCreate, password_hash: str, now: float) -> dict[str, Any]:
    values = body.model_dump(exclude={"password"})
    return {**values, "password_hash": password_hash, "created_at": now, "updated_at": now, "password_changed_at": now}


async def list_users(request: Request) -> Response:
    """Accounts, filtered and paginated.
    ---
    summary: List users
    tags: [users]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: q, schema: {type: string}, description: "part of username, name or email"}
      - {in: query, name: role, schema: {type: string, enum: [student, teacher, admin, super_admin]}}
      - {in: query, name: disabled, schema: {type: boolean}}
      - $ref: "#/components/parameters/Page"
      - $ref: "#/components/parameters/PageSize"
    responses:
      "200":
        description: "items, page, page_size, total"
        content: {application/json: {schema: {$ref: "#/components/schemas/UserPage"}}}
    """
    await authenticate(request, *ADMINS)
    page = page_of(request)
    query = select(users)
    params = request.query_params
    if params.get("role"):
        if params["role"] not in ROLES:
            raise ValidationFailed("role: unknown role", errors=[{"field": "role", "message": "unknown role"}])
        query = query.where(users.c.role == params["role"])
    if params.get("disabled") in ("true", "false"):
        query = query.where(users.c.disabled == (params["disabled"] == "true"))
    if params.get("q"):
        like = f"%{params['q'].lower()}%"
        query = query.where(
            or_(
                func.lower(users.c.username).like(like),
                func.lower(users.c.full_name).like(like),
                func.lower(users.c.email).like(like),
            )
        )
    async with context_of(request).database.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        rows = (await conn.execute(query.order_by(users.c.id).limit(page.size).offset(page.offset))).all()
    return JSONResponse(page.body([user_json(r) for r in rows], total))


async def create_user(request: Request) -> Response:
    """Create an account; without a password, a temporary one is made and returned once.
    ---
    summary: Create a user
    tags: [users]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/UserCreate"}}}
    responses:
      "201":
        description: "The account (and its temporary password, if one was made)"
        content: {application/json: {schema: {$ref: "#/components/schemas/CreatedUser"}}}
      "409": {description: "The username or student number is taken"}
    """
    ctx = context_of(request)
    actor = await authenticate(request, *ADMINS)
    body = await read_json(request, UserCreate)
    check_manages(actor, body.role)
    temporary = None
    if body.password is None:
        temporary = temporary_password()
        body = body.model_copy(update={"must_change_password": True})
    else:
        _password_problems(request, body.password, body.username)
    rounds = hash_rounds(ctx.config, ctx.cluster.settings().security)
    hashed = await hash_password(body.password or temporary or "", rounds)
    try:
        async with ctx.master_write() as conn:
            result = await conn.execute(users.insert().values(**new_user_values(body, hashed, time.time())))
            created = await user_by_id(conn, result.inserted_primary_key[0])  # type: ignore[index]
            await audit(conn, actor.username, "user-create", body.username, role=body.role)
    except IntegrityError:
        raise Conflict(f"the username {body.username!r} or the student number is already taken") from None
    answer = user_json(created)
    if temporary:
        answer["temporary_password"] = temporary
    return JSONResponse(answer, status_code=201)


async def get_user(request: Request) -> Response:
    """One account.
    ---
    summary: Get a user
    tags: [users]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    responses:
      "200":
        description: "The account"
        content: {application/json: {schema: {$ref: "#/components/schemas/User"}}}
      "404": {description: "No such user"}
    """
    await authenticate(request, *ADMINS)
    async with context_of(request).database.read() as conn:
        user = await user_by_id(conn, request.path_params["id"])
    return JSONResponse(user_json(user))


async def user_contact(request: Request) -> Response:
    """Where to reach a user: what the notification senders of every service ask.
    ---
    summary: A user's contact (internal)
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: id, required: true, schema: {type: integer}}
    responses:
      "200":
        description: "id, username, full_name, email, phone"
        content: {application/json: {schema: {$ref: "#/components/schemas/Contact"}}}
      "404": {description: "No such user"}
    """
    require_internal(request)
    async with context_of(request).database.read() as conn:
        user = await user_by_id(conn, request.path_params["id"])
    fields = ("id", "username", "full_name", "email", "phone")
    return JSONResponse({k: getattr(user, k) for k in fields})


async def update_user(request: Request) -> Response:
    """Change profile fields, the role, or disable the account.

    Disabling it, or changing what its tokens carry (role, cohort), ends its sessions on every node.
    ---
    summary: Update a user
    tags: [users]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/UserUpdate"}}}
    responses:
      "200":
        description: "The account"
        content: {application/json: {schema: {$ref: "#/components/schemas/User"}}}
      "403": {description: "Not allowed to manage this account or grant this role"}
    """
    ctx, state = context_of(request), login_of(request)
    actor = await authenticate(request, *ADMINS)
    body = await read_json(request, UserUpdate)
    changes = body.model_dump(exclude_unset=True)
    now = time.time()
    ended: list[str] = []
    try:
        async with ctx.master_write() as conn:
            user = await user_by_id(conn, request.path_params["id"])
            check_manages(actor, user.role)
            if "role" in changes:
                check_manages(actor, changes["role"])
            if changes:
                await conn.execute(update(users).where(users.c.id == user.id).values(**changes, updated_at=now))
            claims_changed = [k for k in TOKEN_CLAIMS if k in changes and changes[k] != getattr(user, k)]
            if changes.get("disabled") or claims_changed:
                reason = "disabled" if changes.get("disabled") else "claims-changed"
                ended = await state.issuer.end(conn, await state.issuer.sessions_of(conn, user.id), reason, now)
            await audit(conn, actor.username, "user-update", user.username, changes=changes, sessions_ended=len(ended))
            user = await user_by_id(conn, user.id)
    except IntegrityError:
        raise Conflict("the student number is already taken") from None
    await state.issuer.revoke_everywhere(ended)
    return JSONResponse(user_json(user))


class StillEnrolled(Conflict):
    slug, title = "user-has-enrollments", "The user still has enrollments"


async def _course_places(request: Request, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """The user's enrollments and waitlist places in course_data (none in a cluster without it)."""
    ctx = context_of(request)
    if not any(node.service == "course_data" for node in ctx.config.nodes):
        return {"enrolled": [], "waitlisted": []}
    answer = await call_service(request, "course_data", "GET", f"/internal/students/{user_id}/courses")
    if answer.status_code != 200:
        raise DependencyUnavailable(f"course_data answered {answer.status_code}", headers={"Retry-After": "1"})
    body = answer.json()
    return {
        kind: [{"course_id": c["id"], "code": c["code"]} for c in body.get(kind, [])]
        for kind in ("enrolled", "waitlisted")
    }


async def delete_user(request: Request) -> Response:
    """Delete an account and end its sessions; refused while it holds seats or waitlist places.
    ---
    summary: Delete a user
    description: A student's enrollments and waitlist places must be dropped first (the 409 lists
      them), so a seat is never left taken by an account that is gone. Ids are never given again.
    tags: [users]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    responses:
      "204": {description: "Deleted"}
      "409": {description: "You cannot delete yourself, or the user still has enrollments (listed)"}
      "503": {description: "course_data cannot be asked right now"}
    """
    ctx, state = context_of(request), login_of(request)
    actor = await authenticate(request, *ADMINS)
    if request.path_params["id"] == actor.user_id:
        raise Conflict("you cannot delete your own account")
    async with ctx.database.read() as conn:
        check_manages(actor, (await user_by_id(conn, request.path_params["id"])).role)
    places = await _course_places(request, request.path_params["id"])
    if places["enrolled"] or places["waitlisted"]:
        codes = ", ".join(c["code"] for c in places["enrolled"] + places["waitlisted"])
        raise StillEnrolled(
            f"drop these enrollments and waitlist places first: {codes}",
            enrolled=places["enrolled"],
            waitlisted=places["waitlisted"],
        )
    now = time.time()
    async with ctx.master_write() as conn:
        user = await user_by_id(conn, request.path_params["id"])
        check_manages(actor, user.role)
        ended = await state.issuer.end(conn, await state.issuer.sessions_of(conn, user.id), "deleted", now)
        await conn.execute(users.delete().where(users.c.id == user.id))
        await audit(conn, actor.username, "user-delete", user.username, id=user.id)
    await state.issuer.revoke_everywhere(ended)
    return Response(status_code=204)


async def import_users(request: Request) -> Response:
    """Create accounts from CSV, as a job: every row is checked first and nothing is created unless all are valid.
    ---
    summary: Import users (CSV)
    description: "Header row with: username, role, full_name, email, phone, student_number, cohort,
      program, year (of study), priority_group, department, password (all but username and role
      optional; program, year and priority group are the registrar's rules' inputs: course
      restrictions and the priority group's registration window). Answers 202 at once with the job's
      URL (Location); GET it for progress, every bad row ({line, field, reason}) and the ids created
      (result.ids: username -> id; result.student_numbers: student number -> id).
      Rows without a password get no password: a one-time set-password token is sent to them by
      email (POST /auth/password/set); rows with one must change it at their first sign-in."
    tags: [users]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {text/csv: {schema: {type: string}}}
    responses:
      "202":
        description: "id and url of the import job (also in Location)"
        content: {application/json: {schema: {$ref: "#/components/schemas/ImportAccepted"}}}
      "409": {description: "Another import is running on this service (its job url; see Retry-After)"}
      "415": {description: "Not text/csv"}
    """
    ctx = context_of(request)
    actor = await authenticate(request, *ADMINS)
    data = await csv_bytes(request)
    policy = ctx.cluster.settings().security
    rounds = hash_rounds(ctx.config, policy)
    job = await jobs_of(request).submit("users", actor, lambda job: run_user_import(job, data, policy, rounds))
    return accepted(job)


async def _admin_action(request: Request) -> tuple[Principal, int]:
    actor = await authenticate(request, *ADMINS)
    return actor, int(request.path_params["id"])


async def reset_password(request: Request) -> Response:
    """Give an account a temporary password (must be changed at next login); its sessions end.
    ---
    summary: Reset a password
    tags: [users]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    responses:
      "200":
        description: "The temporary password, shown once"
        content: {application/json: {schema: {$ref: "#/components/schemas/TemporaryPassword"}}}
    """
    ctx, state = context_of(request), login_of(request)
    actor, user_id = await _admin_action(request)
    temporary = temporary_password()
    hashed = await hash_password(temporary, hash_rounds(ctx.config, ctx.cluster.settings().security))
    now = time.time()
    async with ctx.master_write() as conn:
        user = await user_by_id(conn, user_id)
        check_manages(actor, user.role)
        await conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(password_hash=hashed, must_change_password=True, password_changed_at=now, updated_at=now)
        )
        ended = await state.issuer.end(conn, await state.issuer.sessions_of(conn, user_id), "password-reset", now)
        await audit(conn, actor.username, "password-reset", user.username)
        await notify(
            conn,
            user_id,
            "password-reset",
            "Your password was reset",
            f"An administrator ({actor.username}) reset the password of your account {user.username}. "
            "Ask them for the temporary password; you will choose a new one when you next sign in. "
            "If you did not expect this, contact the registrar.",
            now,
        )
    await state.issuer.revoke_everywhere(ended)
    return JSONResponse({"id": user_id, "temporary_password": temporary, "sessions_ended": len(ended)})


async def revoke_sessions(request: Request) -> Response:
    """End every session of an account now.
    ---
    summary: Revoke sessions
    tags: [users]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    responses:
      "200":
        description: "How many sessions ended"
        content: {application/json: {schema: {$ref: "#/components/schemas/SessionsEnded"}}}
    """
    ctx, state = context_of(request), login_of(request)
    actor, user_id = await _admin_action(request)
    async with ctx.master_write() as conn:
        user = await user_by_id(conn, user_id)
        check_manages(actor, user.role)
        ended = await state.issuer.end(conn, await state.issuer.sessions_of(conn, user_id), "revoked", time.time())
        await audit(conn, actor.username, "sessions-revoke", user.username, ended=len(ended))
    await state.issuer.revoke_everywhere(ended)
    return JSONResponse({"id": user_id, "sessions_ended": len(ended)})


async def unlock(request: Request) -> Response:
    """Clear an account's failed-login record (lockout and growing delays).
    ---
    summary: Unlock an account
    tags: [users]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    responses:
      "200":
        description: "Unlocked"
        content: {application/json: {schema: {$ref: "#/components/schemas/Unlocked"}}}
    """
    ctx = context_of(request)
    actor, user_id = await _admin_action(request)
    async with ctx.master_write() as conn:
        user = await user_by_id(conn, user_id)
        check_manages(actor, user.role)
        await audit(conn, actor.username, "unlock", user.username)
    await login_of(request).throttle.unlock(user.username)
    return JSONResponse({"id": user_id, "unlocked": True})


async def reset_otp(request: Request) -> Response:
    """Turn an account's two-factor authentication off (a lost authenticator); its sessions end.
    ---
    summary: Reset 2FA
    description: The user is told by a notification; they can set 2FA up again after logging in.
    tags: [users]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    responses:
      "200":
        description: "2FA is off and the sessions ended"
        content: {application/json: {schema: {$ref: "#/components/schemas/OtpReset"}}}
      "403": {description: "Not allowed to manage this account"}
      "404": {description: "No such user"}
    """
    ctx, state = context_of(request), login_of(request)
    actor, user_id = await _admin_action(request)
    now = time.time()
    async with ctx.master_write() as conn:
        user = await user_by_id(conn, user_id)
        check_manages(actor, user.role)
        await conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(totp_enabled=False, totp_secret=None, totp_last_step=None, updated_at=now)
        )
        ended = await state.issuer.end(conn, await state.issuer.sessions_of(conn, user_id), "2fa-reset", now)
        await audit(conn, actor.username, "2fa-reset", user.username, was_enabled=bool(user.totp_enabled))
        await notify(
            conn,
            user_id,
            "2fa-reset",
            "Your two-factor authentication was reset",
            f"An administrator ({actor.username}) turned off two-factor authentication on your account "
            f"{user.username}. Set it up again after you sign in. If you did not ask for this, contact the registrar.",
            now,
        )
    await state.issuer.revoke_everywhere(ended)
    return JSONResponse({"id": user_id, "totp_enabled": False, "sessions_ended": len(ended)})


def user_routes() -> list[BaseRoute]:
    return [
        Route("/users", list_users, methods=["GET"]),
        Route("/users", on_master(create_user), methods=["POST"]),
        Route("/users/import", on_master(import_users), methods=["POST"]),
        Route("/users/{id:int}", get_user, methods=["GET"]),
        Route("/users/{id:int}", on_master(update_user), methods=["PATCH"]),
        Route("/users/{id:int}", on_master(delete_user), methods=["DELETE"]),
        Route("/users/{id:int}/password-reset", on_master(reset_password), methods=["POST"]),
        Route("/users/{id:int}/sessions/revoke", on_master(revoke_sessions), methods=["POST"]),
        Route("/users/{id:int}/unlock", on_master(unlock), methods=["POST"]),
        Route("/users/{id:int}/otp", on_master(reset_otp), methods=["DELETE"]),
        Route("/internal/users/{id:int}/contact", user_contact, methods=["GET"]),
    ]
