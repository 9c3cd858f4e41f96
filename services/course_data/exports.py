"""Exports for the systems around the registrar (billing, the student information system, the
learning platform): every enrollment, with the student's name, student number and email.

There are no terms yet, so an export holds every enrollment. The route is
`/exports/enrollments` with an optional `term`: when terms exist it selects one; until
then a `term` is refused (422) rather than silently answered with everything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from services.common.auth import ADMINS, authenticate
from services.common.context import context_of
from services.common.csv_out import csv_response, csv_text, iso_time, wants_csv
from services.common.directory import people_by_id
from services.common.problems import ValidationFailed
from services.course_data.rosters import person_json
from storage.schemas.course_data import courses, enrollments

HEADER = (
    "course_id",
    "course_code",
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
      `'`). There are no terms yet: `term` is reserved for selecting one and refused for now."
    tags: [registration]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: format, schema: {type: string, enum: [json, csv]}}
      - {in: query, name: term, schema: {type: string}, description: "reserved: refused until terms exist"}
    responses:
      "200":
        description: The enrollments
        content:
          application/json: {schema: {$ref: "#/components/schemas/EnrollmentExport"}}
          text/csv: {schema: {type: string}}
      "422": {description: "A term was named (there are no terms yet), or an unknown format"}
    """
    await authenticate(request, *ADMINS)
    params = request.query_params
    if params.get("term") is not None:
        raise ValidationFailed(
            "term: there are no terms yet; leave it out to export every enrollment",
            errors=[{"field": "term", "message": "there are no terms yet"}],
        )
    fmt = params.get("format")
    if fmt is not None and fmt.lower() not in ("json", "csv"):
        raise ValidationFailed("format: json or csv", errors=[{"field": "format", "message": "json or csv"}])
    ctx = context_of(request)
    async with ctx.database.read() as conn:
        rows = (
            await conn.execute(
                select(
                    courses.c.id,
                    courses.c.code,
                    courses.c.title,
                    enrollments.c.student_id,
                    enrollments.c.created_at,
                    enrollments.c.via_permit,
                )
                .join(enrollments, enrollments.c.course_id == courses.c.id)
                .order_by(courses.c.code, enrollments.c.created_at, enrollments.c.id)
            )
        ).all()
    people = await people_by_id(ctx, {r.student_id for r in rows})
    items: list[dict[str, Any]] = []
    for r in rows:
        person = person_json(people.get(r.student_id))
        items.append(
            {
                "course_id": r.id,
                "course_code": r.code,
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
                *(item[k] for k in HEADER[:4]),
                item["student_number"] or "",
                item["full_name"],
                item["email"],
                iso_time(item["enrolled_at"]),
                item["via_permit"],
            ]
            for item in items
        )
        return csv_response(csv_text(HEADER, cells), "enrollments.csv")
    return JSONResponse({"term": None, "count": len(items), "items": items})


def export_routes() -> list[BaseRoute]:
    return [Route("/exports/enrollments", export_enrollments, methods=["GET"])]
