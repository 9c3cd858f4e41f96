"""Rosters for people: who is enrolled in a course and who waits for it, in order, by name.

The ledger holds internal ids only; names, student numbers and emails live in the login
service, asked once per roster (`services/common/directory.py`) after the ledger's read
transaction is over. Admins read every course's roster; a teacher reads their own (another
teacher's course answers 404, as everywhere a teacher's course is named).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import ADMINS, authenticate
from services.common.context import NodeContext, context_of
from services.common.csv_out import csv_response, roster_csv, wants_csv
from services.common.directory import Person, people_by_id
from services.common.problems import NotFound
from services.course_data.catalogue import courses_json
from storage.schemas.course_data import courses, enrollments, waitlist


def person_json(person: Person | None) -> dict[str, Any]:
    """The fields a roster, an export and the desk show of a person (empty if login has none)."""
    return {
        "student_number": person.student_number if person else None,
        "full_name": person.full_name if person else "",
        "email": person.email if person else "",
        "username": person.username if person else "",
    }


async def read_roster(conn: AsyncConnection, course_id: int, teacher_id: int | None = None) -> dict[str, Any]:
    """The course, its students (in order of enrollment) and its waitlist (in order), by id;
    404 when there is no such course (of `teacher_id`, if given)."""
    query = select(courses).where(courses.c.id == course_id)
    if teacher_id is not None:
        query = query.where(courses.c.teacher_id == teacher_id)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"you teach no course {course_id}" if teacher_id is not None else f"no course {course_id}")
    enrolled = await conn.execute(
        select(enrollments)
        .where(enrollments.c.course_id == course_id)
        .order_by(enrollments.c.created_at, enrollments.c.id)
    )
    waiting = await conn.execute(select(waitlist).where(waitlist.c.course_id == course_id).order_by(waitlist.c.id))
    return {
        "course": (await courses_json(conn, [row]))[0],
        "students": [
            {"student_id": r.student_id, "enrolled_at": r.created_at, "via_permit": bool(r.via_permit)}
            for r in enrolled
        ],
        "waitlist": [
            {"position": n, "student_id": r.student_id, "joined_at": r.created_at} for n, r in enumerate(waiting, 1)
        ],
    }


async def with_people(ctx: NodeContext, roster: dict[str, Any]) -> dict[str, Any]:
    """The roster with each student's name, student number and email (one call to login)."""
    entries = [*roster["students"], *roster["waitlist"]]
    people = await people_by_id(ctx, {e["student_id"] for e in entries})
    for entry in entries:
        entry.update(person_json(people.get(entry["student_id"])))
    return roster


def roster_answer(request: Request, roster: dict[str, Any]) -> Response:
    if wants_csv(request.headers.get("accept", ""), request.query_params.get("format")):
        return csv_response(roster_csv(roster), f"roster-{roster['course']['code']}.csv")
    return JSONResponse(roster)


async def course_roster(request: Request) -> Response:
    """A course's roster: every enrolled student and the waitlist in order, with names, student numbers and emails.
    ---
    summary: Course roster
    description: "Admins read every course's roster; a teacher reads the roster of a course they teach
      (another course answers 404). JSON, or CSV with `Accept: text/csv` or `?format=csv` (one row per
      enrolled student, then one per waitlist place in order; cells a spreadsheet would run as a formula
      begin with `'`)."
    tags: [registration]
    security: [{bearer: []}]
    parameters:
      - {in: path, name: id, required: true, schema: {type: integer}}
      - {in: query, name: format, schema: {type: string, enum: [json, csv]}}
    responses:
      "200":
        description: The roster
        content:
          application/json: {schema: {$ref: "#/components/schemas/Roster"}}
          text/csv: {schema: {type: string}}
      "403": {description: "Not an admin or a teacher"}
      "404": {description: "No such course (or, for a teacher, not theirs)"}
    """
    me = await authenticate(request, *ADMINS, "teacher")
    ctx = context_of(request)
    async with ctx.database.read() as conn:
        roster = await read_roster(conn, request.path_params["id"], None if me.is_admin else me.user_id)
    return roster_answer(request, await with_people(ctx, roster))


def roster_routes() -> list[BaseRoute]:
    return [Route("/courses/{id:int}/roster", course_roster, methods=["GET"])]
