"""`/courses`: the catalogue (any signed-in user) and its administration (admins)."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import ADMINS, authenticate
from services.common.body import read_json
from services.common.context import context_of
from services.common.course_models import DETAIL_FIELDS, SECTION_FIELDS
from services.common.csv_body import csv_bytes
from services.common.forwarding import on_master
from services.common.jobs import accepted, jobs_of
from services.common.problems import Conflict, NotFound
from services.course_data.audit import record
from services.course_data.catalogue import courses_json, search_page
from services.course_data.course_csv import run_course_import
from services.course_data.group_seats import forget_section
from services.course_data.models import CourseIn, CoursePatch, MeetingIn, minutes
from services.course_data.page_cache import CachedPage
from services.course_data.people import Named, one, refused
from services.course_data.rules import Meeting
from services.course_data.seats import lock_courses
from services.course_data.sections import groups_broken_by, offering_ids
from services.course_data.state import course_data_of, ledger_of
from services.course_data.terms import term_named
from storage.schemas.course_data import (
    consent_courses,
    corequisites,
    course_restrictions,
    courses,
    enrollments,
    meetings,
    prerequisites,
)


def _answer(request: Request, page: CachedPage) -> Response:
    if page.etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": page.etag})
    return Response(page.body, media_type="application/json", headers={"ETag": page.etag, "Cache-Control": "no-cache"})


async def list_courses(request: Request) -> Response:
    """Search the catalogue.
    ---
    summary: Search courses
    description: Each course shows capacity, seats taken, waitlist length and meeting times. Answers
      carry an ETag; send it back in If-None-Match to get 304 when nothing changed.
    tags: [courses]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: q, schema: {type: string}, description: "part of code, title or description"}
      - {in: query, name: department, schema: {type: string}}
      - {in: query, name: teacher, schema: {type: string}, description: "teacher id or part of the name"}
      - {in: query, name: day, schema: {type: string}, description: "mon..sun or 0..6"}
      - {in: query, name: credits, schema: {type: integer}}
      - {in: query, name: has_seats, schema: {type: boolean}}
      - {in: query, name: term, schema: {type: string}, description: "code or id; default current; all"}
      - $ref: "#/components/parameters/Page"
      - $ref: "#/components/parameters/PageSize"
    responses:
      "200":
        description: "items, page, page_size, total"
        content: {application/json: {schema: {$ref: "#/components/schemas/CoursePage"}}}
      "304": {description: "Not modified"}
    """
    await authenticate(request)

    async def compute() -> CachedPage:
        async with context_of(request).database.read() as conn:
            return CachedPage.of(await search_page(conn, request))

    key = ("search", tuple(sorted(request.query_params.multi_items())))
    return _answer(request, await course_data_of(request).pages.get(key, compute))


async def course_by_id(conn: AsyncConnection, course_id: int) -> dict[str, Any]:
    """The course, with `sections`: every section of its offering (itself included), in brief."""
    row = (await conn.execute(select(courses).where(courses.c.id == course_id))).first()
    if row is None:
        raise NotFound(f"no course {course_id}")
    siblings = select(courses).where(courses.c.term_id == row.term_id, courses.c.code == row.code)
    offering = (await conn.execute(siblings.order_by(courses.c.section, courses.c.id))).all()
    brief = ("id", "section", "kind", "linked_to", "teacher_name", "location", "capacity", "seats_left", "meetings")
    every = await courses_json(conn, list(offering))
    mine = next(s for s in every if s["id"] == course_id)
    return {**mine, "sections": [{k: s[k] for k in brief} for s in every]}


async def get_course(request: Request) -> Response:
    """One course.
    ---
    summary: Get a course
    tags: [courses]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    responses:
      "200":
        description: "The course"
        content: {application/json: {schema: {$ref: "#/components/schemas/Course"}}}
      "404": {description: "No such course"}
    """
    await authenticate(request)
    course_id = request.path_params["id"]

    async def compute() -> CachedPage:
        async with context_of(request).database.read() as conn:
            return CachedPage.of(await course_by_id(conn, course_id))

    return _answer(request, await course_data_of(request).pages.get(("course", course_id), compute))


async def _set_details(conn: AsyncConnection, course_id: int, body: CourseIn | CoursePatch) -> None:
    """The course's rows in other tables: meetings, prerequisites, and the registrar's
    eligibility rules (corequisites, restrictions, instructor consent); those not given stay."""
    times: list[MeetingIn] | None = body.meetings
    needs: list[str] | None = body.prerequisites
    if body.corequisites is not None:
        await conn.execute(delete(corequisites).where(corequisites.c.course_id == course_id))
        for code in body.corequisites:
            await conn.execute(corequisites.insert().values(course_id=course_id, required_code=code))
    if body.restrictions is not None:
        await conn.execute(delete(course_restrictions).where(course_restrictions.c.course_id == course_id))
        for kind, value in body.restrictions.rows():
            await conn.execute(course_restrictions.insert().values(course_id=course_id, kind=kind, value=value))
    if body.consent_required is not None:
        await conn.execute(delete(consent_courses).where(consent_courses.c.course_id == course_id))
        if body.consent_required:
            await conn.execute(consent_courses.insert().values(course_id=course_id))
    if times is not None:
        await conn.execute(delete(meetings).where(meetings.c.course_id == course_id))
        for m in times:
            await conn.execute(
                meetings.insert().values(
                    course_id=course_id, weekday=m.weekday, start_minute=minutes(m.start), end_minute=minutes(m.end)
                )
            )
    if needs is not None:
        await conn.execute(delete(prerequisites).where(prerequisites.c.course_id == course_id))
        for code in needs:
            await conn.execute(prerequisites.insert().values(course_id=course_id, required_code=code))


async def check_linked(
    conn: AsyncConnection, term_id: int, code: str, linked_to: int | None, kind: str, course_id: int | None = None
) -> None:
    """A section (`course_id`, None while it is created) of `kind` is linked only to another
    section of its own offering, of another kind (422 `linked_to` otherwise)."""
    if linked_to is None:
        return
    if linked_to == course_id:
        raise refused("linked_to", "a section cannot be linked to itself")
    target = (await conn.execute(select(courses).where(courses.c.id == linked_to))).first()
    if target is None:
        raise refused("linked_to", f"there is no course {linked_to}")
    if target.term_id != term_id:
        raise refused("linked_to", f"course {linked_to} is of another term: link a section of {code} in this term")
    if target.code != code:
        raise refused("linked_to", f"course {linked_to} is {target.code}, not a section of {code}")
    if target.kind == kind:
        raise refused(
            "linked_to", f"section {target.section or linked_to} is a {kind} too: link a section of another kind"
        )


async def check_section_change(conn: AsyncConnection, current: dict[str, Any], body: CoursePatch) -> None:
    """A PATCH of `section`, `kind` or `linked_to`: the link as at creation (422 `linked_to`), no
    section linked to it of its new kind (422 `kind`), its name unique in its offering (409),
    and no student left holding, or waiting for, sections of the offering that no longer fit
    together (409: a waiting group that broke could never be promoted)."""
    given = body.model_fields_set & SECTION_FIELDS
    if not given:
        return
    course_id, term_id, code = current["id"], current["term_id"], current["code"]
    section = body.section if body.section is not None else current["section"]
    kind = body.kind if body.kind is not None else current["kind"]
    linked_to = body.linked_to if "linked_to" in given else current["linked_to"]
    await check_linked(conn, term_id, code, linked_to, kind, course_id)
    same_kind = [s for s in current["sections"] if s["linked_to"] == course_id and s["kind"] == kind]
    if same_kind:
        named = same_kind[0]["section"] or same_kind[0]["id"]
        raise refused("kind", f"section {named} is linked to this one and is a {kind} too")
    if section != current["section"] and await code_taken(conn, term_id, code, section):
        raise Conflict(f"{code} has a section {section!r} in this term already")
    await refuse_broken_groups(conn, course_id, code, section, kind, linked_to)


async def refuse_broken_groups(
    conn: AsyncConnection,
    course_id: int,
    code: str,
    section: str,
    kind: str,
    linked_to: int | None,
    created: Collection[int] = (),
) -> None:
    """409 (nothing changed) if the section as given would break a group students hold or wait
    for (`sections.groups_broken_by`): on a PATCH, and on creating a section of an offering."""
    broken = await groups_broken_by(conn, course_id, section, kind, linked_to, created)
    if broken is not None:
        reason, students = broken
        raise Conflict(
            f"{len(students)} student(s) hold or wait for sections of {code} that would no longer fit together"
            f" ({reason}): nothing was changed; swap or drop them, or take them off the waitlist, first",
            students=students,
        )


async def code_taken(conn: AsyncConnection, term_id: int, code: str, section: str | None = None) -> bool:
    """Whether term `term_id` has a course `code` (codes are unique per term, not forever), or
    (given `section`) that section of it."""
    query = select(courses.c.id).where(courses.c.term_id == term_id, courses.c.code == code)
    if section is not None:
        query = query.where(courses.c.section == section)
    return (await conn.execute(query)).first() is not None


async def unknown_codes(conn: AsyncConnection, codes: list[str]) -> list[str]:
    """Those of `codes` no course in the catalogue has."""
    if not codes:
        return []
    known = set((await conn.execute(select(courses.c.code).where(courses.c.code.in_(codes)))).scalars())
    return sorted(set(codes) - known)


async def check_corequisites(conn: AsyncConnection, code: str, together: list[str] | None) -> None:
    """422 naming `corequisites` unless each is another course of the catalogue."""
    if not together:
        return
    if code in together:
        raise refused("corequisites", f"{code} cannot be its own corequisite")
    missing = await unknown_codes(conn, together)
    if missing:
        raise refused("corequisites", f"no course has the code(s) {', '.join(missing)}")


async def check_prerequisites(conn: AsyncConnection, code: str, needs: list[str] | None) -> None:
    """422 naming `prerequisites` unless each is another course of the catalogue (a course
    requiring an unknown code, or itself, could never be taken)."""
    if not needs:
        return
    if code in needs:
        raise refused("prerequisites", f"{code} cannot require itself")
    missing = await unknown_codes(conn, needs)
    if missing:
        raise refused("prerequisites", f"no course has the code(s) {', '.join(missing)}")
    cycle = await cycle_through(conn, code, needs)
    if cycle:
        raise refused("prerequisites", f"{' -> '.join(cycle)}: a cycle, no student could take them")


async def cycle_through(conn: AsyncConnection, code: str, needs: list[str]) -> list[str] | None:
    """A chain of the catalogue's prerequisites from `needs` back to `code` (None if there is none)."""
    paths = {need: [code, need] for need in needs}
    frontier = list(needs)
    while frontier:
        rows = await conn.execute(
            select(courses.c.code, prerequisites.c.required_code)
            .join(prerequisites, prerequisites.c.course_id == courses.c.id)
            .where(courses.c.code.in_(frontier))
        )
        frontier = []
        for have, need in rows:
            if need == code:
                return [*paths[have], code]
            if need not in paths:
                paths[need] = [*paths[have], need]
                frontier.append(need)
    return None


async def teacher_named(request: Request, ref: int | str | None) -> Named | None:
    """The teacher a body's `teacher_id` names (an id or a username); 422 if nobody or not a teacher."""
    return None if ref is None else await one(context_of(request), ref, "teacher", "teacher_id")


async def create_course(request: Request) -> Response:
    """Create a course.
    ---
    summary: Create a course
    tags: [courses]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/CourseIn"}}}
    responses:
      "201":
        description: "The course"
        content: {application/json: {schema: {$ref: "#/components/schemas/Course"}}}
      "409": {description: "The code is taken in the term"}
      "422": {description: "Invalid fields; a teacher_id naming no teacher, prerequisites or corequisites
        naming no course, or a term naming no term"}
    """
    actor = await authenticate(request, *ADMINS)
    return await insert_course(request, await read_json(request, CourseIn), actor.username)


async def insert_course(request: Request, body: CourseIn, actor: str, teacher_id: int | None = None) -> Response:
    """Create a course (for `teacher_id` when a teacher creates their own)."""
    ctx = context_of(request)
    values = body.model_dump(exclude=DETAIL_FIELDS | {"term"})
    if teacher_id is not None:
        values["teacher_id"] = teacher_id
    elif (teacher := await teacher_named(request, body.teacher_id)) is not None:
        values["teacher_id"] = teacher.id
        values["teacher_name"] = body.teacher_name or teacher.full_name
    try:
        async with ctx.master_write() as conn:
            term = await term_named(conn, body.term)
            await check_prerequisites(conn, body.code, body.prerequisites)
            await check_corequisites(conn, body.code, body.corequisites)
            if await code_taken(conn, term.id, body.code, body.section):
                named = f"{body.code} {body.section}" if body.section else body.code
                raise Conflict(f"term {term.code} has a course (section) {named!r}")
            await check_linked(conn, term.id, body.code, body.linked_to, body.kind)
            result = await conn.execute(
                courses.insert().values(**values, term_id=term.id, taken=0, updated_at=time.time())
            )
            course_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            await refuse_broken_groups(conn, course_id, body.code, body.section, body.kind, body.linked_to, {course_id})
            await _set_details(conn, course_id, body)
            await record(conn, actor, "course-create", time.time(), course_id=course_id, reason=body.code)
            created = await course_by_id(conn, course_id)
    except IntegrityError:  # (two requests at once)
        raise Conflict(f"the term has a course with code {body.code!r}") from None
    return JSONResponse(created, status_code=201)


async def import_courses(request: Request) -> Response:
    """Create courses from CSV, as a job: every row checked first; all are created or none.
    ---
    summary: Import courses (CSV)
    description: "Columns: code, title, department, teacher_id, teacher_name, credits, capacity,
      meetings (like 'Mon 09:00-10:30; Wed 09:00-10:30'), prerequisites (codes separated by spaces),
      location, description, corequisites (codes), consent_required (true or false), restrict_program,
      restrict_year, restrict_cohort (the restrictions, values separated by spaces). Code, title,
      credits and capacity are required; teacher_id is a
      teacher's id or username, each prerequisite a course of the catalogue or of the file (no
      cycle). Answers 202 at once with the job's URL (Location); GET it for progress, every bad
      row ({line, field, reason}, codes repeated in the file or in the catalogue included) and
      the ids created (code -> id)."
    tags: [courses]
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
    actor = await authenticate(request, *ADMINS)
    data = await csv_bytes(request)
    ctx = context_of(request)
    return accepted(await jobs_of(request).submit("courses", actor, lambda job: run_course_import(job, data, ctx)))


async def conflicts_for_enrolled(conn: AsyncConnection, course_id: int, new_times: list[MeetingIn]) -> list[int]:
    """Students of the course whose other courses of its term would clash with the new meeting times."""
    proposed = [Meeting(m.weekday, minutes(m.start), minutes(m.end)) for m in new_times]
    students = list(
        (await conn.execute(select(enrollments.c.student_id).where(enrollments.c.course_id == course_id))).scalars()
    )
    if not students or not proposed:
        return []
    term = select(courses.c.term_id).where(courses.c.id == course_id).scalar_subquery()
    others = await conn.execute(
        select(enrollments.c.student_id, meetings.c.weekday, meetings.c.start_minute, meetings.c.end_minute)
        .join(meetings, meetings.c.course_id == enrollments.c.course_id)
        .join(courses, courses.c.id == enrollments.c.course_id)
        .where(enrollments.c.student_id.in_(students), enrollments.c.course_id != course_id, courses.c.term_id == term)
    )
    return sorted(
        {
            r.student_id
            for r in others
            if any(Meeting(r.weekday, r.start_minute, r.end_minute).overlaps(p) for p in proposed)
        }
    )


async def update_course(request: Request) -> Response:
    """Change a course: capacity never below seats taken; no new clash for enrolled students.
    ---
    summary: Update a course
    description: "Raising the capacity enrolls waitlisted students, in order, at once. A section's
      name, kind and link (section, kind, linked_to) may change: the link names another section of
      its offering of another kind, the name stays unique in the offering, and no student is left
      holding or waiting for sections that no longer fit together (a lab's link changed while
      students hold it, or wait for it, with another lecture is refused, 409, nothing changed).
      Audited as every course edit."
    tags: [courses]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/CoursePatch"}}}
    responses:
      "200":
        description: "The course"
        content: {application/json: {schema: {$ref: "#/components/schemas/Course"}}}
      "409": {description: "Capacity below seats taken, meeting times that clash for enrolled students, a
        section name taken in the offering, or a section change that breaks a group students hold (students)"}
      "422": {description: "Invalid fields; a teacher_id naming no teacher, prerequisites naming no course,
        linked_to naming no section of another kind of the same offering and term, or itself; kind the
        same as a section linked to it"}
    """
    actor = await authenticate(request, *ADMINS)
    return await apply_course_patch(
        request, request.path_params["id"], await read_json(request, CoursePatch), actor.username
    )


async def apply_course_patch(
    request: Request, course_id: int, body: CoursePatch, actor: str, teacher_id: int | None = None
) -> Response:
    """Change a course (only one `teacher_id` teaches, when given: checked in the same transaction)."""
    ctx = context_of(request)
    changes = body.model_dump(exclude_unset=True, exclude=DETAIL_FIELDS)
    teacher = await teacher_named(request, body.teacher_id)
    if teacher is not None:
        if teacher_id is not None and teacher.id != teacher_id:
            raise Conflict("a teacher cannot hand a course to another teacher; ask an admin")
        changes["teacher_id"] = teacher.id
    async with ctx.master_write() as conn:
        current = await course_by_id(conn, course_id)
        if teacher_id is not None and current["teacher_id"] != teacher_id:
            raise NotFound(f"you teach no course {course_id}")
        await check_prerequisites(conn, current["code"], body.prerequisites)
        await check_corequisites(conn, current["code"], body.corequisites)
        if body.capacity is not None and body.capacity < current["taken"]:
            raise Conflict(f"capacity {body.capacity} is below the {current['taken']} seats taken")
        await check_section_change(conn, current, body)
        if body.meetings is not None:
            clashes = await conflicts_for_enrolled(conn, course_id, body.meetings)
            if clashes:
                raise Conflict(f"the new times clash for {len(clashes)} enrolled student(s)", students=clashes)
        # The rows a promotion below may take (a waiting group of the offering), locked first in
        # id order, before this row is updated: the order every multi-row seat change keeps.
        await lock_courses(conn, await offering_ids(conn, course_id))
        if changes:
            try:
                await conn.execute(
                    update(courses).where(courses.c.id == course_id).values(**changes, updated_at=time.time())
                )
            except IntegrityError:  # (the same section name given at once by another request)
                raise Conflict(f"{current['code']} has a section {body.section!r} in this term already") from None
        await _set_details(conn, course_id, body)
        changed = ", ".join(sorted(body.model_dump(exclude_unset=True)))
        await record(conn, actor, "course-update", time.time(), course_id=course_id, reason=f"changed: {changed}")
        await ledger_of(request).promote(conn, course_id, actor, time.time())
        updated = await course_by_id(conn, course_id)
    return JSONResponse(updated)


async def delete_course(request: Request) -> Response:
    """Delete a course nobody is enrolled in.
    ---
    summary: Delete a course
    tags: [courses]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    responses:
      "204": {description: "Deleted (a section group waiting for it leaves its waitlists: it could never be taken)"}
      "409": {description: "Students are enrolled, or other courses require it (required_by)"}
    """
    actor = await authenticate(request, *ADMINS)
    ctx = context_of(request)
    async with ctx.master_write() as conn:
        course = await course_by_id(conn, request.path_params["id"])
        if course["taken"]:
            raise Conflict(f"{course['taken']} student(s) are enrolled: remove them first")
        needed_by = (
            await conn.execute(
                select(courses.c.code)
                .join(prerequisites, prerequisites.c.course_id == courses.c.id)
                .where(prerequisites.c.required_code == course["code"])
                .order_by(courses.c.code)
            )
        ).scalars()
        required_by = list(needed_by)
        if required_by:
            raise Conflict(
                f"{', '.join(required_by)} require(s) {course['code']}: change their prerequisites first",
                required_by=required_by,
            )
        await forget_section(conn, course["id"])  # (the groups waiting for it could never be taken)
        await conn.execute(delete(courses).where(courses.c.id == course["id"]))
        await record(conn, actor.username, "course-delete", time.time(), course_id=course["id"], reason=course["code"])
    return Response(status_code=204)


def course_routes() -> list[BaseRoute]:
    return [
        Route("/courses", list_courses, methods=["GET"]),
        Route("/courses", on_master(create_course), methods=["POST"]),
        Route("/courses/import", on_master(import_courses), methods=["POST"]),
        Route("/courses/{id:int}", get_course, methods=["GET"]),
        Route("/courses/{id:int}", on_master(update_course), methods=["PATCH"]),
        Route("/courses/{id:int}", on_master(delete_course), methods=["DELETE"]),
    ]
