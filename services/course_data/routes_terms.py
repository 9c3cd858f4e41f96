"""`/terms` (admins): the terms, the current term, and copying courses into another term."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import ADMINS, authenticate
from services.common.body import read_json
from services.common.context import context_of
from services.common.forwarding import on_master
from services.common.pagination import page_of
from services.common.problems import Conflict, NotFound, ValidationFailed
from services.course_data.audit import record
from services.course_data.terms import CopyIn, TermIn, TermPatch, term_by_id, term_json, term_named
from storage.schemas.course_data import (
    consent_courses,
    corequisites,
    course_restrictions,
    courses,
    meetings,
    prerequisites,
    terms,
)


def _rules(request: Request) -> Any:
    return context_of(request).cluster.settings().course


async def list_terms(request: Request) -> Response:
    """Every term, newest first.
    ---
    summary: List terms
    description: "Each term: code, name, dates (starts_on, ends_on; starts_at and ends_at as ISO 8601 in
      its time zone), timezone (IANA), drop_deadline, current. The current term is the one a request
      that names no term means."
    tags: [terms]
    security: [{bearer: []}]
    parameters:
      - $ref: "#/components/parameters/Page"
      - $ref: "#/components/parameters/PageSize"
    responses:
      "200":
        description: "items, page, page_size, total"
        content: {application/json: {schema: {$ref: "#/components/schemas/TermPage"}}}
    """
    await authenticate(request, *ADMINS)
    page, rules = page_of(request), _rules(request)
    async with context_of(request).database.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(terms))).scalar_one()
        rows = await conn.execute(select(terms).order_by(terms.c.id.desc()).limit(page.size).offset(page.offset))
        return JSONResponse(page.body([term_json(r, rules) for r in rows], total))


async def get_term(request: Request) -> Response:
    """One term.
    ---
    summary: Get a term
    tags: [terms]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    responses:
      "200":
        description: "The term"
        content: {application/json: {schema: {$ref: "#/components/schemas/Term"}}}
      "404": {description: "No such term"}
    """
    await authenticate(request, *ADMINS)
    async with context_of(request).database.read() as conn:
        row = await term_by_id(conn, request.path_params["id"])
    return JSONResponse(term_json(row, _rules(request)))


async def _make_current(conn: AsyncConnection, term_id: int) -> None:
    await conn.execute(update(terms).where(terms.c.id != term_id).values(is_current=False))
    await conn.execute(update(terms).where(terms.c.id == term_id).values(is_current=True))


async def create_term(request: Request) -> Response:
    """Create a term.
    ---
    summary: Create a term
    tags: [terms]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/TermIn"}}}
    responses:
      "201":
        description: "The term"
        content: {application/json: {schema: {$ref: "#/components/schemas/Term"}}}
      "409": {description: "The code is taken"}
      "422": {description: "Invalid fields (an unknown time zone, ends_on before starts_on, a time with no offset)"}
    """
    actor = await authenticate(request, *ADMINS)
    body = await read_json(request, TermIn)
    now = time.time()
    values = body.model_dump(exclude={"current", "drop_deadline"})
    deadline = body.drop_deadline
    try:
        async with context_of(request).master_write() as conn:
            result = await conn.execute(
                terms.insert().values(
                    **values, drop_deadline=deadline, is_current=False, created_at=now, updated_at=now
                )
            )
            term_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            if body.current:
                await _make_current(conn, term_id)
            await record(conn, actor.username, "term-create", now, reason=body.code)
            row = await term_by_id(conn, term_id)
    except IntegrityError:
        raise Conflict(f"a term with code {body.code!r} exists") from None
    return JSONResponse(term_json(row, _rules(request)), status_code=201)


async def update_term(request: Request) -> Response:
    """Change a term: its code, name, dates, time zone, drop deadline, or make it the current term.
    ---
    summary: Update a term
    tags: [terms]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/TermPatch"}}}
    responses:
      "200":
        description: "The term"
        content: {application/json: {schema: {$ref: "#/components/schemas/Term"}}}
      "404": {description: "No such term"}
      "409": {description: "The code is taken"}
      "422": {description: "Invalid fields (ends_on before starts_on included)"}
    """
    actor = await authenticate(request, *ADMINS)
    body = await read_json(request, TermPatch)
    changes = body.model_dump(exclude_unset=True, exclude={"current"})
    if "drop_deadline" in changes:
        changes["drop_deadline"] = body.drop_deadline
    now = time.time()
    try:
        async with context_of(request).master_write() as conn:
            row = await term_by_id(conn, request.path_params["id"])
            first, last = changes.get("starts_on", row.starts_on), changes.get("ends_on", row.ends_on)
            if first is not None and last is not None and last < first:
                reason = "ends_on must not be before starts_on"
                raise ValidationFailed(reason, errors=[{"field": "ends_on", "message": reason}])
            await conn.execute(update(terms).where(terms.c.id == row.id).values(**changes, updated_at=now))
            if body.current:
                await _make_current(conn, row.id)
            changed = ", ".join(sorted(body.model_dump(exclude_unset=True)))
            await record(conn, actor.username, "term-update", now, reason=f"{row.code}: changed {changed}")
            row = await term_by_id(conn, row.id)
    except IntegrityError:
        raise Conflict(f"a term with code {body.code!r} exists") from None
    return JSONResponse(term_json(row, _rules(request)))


# A course's own rows in other tables, copied with it: what it is, not who takes it.
COURSE_DETAILS = (meetings, prerequisites, corequisites, course_restrictions, consent_courses)


async def _copy_details(conn: AsyncConnection, table: Table, source: int, target: int) -> None:
    """Copy course `source`'s rows of `table` to course `target` (a generated id left to the database)."""
    kept = [c for c in table.columns if not (c.primary_key and c.autoincrement is True)]
    rows = (await conn.execute(select(*kept).where(table.c.course_id == source))).all()
    if rows:
        await conn.execute(table.insert(), [{**r._mapping, "course_id": target} for r in rows])


async def copy_courses(conn: AsyncConnection, course_ids: list[int], target: int, now: float) -> dict[str, int]:
    """Copy the courses into term `target` (metadata, meetings, prerequisites, corequisites,
    restrictions, consent; no seat, enrollment, waitlist or permit): code -> new id. 409 naming
    the codes the term has already, copying nothing."""
    rows = (
        await conn.execute(
            select(courses).where(courses.c.id.in_(course_ids)).order_by(courses.c.code, courses.c.section)
        )
    ).all()
    labels = [f"{r.code} {r.section}" if r.section else r.code for r in rows]  # (a section: "CS101 L01")
    if len(set(labels)) != len(labels):
        raise Conflict("two of the courses have the same code")
    there = select(courses.c.code, courses.c.section).where(
        courses.c.term_id == target, courses.c.code.in_({r.code for r in rows})
    )
    wanted = {(r.code, r.section) for r in rows}
    taken = sorted(
        f"{code} {section}" if section else code
        for code, section in (await conn.execute(there)).all()
        if (code, section) in wanted
    )
    if taken:
        raise Conflict(f"the term has course(s) {', '.join(taken)} already", codes=taken)
    kept = [c.name for c in courses.columns if c.name not in ("id", "term_id", "taken", "permit_seats", "updated_at")]
    created: dict[str, int] = {}
    new_ids: dict[int, int] = {}
    for r, label in zip(rows, labels, strict=True):
        values = {name: getattr(r, name) for name in kept}
        result = await conn.execute(courses.insert().values(**values, term_id=target, taken=0, updated_at=now))
        new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        created[label] = new_id
        new_ids[r.id] = new_id
        for table in COURSE_DETAILS:
            await _copy_details(conn, table, r.id, new_id)
    for r in rows:  # a linked section is linked to its lecture's copy (or to none, if not copied)
        if r.linked_to is not None:
            linked = new_ids.get(r.linked_to)
            await conn.execute(courses.update().where(courses.c.id == new_ids[r.id]).values(linked_to=linked))
    return created


async def _copy(request: Request, course_ids: list[int] | None) -> Response:
    actor = await authenticate(request, *ADMINS)
    body = await read_json(request, CopyIn)
    now = time.time()
    async with context_of(request).master_write() as conn:
        target = await term_named(conn, body.to_term, "to_term")
        if course_ids is None:
            source = await term_by_id(conn, request.path_params["id"])
            if source.id == target.id:
                raise Conflict("a term cannot be copied into itself")
            course_ids = list(
                (await conn.execute(select(courses.c.id).where(courses.c.term_id == source.id))).scalars()
            )
        elif (await conn.execute(select(courses.c.id).where(courses.c.id == course_ids[0]))).first() is None:
            raise NotFound(f"no course {course_ids[0]}")
        created = await copy_courses(conn, course_ids, target.id, now)
        await record(conn, actor.username, "course-copy", now, reason=f"{len(created)} course(s) into {target.code}")
    return JSONResponse({"term": target.code, "term_id": target.id, "created": created}, status_code=201)


async def copy_term(request: Request) -> Response:
    """Copy every course of a term into another term.
    ---
    summary: Copy a term's courses
    description: "Each course's metadata, meetings, prerequisites and eligibility rules are copied; seats, enrollments,
      waitlists and permits are not. All are copied or none: 409 naming the codes the target term has."
    tags: [terms]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/CopyIn"}}}
    responses:
      "201":
        description: "term, term_id, created (code -> new course id)"
        content: {application/json: {schema: {$ref: "#/components/schemas/CopyAnswer"}}}
      "404": {description: "No such term"}
      "409": {description: "The target term has some of the codes, or is the same term"}
      "422": {description: "to_term names no term"}
    """
    return await _copy(request, None)


async def copy_course(request: Request) -> Response:
    """Copy one course into another term.
    ---
    summary: Copy a course into a term
    description: "The course's metadata, meetings, prerequisites and eligibility rules are copied; seats, enrollments,
      waitlists and permits are not."
    tags: [terms]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/CopyIn"}}}
    responses:
      "201":
        description: "term, term_id, created (code -> new course id)"
        content: {application/json: {schema: {$ref: "#/components/schemas/CopyAnswer"}}}
      "404": {description: "No such course"}
      "409": {description: "The target term has a course with this code"}
      "422": {description: "to_term names no term"}
    """
    return await _copy(request, [request.path_params["id"]])


def term_routes() -> list[BaseRoute]:
    return [
        Route("/terms", list_terms, methods=["GET"]),
        Route("/terms", on_master(create_term), methods=["POST"]),
        Route("/terms/{id:int}", get_term, methods=["GET"]),
        Route("/terms/{id:int}", on_master(update_term), methods=["PATCH"]),
        Route("/terms/{id:int}/copy", on_master(copy_term), methods=["POST"]),
        Route("/courses/{id:int}/copy", on_master(copy_course), methods=["POST"]),
    ]
