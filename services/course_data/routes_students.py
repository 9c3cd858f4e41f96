"""What the student service shows a student, read for one student (service tokens only)."""

from __future__ import annotations

import time

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.context import context_of
from services.common.internal import require_internal
from services.common.pagination import whole_number
from services.common.problems import ValidationFailed
from services.common.registration import Standing
from services.course_data.catalogue import courses_json, search_page
from services.course_data.rules import Permit, decide_enroll
from services.course_data.state import ledger_of
from services.course_data.terms import term_json, term_named
from storage.schemas.course_data import courses, enrollments, permits, waitlist


async def student_courses(request: Request) -> Response:
    """A student's enrollments and waitlist places (with positions) in one term.
    ---
    summary: A student's courses (internal)
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: id, required: true, schema: {type: integer}}
      - {in: query, name: term, schema: {type: string}, description: "code or id; default current"}
    responses:
      "200":
        description: "term; enrolled: courses; waitlisted: courses with position"
        content: {application/json: {schema: {$ref: "#/components/schemas/StudentCourses"}}}
      "422": {description: "term names no term"}
    """
    require_internal(request)
    student_id = request.path_params["id"]
    ctx = context_of(request)
    async with ctx.database.read() as conn:
        term = await term_named(conn, request.query_params.get("term"))
        enrolled = (
            await conn.execute(
                select(courses)
                .join(enrollments, enrollments.c.course_id == courses.c.id)
                .where(enrollments.c.student_id == student_id, courses.c.term_id == term.id)
                .order_by(courses.c.code)
            )
        ).all()
        of_term = select(courses.c.id).where(courses.c.term_id == term.id)
        mine = (
            await conn.execute(
                select(waitlist).where(waitlist.c.student_id == student_id, waitlist.c.course_id.in_(of_term))
            )
        ).all()
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
        return JSONResponse(
            {
                "term": term_json(term, ctx.cluster.settings().course),
                "enrolled": await courses_json(conn, list(enrolled)),
                "waitlisted": waiting,
            }
        )


async def student_catalogue(request: Request) -> Response:
    """A catalogue page with, for each course, what enrolling now would give this student, and why.
    ---
    summary: The catalogue for one student (internal)
    description: The same search and page parameters as GET /courses. Each course carries `outcome`
      (accepted, waitlisted or rejected), `can_enroll`, and for a rejection the rule's `type` and `reason`,
      decided by the ledger's own rules on the facts read now (the ledger decides again when asked).
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: id, required: true, schema: {type: integer}}
      - {in: query, name: cohort, schema: {type: integer}}
      - {in: query, name: program, schema: {type: string}, description: "the student's program (restrictions)"}
      - {in: query, name: year, schema: {type: integer}, description: "the student's year of study"}
      - {in: query, name: priority_group, schema: {type: string}, description: "the student's priority group"}
    responses:
      "200":
        description: "items (courses with outcome, can_enroll, type, reason), page, page_size, total"
        content: {application/json: {schema: {$ref: "#/components/schemas/CourseForStudentPage"}}}
    """
    require_internal(request)
    student_id = request.path_params["id"]
    standing = standing_param(request)
    ledger, now = ledger_of(request), time.time()
    async with context_of(request).database.read() as conn:
        answer = await search_page(conn, request)
        student = await ledger.student(conn, student_id, standing)
        ids = [c["id"] for c in answer["items"]]
        mine = await conn.execute(
            select(permits).where(permits.c.student_id == student_id, permits.c.course_id.in_(ids))
        )
        granted = {p.course_id: Permit(p.capacity, p.prerequisites, bool(p.consent)) for p in mine}
        facts = await ledger.courses(conn, ids)  # the very facts the ledger decides on
    for course in answer["items"]:
        decision = decide_enroll(student, facts[course["id"]], granted.get(course["id"], Permit()), ledger.rules(), now)
        course.update(
            outcome=decision.outcome,
            can_enroll=decision.ok,
            type=decision.type,
            reason=decision.reason or "a seat is free",
        )
    return JSONResponse(answer)


def student_view_routes() -> list[BaseRoute]:
    return [
        Route("/internal/students/{id:int}/courses", student_courses, methods=["GET"]),
        Route("/internal/students/{id:int}/catalogue", student_catalogue, methods=["GET"]),
    ]


def standing_param(request: Request) -> Standing:
    """The student's standing as an internal caller names it in the query (`cohort`, `program`,
    `year`, `priority_group`: the token's, which the calling node read); 422 for a bad number."""
    raw_cohort = request.query_params.get("cohort", "")
    cohort = whole_number(raw_cohort)
    if raw_cohort and cohort is None:
        raise ValidationFailed("cohort: a year", errors=[{"field": "cohort", "message": "a year"}])
    raw_year = request.query_params.get("year", "")
    year = whole_number(raw_year)
    if raw_year and year is None:
        raise ValidationFailed("year: a year of study", errors=[{"field": "year", "message": "a whole number"}])
    return Standing(
        cohort,
        request.query_params.get("program") or None,
        year,
        request.query_params.get("priority_group") or None,
    )
