"""The registrar's desk: one student's whole picture, and enroll, drop and swap on their behalf.

The desk lives in course_data because the ledger does: a desk action is decided by the
ledger's own rules (`rules.py`) in one fenced write transaction on the course_data master,
with its audit record in that same transaction. It goes to the ledger directly, not through
the rush queue: it is decided at once, between two of the queue's batches, like a teacher's
removal. A registrar names the rules to skip (`rules.Override`); each skips exactly its
rule. The seat guard in the data (`taken < capacity` in the update) still holds unless
`capacity` is named; then the seat is taken past capacity, as a capacity permit does.

A student is named by internal id, student number or username (`resolve`).
The picture's queue requests are those the ledger decided (its `queue_decisions`), and how
many are still waiting, as the queue service counts them (`q:o:<student>` in its Redis).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import ADMINS, authenticate
from services.common.body import read_json
from services.common.calls import DependencyUnavailable, call_service
from services.common.context import context_of
from services.common.directory import Person, resolve
from services.common.forwarding import on_master
from services.common.problems import NotFound, problem_response
from services.course_data.catalogue import courses_json
from services.course_data.desk_models import DeskDrop, DeskEnroll, DeskSwap
from services.course_data.groups import enroll_group
from services.course_data.ledger import Desk
from services.course_data.rules import Decision
from services.course_data.state import ledger_of
from storage.schemas.course_data import (
    completed_courses,
    courses,
    enrollments,
    holds,
    ledger_audit,
    permits,
    queue_decisions,
    waitlist,
)

log = logging.getLogger("course_selection.desk")
AUDIT_SHOWN = 100
DECISIONS_SHOWN = 100


def person_out(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "username": person.username,
        "full_name": person.full_name,
        "email": person.email,
        "student_number": person.student_number,
        "cohort": person.cohort,
        # The registrar's rules' other inputs: what restrictions and priority windows read.
        "program": person.program,
        "year": person.year,
        "priority_group": person.priority_group,
    }


async def student_named(request: Request) -> Person:
    """The student the path names (id, student number or username); 404 if no student is."""
    ref = request.path_params["ref"]
    found = await resolve(context_of(request), [ref], role="student")
    if ref not in found:
        raise NotFound(f"no student {ref!r}: give an id, a student number or a username")
    return found[ref]


async def _rows(conn: AsyncConnection, query: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in await conn.execute(query)]


async def read_picture(conn: AsyncConnection, student_id: int) -> dict[str, Any]:
    """Everything the ledger holds about one student (no names: those are login's)."""
    mine = (
        await conn.execute(
            select(courses, enrollments.c.created_at.label("enrolled_at"), enrollments.c.via_permit)
            .join(enrollments, enrollments.c.course_id == courses.c.id)
            .where(enrollments.c.student_id == student_id)
            .order_by(courses.c.code)
        )
    ).all()
    enrolled = [
        {**shown, "enrolled_at": row.enrolled_at, "via_permit": bool(row.via_permit)}
        for shown, row in zip(await courses_json(conn, list(mine)), mine, strict=True)
    ]
    places = (await conn.execute(select(waitlist).where(waitlist.c.student_id == student_id))).all()
    waitlisted = []
    for place in places:
        ahead = (
            await conn.execute(
                select(func.count())
                .select_from(waitlist)
                .where(waitlist.c.course_id == place.course_id, waitlist.c.id < place.id)
            )
        ).scalar_one()
        row = (await conn.execute(select(courses).where(courses.c.id == place.course_id))).one()
        shown = (await courses_json(conn, [row]))[0]
        waitlisted.append({**shown, "position": ahead + 1, "joined_at": place.created_at})
    done = await conn.execute(
        select(completed_courses.c.course_code)
        .where(completed_courses.c.student_id == student_id)
        .order_by(completed_courses.c.course_code)
    )
    return {
        "enrolled": enrolled,
        "waitlisted": waitlisted,
        "holds": await _rows(conn, select(holds).where(holds.c.student_id == student_id).order_by(holds.c.id)),
        "completed": list(done.scalars()),
        "permits": await _rows(
            conn, select(permits).where(permits.c.student_id == student_id).order_by(permits.c.course_id)
        ),
        "queue_requests": await _rows(
            conn,
            select(
                queue_decisions.c.request_id,
                queue_decisions.c.action,
                queue_decisions.c.course_id,
                queue_decisions.c.drop_course_id,
                queue_decisions.c.outcome,
                queue_decisions.c.type,
                queue_decisions.c.reason,
                queue_decisions.c.decided_at,
            )
            .where(queue_decisions.c.student_id == student_id)
            .order_by(queue_decisions.c.seq.desc())
            .limit(DECISIONS_SHOWN),
        ),
        "audit": await _rows(
            conn,
            select(ledger_audit)
            .where(ledger_audit.c.student_id == student_id)
            .order_by(ledger_audit.c.id.desc())
            .limit(AUDIT_SHOWN),
        ),
    }


async def _open_requests(request: Request, student_id: int) -> int | None:
    """How many of the student's requests wait in the queue (None if the queue cannot say now)."""
    try:
        answer = await call_service(request, "queue", "GET", f"/internal/queue/students/{student_id}/open")
    except DependencyUnavailable as exc:
        log.info("the queue cannot count open requests", extra={"error": str(exc)})
        return None
    if answer.status_code != 200:
        return None
    return int(answer.json()["open"])


async def picture(request: Request) -> Response:
    """One student's whole picture: enrollments, waitlists, holds, completed courses, permits, queue requests, audit.
    ---
    summary: A student at the desk
    description: "The student is named by internal id, student number or username. Queue requests are
      those the ledger decided for the student (newest first) and how many still wait in the queue."
    tags: [desk]
    security: [{bearer: []}]
    parameters:
      - {in: path, name: ref, required: true, schema: {type: string}, description: "id, student number or username"}
    responses:
      "200":
        description: The student's picture
        content: {application/json: {schema: {$ref: "#/components/schemas/StudentPicture"}}}
      "404": {description: "No such student"}
    """
    await authenticate(request, *ADMINS)
    person = await student_named(request)
    async with context_of(request).database.read() as conn:
        found = await read_picture(conn, person.id)
    found["open_queue_requests"] = await _open_requests(request, person.id)
    return JSONResponse({"student": person_out(person), **found})


async def _act(request: Request, action: str, body: DeskEnroll | DeskDrop | DeskSwap) -> Response:
    person = await student_named(request)
    admin = await authenticate(request, *ADMINS)
    ctx, ledger = context_of(request), ledger_of(request)
    desk = Desk(body.reason, frozenset(body.overrides))
    now, cohort = time.time(), person.standing
    drop_id: int | None = None
    async with ctx.master_write() as conn:
        if isinstance(body, DeskSwap):
            course_id, drop_id = body.add_course_id, body.drop_course_id
            decision: Decision = await ledger.swap(
                conn, person.id, cohort, drop_id, course_id, admin.username, now, desk
            )
        elif isinstance(body, DeskDrop):
            course_id = body.course_id
            decision = await ledger.drop(conn, person.id, cohort, course_id, admin.username, now, desk)
        elif body.section_ids is not None:  # a section group, all or nothing
            course_id = body.section_ids[0]
            decision = await enroll_group(ledger, conn, person.id, cohort, body.section_ids, admin.username, now, desk)
        else:
            assert body.course_id is not None
            course_id = body.course_id
            decision = await ledger.enroll(conn, person.id, cohort, course_id, admin.username, now, desk)
    shown = {"action": action, "overrides": body.overrides, "desk_reason": body.reason, **decision.details}
    if decision.outcome == "rejected":
        return problem_response(409, decision.type, "Desk action refused", decision.reason, request, shown)
    return JSONResponse(
        {
            "student": person_out(person),
            "course_id": course_id,
            "drop_course_id": drop_id,
            "outcome": decision.outcome,
            "reason": decision.reason,
            "via_permit": decision.via_permit,
            **shown,
        }
    )


async def _body(request: Request, model: type[BaseModel]) -> Any:
    await authenticate(request, *ADMINS)  # who may ask, before what they ask is read
    return await read_json(request, model)


async def desk_enroll(request: Request) -> Response:
    """Enroll the student now, decided by the ledger's rules less the overrides named; audited with the reason.
    ---
    summary: Enroll for a student
    description: "Straight to the ledger (not through the rush queue). Without the capacity override a full
      course puts the student on its waitlist, as it would for them."
    tags: [desk]
    security: [{bearer: []}]
    parameters:
      - {in: path, name: ref, required: true, schema: {type: string}, description: "id, student number or username"}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/DeskEnroll"}}}
    responses:
      "200":
        description: Enrolled, or waitlisted
        content: {application/json: {schema: {$ref: "#/components/schemas/DeskDecision"}}}
      "404": {description: "No such student"}
      "409": {description: "Refused by a rule not overridden (the type names it); only the audit record was written"}
    """
    return await _act(request, "enroll", await _body(request, DeskEnroll))


async def desk_drop(request: Request) -> Response:
    """Drop a course (or leave its waitlist) for the student; audited with the reason.
    ---
    summary: Drop for a student
    description: "Straight to the ledger. The drop deadline holds unless `drop-deadline` is named; a freed
      seat goes to the next eligible student on the waitlist."
    tags: [desk]
    security: [{bearer: []}]
    parameters:
      - {in: path, name: ref, required: true, schema: {type: string}, description: "id, student number or username"}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/DeskDrop"}}}
    responses:
      "200":
        description: Dropped
        content: {application/json: {schema: {$ref: "#/components/schemas/DeskDecision"}}}
      "404": {description: "No such student"}
      "409": {description: "Refused (not-enrolled, drop-deadline); only the audit record was written"}
    """
    return await _act(request, "drop", await _body(request, DeskDrop))


async def desk_swap(request: Request) -> Response:
    """Drop one course only if another is accepted, atomically, for the student; audited with the reason.
    ---
    summary: Swap for a student
    tags: [desk]
    security: [{bearer: []}]
    parameters:
      - {in: path, name: ref, required: true, schema: {type: string}, description: "id, student number or username"}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/DeskSwap"}}}
    responses:
      "200":
        description: Swapped
        content: {application/json: {schema: {$ref: "#/components/schemas/DeskDecision"}}}
      "404": {description: "No such student"}
      "409": {description: "Refused; nothing changed but the audit record"}
    """
    return await _act(request, "swap", await _body(request, DeskSwap))


def desk_routes() -> list[BaseRoute]:
    base = "/desk/students/{ref}"
    return [
        Route(base, picture, methods=["GET"]),
        Route(base + "/enroll", on_master(desk_enroll), methods=["POST"]),
        Route(base + "/drop", on_master(desk_drop), methods=["POST"]),
        Route(base + "/swap", on_master(desk_swap), methods=["POST"]),
    ]
