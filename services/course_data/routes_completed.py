"""Completed courses (the input of the prerequisite rule), recorded by admins by API or CSV."""

from __future__ import annotations

import asyncio
import re
import time

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import ADMINS, authenticate
from services.common.body import read_json
from services.common.context import NodeContext, context_of
from services.common.csv_body import Problem, csv_bytes, problem, rows_of
from services.common.forwarding import on_master
from services.common.jobs import Job, accepted, jobs_of
from services.common.problems import NotFound, ValidationFailed
from services.course_data.audit import record
from services.course_data.models import CODE
from services.course_data.people import Ref, named, one
from storage.dialects import insert_new
from storage.schemas.course_data import completed_courses

MAX_ROWS = 50_000
COLUMNS = ("student_id", "course_code")
STUDENT_REF = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
CHUNK = 5000  # rows per worker call, and per progress update
BATCH = 1000  # rows per statement


class CompletedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    course_codes: list[str] = Field(min_length=1, max_length=200)


async def _record(conn: AsyncConnection, pairs: set[tuple[int, str]]) -> None:
    """Insert (student, code) pairs; ones already recorded are kept (idempotent)."""
    if not pairs:
        return
    # executemany of one small statement: a multi-row VALUES clause costs the event loop its compilation
    await insert_new(conn, completed_courses, [{"student_id": s, "course_code": c} for s, c in sorted(pairs)])


async def _student(request: Request) -> int:
    """The student the path names (an id, a student number or a username); 422 otherwise."""
    ref: Ref = request.path_params["id"]
    return (await one(context_of(request), ref, "student", "id")).id


async def _codes_of(conn: AsyncConnection, student_id: int) -> list[str]:
    codes = await conn.execute(
        select(completed_courses.c.course_code)
        .where(completed_courses.c.student_id == student_id)
        .order_by(completed_courses.c.course_code)
    )
    return list(codes.scalars())


async def list_completed(request: Request) -> Response:
    """Courses a student has completed.
    ---
    summary: Completed courses of a student
    tags: [registration]
    security: [{bearer: []}]
    parameters:
      - {in: path, name: id, required: true, schema: {type: string}, description: "id, student number or username"}
    responses:
      "200":
        description: "student_id and course_codes"
        content: {application/json: {schema: {$ref: "#/components/schemas/Completed"}}}
      "422": {description: "The path names no student"}
      "503": {description: "login cannot be asked who the path names right now (Retry-After)"}
    """
    await authenticate(request, *ADMINS)
    student_id = await _student(request)
    async with context_of(request).database.read() as conn:
        return JSONResponse({"student_id": student_id, "course_codes": await _codes_of(conn, student_id)})


async def add_completed(request: Request) -> Response:
    """Record completed courses of a student (codes already recorded are kept).
    ---
    summary: Record completed courses
    description: The codes need not be in today's catalogue (a course of an earlier year, or credit
      transferred from elsewhere).
    tags: [registration]
    security: [{bearer: []}]
    parameters:
      - {in: path, name: id, required: true, schema: {type: string}, description: "id, student number or username"}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/CompletedIn"}}}
    responses:
      "200":
        description: "student_id and all their course_codes"
        content: {application/json: {schema: {$ref: "#/components/schemas/Completed"}}}
      "422": {description: "The path names no student"}
    """
    actor = await authenticate(request, *ADMINS)
    body = await read_json(request, CompletedIn)
    bad = [code for code in body.course_codes if not re.match(CODE, code)]
    if bad:
        raise ValidationFailed(
            f"course_codes: not course codes: {', '.join(bad)}", errors=[{"field": "course_codes", "message": "codes"}]
        )
    student_id = await _student(request)
    ctx = context_of(request)
    async with ctx.master_write() as conn:
        await _record(conn, {(student_id, code) for code in body.course_codes})
        await record(
            conn,
            actor.username,
            "completed-add",
            time.time(),
            student_id=student_id,
            reason=" ".join(body.course_codes),
        )
        codes = await _codes_of(conn, student_id)
    return JSONResponse({"student_id": student_id, "course_codes": codes})


async def remove_completed(request: Request) -> Response:
    """Remove one completed course from a student's record.
    ---
    summary: Remove a completed course
    tags: [registration]
    security: [{bearer: []}]
    parameters:
      - {in: path, name: id, required: true, schema: {type: string}, description: "id, student number or username"}
      - {in: path, name: code, required: true, schema: {type: string}}
    responses:
      "204": {description: Removed}
      "404": {description: Not recorded}
      "422": {description: "The path names no student"}
    """
    actor = await authenticate(request, *ADMINS)
    student_id = await _student(request)
    ctx = context_of(request)
    async with ctx.master_write() as conn:
        await record(
            conn,
            actor.username,
            "completed-remove",
            time.time(),
            student_id=student_id,
            reason=request.path_params["code"],
        )
        gone = await conn.execute(
            delete(completed_courses).where(
                completed_courses.c.student_id == student_id,
                completed_courses.c.course_code == request.path_params["code"],
            )
        )
        if gone.rowcount == 0:
            raise NotFound("that completed course is not recorded")
    return Response(status_code=204)


def check_completed(text: str, header: list[str], before: int) -> tuple[list[Problem], list[tuple[int, str, str]]]:
    """Every problem, and the valid (line, student, code) rows, of a chunk (runs in the import worker)."""
    parsed = rows_of(text, header, before)
    problems, rows = parsed.errors, []
    for line, row in parsed.rows:
        student, code = row.get("student_id", ""), row.get("course_code", "")
        valid = True
        if not re.match(STUDENT_REF, student) or student.strip("0") == "":
            problems.append(problem(line, "student_id", "an id, a student number or a username"))
            valid = False
        if not re.match(CODE, code):
            problems.append(problem(line, "course_code", "not a course code"))
            valid = False
        if valid:
            rows.append((line, student, code))
    return problems, rows


async def run_completed_import(job: Job, data: bytes, ctx: NodeContext) -> None:
    rows: list[tuple[int, str, str]] = []
    async for chunk in job.csv_chunks(data, COLUMNS, COLUMNS, MAX_ROWS, CHUNK, check_completed):
        rows.extend(chunk)
    await job.progress("checking", 0, len(rows))
    students = await named(ctx, (student for _, student, _ in rows), "student")
    pairs: set[tuple[int, str]] = set()
    for line, student, code in rows:
        found = students[student]
        if isinstance(found, str):
            job.problem(line, "student_id", found)
        else:
            pairs.add((found.id, code))
    await job.progress("checking", len(rows), len(rows))
    job.refuse_if_errors("recorded")
    await job.progress("writing", 0, len(pairs))
    ordered = sorted(pairs)
    async with job.writing() as conn:
        for start in range(0, len(ordered), BATCH):
            await _record(conn, set(ordered[start : start + BATCH]))
            await asyncio.sleep(0)
        await record(conn, job.actor.username, "completed-import", time.time(), reason=f"{len(pairs)} record(s)")
        job.result = {"recorded": len(pairs)}


async def import_completed(request: Request) -> Response:
    """Record completed courses from CSV, as a job: header `student_id,course_code`; all rows or none.
    ---
    summary: Import completed courses (CSV)
    description: "student_id holds the student's id, student number or username; each must name a
      student. Answers 202 at once with the job's URL (Location); GET it for progress, every bad
      row ({line, field, reason}) and how many records were made."
    tags: [registration]
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
    return accepted(await jobs_of(request).submit("completed", actor, lambda job: run_completed_import(job, data, ctx)))


def completed_routes() -> list[BaseRoute]:
    return [
        Route("/students/{id}/completed", list_completed, methods=["GET"]),
        Route("/students/{id}/completed", on_master(add_completed), methods=["POST"]),
        Route("/students/{id}/completed/{code}", on_master(remove_completed), methods=["DELETE"]),
        Route("/completed/import", on_master(import_completed), methods=["POST"]),
    ]
