"""Registration windows and holds, managed by admins."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import ADMINS, authenticate
from services.common.body import read_json
from services.common.context import context_of
from services.common.forwarding import on_master
from services.common.internal import require_internal_or_admin
from services.common.pagination import instant_param, number_param, page_of, rows_page
from services.common.problems import NotFound, ValidationFailed
from services.course_data.audit import record
from services.course_data.models import HoldIn, WindowsIn
from services.course_data.people import has_directory, named, one
from services.course_data.terms import term_filter, term_named
from storage.schemas.course_data import holds, windows


async def _windows_json(
    conn: AsyncConnection, term_id: int | None, ending_after: float | None = None
) -> dict[str, Any]:
    query = select(windows).order_by(windows.c.opens_at, windows.c.id)
    if term_id is not None:
        query = query.where(windows.c.term_id == term_id)
    if ending_after is not None:  # the terms with a window still to end, each with all its windows
        live = select(windows.c.term_id).where(
            or_(windows.c.closes_at > ending_after, windows.c.drop_deadline > ending_after)
        )
        query = query.where(windows.c.term_id.in_(live))
    rows = (await conn.execute(query)).all()
    return {"windows": [dict(r._mapping) for r in rows]}


async def get_windows(request: Request) -> Response:
    """Registration windows: who may register from when to when, and the drop deadline.
    ---
    summary: Registration windows
    description: "The windows of one term (?term=: its code or id; default the current term; all: every
      term's). In each term, a student uses the windows of the most specific audience they belong to
      that has any: their own time tickets (student_id), else their priority group's, else their
      cohort's, else those for everyone. Admins read them; so does the queue, by internal token, for
      its admission check: every term's that has a window not yet ended (?term=all&ending_after=now)."
    tags: [registration]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: term, schema: {type: string}, description: "code or id; default current; all"}
      - {in: query, name: ending_after, schema: {type: string, format: date-time}, description: "an instant
          (ISO 8601 with an offset, or Unix seconds): only the terms
          with a window that closes, or whose drop deadline is, after it, each with all its windows (a
          term whose every window has ended is left out)"}
    responses:
      "200":
        description: "windows: cohort, student_id, priority_group, opens_at, closes_at, drop_deadline"
        content: {application/json: {schema: {$ref: "#/components/schemas/Windows"}}}
    """
    await require_internal_or_admin(request)
    async with context_of(request).database.read() as conn:
        term = await term_filter(conn, request.query_params.get("term"))
        return JSONResponse(await _windows_json(conn, term, instant_param(request, "ending_after")))


async def put_windows(request: Request) -> Response:
    """Replace every registration window.
    ---
    summary: Set registration windows
    description: "All of one term's windows (?term=: its code or id; default the current term) are
      replaced, or none (422). Times are ISO 8601 with an offset (or Unix seconds), with opens_at < closes_at
      <= drop_deadline: enroll and swap from opens_at until before closes_at, drop up to drop_deadline.
      A window names at most one audience: student_id (a time ticket: one student, by id, student
      number or username), priority_group, or cohort; none: everyone. The most specific audience a
      student belongs to that has windows is the one whose windows they use."
    tags: [registration]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: term, schema: {type: string}, description: "code or id; default current"}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/WindowsIn"}}}
    responses:
      "200":
        description: "The windows"
        content: {application/json: {schema: {$ref: "#/components/schemas/Windows"}}}
      "422": {description: "Invalid fields, two audiences on one window, or a student_id naming no student"}
    """
    actor = await authenticate(request, *ADMINS)
    body = await read_json(request, WindowsIn)
    ctx = context_of(request)
    tickets = await named(ctx, [w.student_id for w in body.windows if w.student_id is not None], "student")
    rows, errors = [], []
    for n, window in enumerate(body.windows):
        row = window.model_dump()
        if window.student_id is not None:
            found = tickets[window.student_id]
            if isinstance(found, str):
                errors.append({"field": f"windows.{n}.student_id", "message": found})
            else:
                row["student_id"] = found.id
        rows.append(row)
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    async with ctx.master_write() as conn:
        term = await term_named(conn, request.query_params.get("term"))
        await conn.execute(delete(windows).where(windows.c.term_id == term.id))
        for row in rows:
            await conn.execute(windows.insert().values(**row, term_id=term.id))
        reason = f"{len(body.windows)} window(s) of {term.code}"
        await record(conn, actor.username, "windows", time.time(), reason=reason)
        return JSONResponse(await _windows_json(conn, term.id))


async def list_holds(request: Request) -> Response:
    """Holds that block students' registration.
    ---
    summary: List holds
    tags: [registration]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: student_id, schema: {type: string}, description: "id, student number or username"}
      - $ref: "#/components/parameters/Page"
      - $ref: "#/components/parameters/PageSize"
    responses:
      "200":
        description: "items, page, page_size, total"
        content: {application/json: {schema: {$ref: "#/components/schemas/HoldPage"}}}
      "422": {description: "student_id names no student"}
      "503": {description: "login cannot be asked who student_id names right now (Retry-After)"}
    """
    await authenticate(request, *ADMINS)
    page = page_of(request)
    query = select(holds)
    given, ctx = request.query_params.get("student_id", ""), context_of(request)
    if given and has_directory(ctx):  # an id, a student number or a username
        student: int | None = (await one(ctx, given, "student", "student_id")).id
    else:
        student = number_param(request, "student_id")
    if student is not None:
        query = query.where(holds.c.student_id == student)
    async with context_of(request).database.read() as conn:
        return JSONResponse(await rows_page(conn, query, holds.c.id, page))


async def add_hold(request: Request) -> Response:
    """Block a student's registration, with a reason they will see.
    ---
    summary: Add a hold
    tags: [registration]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/HoldIn"}}}
    responses:
      "201":
        description: "The hold"
        content: {application/json: {schema: {$ref: "#/components/schemas/Hold"}}}
      "422": {description: "Invalid fields, or a student_id naming no student"}
    """
    actor = await authenticate(request, *ADMINS)
    body = await read_json(request, HoldIn)
    ctx = context_of(request)
    student = await one(ctx, body.student_id, "student", "student_id")
    async with ctx.master_write() as conn:
        result = await conn.execute(
            holds.insert().values(
                student_id=student.id, reason=body.reason, created_by=actor.username, created_at=time.time()
            )
        )
        row = (await conn.execute(select(holds).where(holds.c.id == result.inserted_primary_key[0]))).one()  # type: ignore[index]
        await record(conn, actor.username, "hold-add", time.time(), student_id=student.id, reason=body.reason)
    return JSONResponse(dict(row._mapping), status_code=201)


async def remove_hold(request: Request) -> Response:
    """Lift a hold.
    ---
    summary: Remove a hold
    tags: [registration]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    responses:
      "204": {description: "Lifted"}
      "404": {description: "No such hold"}
    """
    actor = await authenticate(request, *ADMINS)
    ctx = context_of(request)
    async with ctx.master_write() as conn:
        hold = (await conn.execute(select(holds).where(holds.c.id == request.path_params["id"]))).first()
        if hold is None:
            raise NotFound(f"no hold {request.path_params['id']}")
        await conn.execute(delete(holds).where(holds.c.id == hold.id))
        await record(conn, actor.username, "hold-remove", time.time(), student_id=hold.student_id, reason=hold.reason)
    return Response(status_code=204)


def admin_routes() -> list[BaseRoute]:
    return [
        Route("/windows", get_windows, methods=["GET"]),
        Route("/windows", on_master(put_windows), methods=["PUT"]),
        Route("/holds", list_holds, methods=["GET"]),
        Route("/holds", on_master(add_hold), methods=["POST"]),
        Route("/holds/{id:int}", on_master(remove_hold), methods=["DELETE"]),
    ]
