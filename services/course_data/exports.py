"""Exports for the systems around the registrar (billing, the student information system, the
learning platform): every enrollment, with the student's name, student number and email.

`/exports/enrollments` holds every enrollment, or with `?term=` (a term's code or id) those
of one term; a term that does not exist is refused (422 naming `term`), never answered
with everything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import ADMINS, authenticate
from services.common.context import context_of
from services.common.csv_out import csv_response, csv_text, iso_time, wants_csv
from services.common.directory import people_by_id
from services.common.problems import ValidationFailed
from services.course_data.rosters import person_json
from services.course_data.terms import term_named
from storage.schemas.course_data import courses, enrollments

HEADER = (
    "course_id",
    "course_code",
    "section",  # ("" for a course with a single section)
    "course_title",
    "student_id",
    "student_number",
    "full_name",
    "email",
    "enrolled_at",
    "via_permit",
)


async def export_enrollments(request: Request) -> Response:
    """Every enrollment, with the student's name, student number and email: JSON, or CSV.
    ---
    summary: Export enrollments
    description: "Every enrollment, by course code then order of enrollment. CSV with `?format=csv` or
      `Accept: text/csv` (times in ISO 8601, UTC; cells a spreadsheet would run as a formula begin with
      `'`). ?term= (a term's code or id) exports that term's only."
    tags: [registration]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: format, schema: {type: string, enum: [json, csv]}}
      - {in: query, name: term, schema: {type: string}, description: "code or id; absent: every term"}
    responses:
      "200":
        description: The enrollments
        content:
          application/json: {schema: {$ref: "#/components/schemas/EnrollmentExport"}}
          text/csv: {schema: {type: string}}
      "422": {description: "term names no term, or an unknown format"}
    """
    await authenticate(request, *ADMINS)
    params = request.query_params
    fmt = params.get("format")
    if fmt is not None and fmt.lower() not in ("json", "csv"):
        raise ValidationFailed("format: json or csv", errors=[{"field": "format", "message": "json or csv"}])
    ctx = context_of(request)
    async with ctx.database.read() as conn:
        term = None if params.get("term") is None else await term_named(conn, params["term"])
        query = (
            select(
                courses.c.id,
                courses.c.code,
                courses.c.section,
                courses.c.title,
                enrollments.c.student_id,
                enrollments.c.created_at,
                enrollments.c.via_permit,
            )
            .join(enrollments, enrollments.c.course_id == courses.c.id)
            .order_by(courses.c.code, courses.c.section, enrollments.c.created_at, enrollments.c.id)
        )
        if term is not None:
            query = query.where(courses.c.term_id == term.id)
        rows = (await conn.execute(query)).all()
    people = await people_by_id(ctx, {r.student_id for r in rows})
    items: list[dict[str, Any]] = []
    for r in rows:
        person = person_json(people.get(r.student_id))
        items.append(
            {
                "course_id": r.id,
                "course_code": r.code,
                "section": r.section,
                "course_title": r.title,
                "student_id": r.student_id,
                "student_number": person["student_number"],
                "full_name": person["full_name"],
                "email": person["email"],
                "enrolled_at": r.created_at,
                "via_permit": bool(r.via_permit),
            }
        )
    if wants_csv(request.headers.get("accept", ""), fmt):
        cells = (
            [
                *(item[k] for k in HEADER[:5]),
                item["student_number"] or "",
                item["full_name"],
                item["email"],
                iso_time(item["enrolled_at"]),
                item["via_permit"],
            ]
            for item in items
        )
        return csv_response(csv_text(HEADER, cells), "enrollments.csv")
    return JSONResponse({"term": None if term is None else term.code, "count": len(items), "items": items})


def export_routes() -> list[BaseRoute]:
    return [Route("/exports/enrollments", export_enrollments, methods=["GET"])]
