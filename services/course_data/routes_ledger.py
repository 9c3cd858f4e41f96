"""Internal endpoints of the ledger (service tokens only): decisions and a student's courses."""

from __future__ import annotations

import time

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from services.common.body import read_json
from services.common.context import context_of
from services.common.forwarding import on_master
from services.common.internal import require_internal
from services.course_data.catalogue import courses_json
from services.course_data.models import LedgerRequest
from services.course_data.rules import Decision
from services.course_data.state import ledger_of
from storage.schemas.course_data import courses, enrollments, waitlist


def decision_json(decision: Decision) -> dict[str, object]:
    return {
        "outcome": decision.outcome,
        "type": decision.type,
        "reason": decision.reason,
        "via_permit": decision.via_permit,
        **decision.details,
    }


async def decide(request: Request) -> Response:
    """Apply one enrollment change in one fenced transaction, with every rule checked.
    ---
    summary: Ledger decision (internal)
    tags: [internal]
    parameters:
      - {in: header, name: X-Internal-Token, required: true, schema: {type: string}}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/LedgerRequest"}}}
    responses:
      "200": {description: "outcome: accepted, waitlisted or rejected (with type and reason)"}
    """
    body = await read_json(request, LedgerRequest)
    ctx, ledger = context_of(request), ledger_of(request)
    now = time.time()
    async with ctx.database.write(fence=ctx.cluster.master.fence()) as conn:
        if body.action == "enroll":
            decision = await ledger.enroll(conn, body.student_id, body.cohort, body.course_id, body.actor, now)
        elif body.action == "drop":
            decision = await ledger.drop(conn, body.student_id, body.cohort, body.course_id, body.actor, now)
        elif body.drop_course_id is None:
            decision = Decision("rejected", "invalid-swap", "a swap needs drop_course_id")
        else:
            decision = await ledger.swap(
                conn, body.student_id, body.cohort, body.drop_course_id, body.course_id, body.actor, now
            )
    return JSONResponse(decision_json(decision))


async def student_courses(request: Request) -> Response:
    """A student's enrollments and waitlist places (with positions).
    ---
    summary: A student's courses (internal)
    tags: [internal]
    parameters:
      - {in: header, name: X-Internal-Token, required: true, schema: {type: string}}
      - {in: path, name: id, required: true, schema: {type: integer}}
    responses:
      "200": {description: "enrolled: courses; waitlisted: courses with position"}
    """
    require_internal(request)
    student_id = request.path_params["id"]
    async with context_of(request).database.read() as conn:
        enrolled = (
            await conn.execute(
                select(courses)
                .join(enrollments, enrollments.c.course_id == courses.c.id)
                .where(enrollments.c.student_id == student_id)
                .order_by(courses.c.code)
            )
        ).all()
        mine = (await conn.execute(select(waitlist).where(waitlist.c.student_id == student_id))).all()
        waiting = []
        for entry in mine:
            ahead = (
                await conn.execute(
                    select(func.count())
                    .select_from(waitlist)
                    .where(waitlist.c.course_id == entry.course_id, waitlist.c.id < entry.id)
                )
            ).scalar_one()
            row = (await conn.execute(select(courses).where(courses.c.id == entry.course_id))).one()
            waiting.append({**(await courses_json(conn, [row]))[0], "position": ahead + 1})
        return JSONResponse({"enrolled": await courses_json(conn, list(enrolled)), "waitlisted": waiting})


def ledger_routes() -> list[BaseRoute]:
    return [
        Route("/internal/ledger", on_master(decide, authorize=require_internal), methods=["POST"]),
        Route("/internal/students/{id:int}/courses", student_courses, methods=["GET"]),
    ]
