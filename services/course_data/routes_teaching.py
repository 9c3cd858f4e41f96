"""Internal endpoints for the teacher service: a teacher's own courses, rosters, removals, permits.

The acting teacher's id is in the path; a course of another teacher answers 404, so a
teacher can neither see nor change another teacher's courses.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.body import read_json
from services.common.context import context_of
from services.common.forwarding import on_master
from services.common.internal import require_internal
from services.common.problems import NotFound
from services.common.teaching import PermitIn, Removal
from services.course_data.audit import record
from services.course_data.catalogue import courses_json
from services.course_data.models import CourseIn, CoursePatch
from services.course_data.people import one
from services.course_data.rosters import read_roster, with_people
from services.course_data.routes_courses import apply_course_patch, insert_course
from services.course_data.state import ledger_of
from storage.schemas.course_data import courses, permits


async def _own_course(conn: AsyncConnection, teacher_id: int, course_id: int) -> dict[str, Any]:
    course = (
        await conn.execute(select(courses).where(courses.c.id == course_id, courses.c.teacher_id == teacher_id))
    ).first()
    if course is None:
        raise NotFound(f"you teach no course {course_id}")
    return (await courses_json(conn, [course]))[0]


def _ids(request: Request) -> tuple[int, int]:
    return int(request.path_params["teacher_id"]), int(request.path_params.get("course_id", 0))


async def own_courses(request: Request) -> Response:
    """A teacher's courses (internal).
    ---
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: teacher_id, required: true, schema: {type: integer}}
    responses:
      "200":
        description: "items: the teacher's courses"
        content: {application/json: {schema: {$ref: "#/components/schemas/CourseList"}}}
    """
    require_internal(request)
    teacher_id, _ = _ids(request)
    async with context_of(request).database.read() as conn:
        rows = (
            await conn.execute(select(courses).where(courses.c.teacher_id == teacher_id).order_by(courses.c.code))
        ).all()
        return JSONResponse({"items": await courses_json(conn, list(rows))})


async def create_own(request: Request) -> Response:
    """Create a course taught by this teacher (internal).
    ---
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: teacher_id, required: true, schema: {type: integer}}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/CourseIn"}}}
    responses:
      "201":
        description: "The course"
        content: {application/json: {schema: {$ref: "#/components/schemas/Course"}}}
      "409": {description: "The code is taken"}
    """
    teacher_id, _ = _ids(request)
    return await insert_course(request, await read_json(request, CourseIn), f"teacher:{teacher_id}", teacher_id)


async def update_own(request: Request) -> Response:
    """Change an own course: capacity never below seats taken; no new clash for its students (internal).
    ---
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: teacher_id, required: true, schema: {type: integer}}
      - {in: path, name: course_id, required: true, schema: {type: integer}}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/CoursePatch"}}}
    responses:
      "200":
        description: "The course"
        content: {application/json: {schema: {$ref: "#/components/schemas/Course"}}}
    """
    teacher_id, course_id = _ids(request)
    body = await read_json(request, CoursePatch)
    return await apply_course_patch(request, course_id, body, f"teacher:{teacher_id}", teacher_id)


async def roster(request: Request) -> Response:
    """The students of an own course and its waitlist in order, with names (internal).
    ---
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: teacher_id, required: true, schema: {type: integer}}
      - {in: path, name: course_id, required: true, schema: {type: integer}}
    responses:
      "200":
        description: The roster, as GET /courses/{id}/roster answers it
        content: {application/json: {schema: {$ref: "#/components/schemas/Roster"}}}
    """
    require_internal(request)
    teacher_id, course_id = _ids(request)
    ctx = context_of(request)
    async with ctx.database.read() as conn:
        found = await read_roster(conn, course_id, teacher_id)
    return JSONResponse(await with_people(ctx, found))


async def remove_student(request: Request) -> Response:
    """Take a student out of an own course, with a reason; the seat goes to the waitlist (internal).
    ---
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: teacher_id, required: true, schema: {type: integer}}
      - {in: path, name: course_id, required: true, schema: {type: integer}}
      - {in: path, name: student_id, required: true, schema: {type: integer}}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/Removal"}}}
    responses:
      "204": {description: "Removed"}
      "404": {description: "Not your course, or the student is not in it"}
    """
    teacher_id, course_id = _ids(request)
    student_id = int(request.path_params["student_id"])
    body = await read_json(request, Removal)
    ctx = context_of(request)
    async with ctx.master_write() as conn:
        await _own_course(conn, teacher_id, course_id)
        actor = f"teacher:{teacher_id}"
        if not await ledger_of(request).remove(conn, student_id, course_id, actor, body.reason, time.time()):
            raise NotFound(f"student {student_id} is not enrolled in this course")
    return Response(status_code=204)


async def grant_permit(request: Request) -> Response:
    """Let one student past capacity and/or prerequisites of an own course, or consent (internal).
    ---
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: teacher_id, required: true, schema: {type: integer}}
      - {in: path, name: course_id, required: true, schema: {type: integer}}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/PermitIn"}}}
    responses:
      "201":
        description: "The permit"
        content: {application/json: {schema: {$ref: "#/components/schemas/Permit"}}}
      "422": {description: "Invalid fields, or a student_id naming no student"}
    """
    teacher_id, course_id = _ids(request)
    body = await read_json(request, PermitIn)
    ctx = context_of(request)
    student = await one(ctx, body.student_id, "student", "student_id")
    permit = {**body.model_dump(), "student_id": student.id}
    async with ctx.master_write() as conn:
        await _own_course(conn, teacher_id, course_id)
        await conn.execute(delete(permits).where(permits.c.course_id == course_id, permits.c.student_id == student.id))
        await conn.execute(
            permits.insert().values(
                course_id=course_id, **permit, created_by=f"teacher:{teacher_id}", created_at=time.time()
            )
        )
        await record(
            conn,
            f"teacher:{teacher_id}",
            "permit",
            time.time(),
            student_id=student.id,
            course_id=course_id,
            reason=", ".join(k for k in ("capacity", "prerequisites", "consent") if getattr(body, k)),
        )
        await ledger_of(request).promote(conn, course_id, f"teacher:{teacher_id}", time.time())  # may now fit
    return JSONResponse({"course_id": course_id, **permit}, status_code=201)


def teaching_routes() -> list[BaseRoute]:
    base = "/internal/teaching/{teacher_id:int}/courses"
    return [
        Route(base, own_courses, methods=["GET"]),
        Route(base, on_master(create_own, authorize=require_internal), methods=["POST"]),
        Route(base + "/{course_id:int}", on_master(update_own, authorize=require_internal), methods=["PATCH"]),
        Route(base + "/{course_id:int}/roster", roster, methods=["GET"]),
        Route(
            base + "/{course_id:int}/students/{student_id:int}",
            on_master(remove_student, authorize=require_internal),
            methods=["DELETE"],
        ),
        Route(base + "/{course_id:int}/permits", on_master(grant_permit, authorize=require_internal), methods=["POST"]),
    ]
