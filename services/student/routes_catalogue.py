"""What a student reads: the catalogue with "can I take it", and their timetable (JSON or iCalendar)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import authenticate
from services.common.calls import DependencyUnavailable, call_service, relay
from services.common.problems import Conflict
from services.student.timetable import calendar_of, week_of


async def catalogue(request: Request) -> Response:
    """The catalogue, with for each course whether you can take it now and, if not, why.
    ---
    summary: Catalogue for me
    description: The search and page parameters of course_data's GET /courses. Each course has
      `outcome` (accepted, waitlisted or rejected), `can_enroll`, and for a rejection the rule's `type`
      and a `reason`. The ledger decides again, on fresh facts, when you enroll.
    tags: [catalogue]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: q, schema: {type: string}}
      - {in: query, name: department, schema: {type: string}}
      - {in: query, name: teacher, schema: {type: string}}
      - {in: query, name: day, schema: {type: string}}
      - {in: query, name: credits, schema: {type: integer}}
      - {in: query, name: has_seats, schema: {type: boolean}}
      - {in: query, name: term, schema: {type: string}, description: "code or id; default current; all"}
      - $ref: "#/components/parameters/Page"
      - $ref: "#/components/parameters/PageSize"
    responses:
      "200":
        description: "items, page, page_size, total"
        content: {application/json: {schema: {$ref: "#/components/schemas/CourseForStudentPage"}}}
      "422": {description: "A bad search parameter"}
    """
    me = await authenticate(request, "student")
    standing = {"cohort": me.cohort, "program": me.program, "year": me.year, "priority_group": me.priority_group}
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in standing]
    params += [(k, str(v)) for k, v in standing.items() if v is not None]  # the token's, never the query's
    path = f"/internal/students/{me.user_id}/catalogue"
    return relay(await call_service(request, "course_data", "GET", path, params=params))


async def timetable(request: Request) -> Response:
    """Your week: every meeting of the courses you are enrolled in. iCalendar with Accept: text/calendar.
    ---
    summary: My timetable
    description: "JSON: the term dates, total credits, courses and the week's meetings in order. With
      Accept: text/calendar, an iCalendar file with one weekly recurring event per meeting time, from its
      first day in the term to the term's end, in the term's time zone (VTIMEZONE, and TZID on each event).
      ?term= names the term (its code or id; default the current term); a term without dates of its own
      uses course.term_start and course.term_end of the settings."
    tags: [catalogue]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: term, schema: {type: string}, description: "code or id; default current"}
    responses:
      "200":
        description: "The timetable (application/json or text/calendar)"
        content:
          application/json: {schema: {$ref: "#/components/schemas/Timetable"}}
          text/calendar: {schema: {type: string}}
      "409": {description: "iCalendar asked for but the term dates are not set"}
      "422": {description: "term names no term"}
    """
    me = await authenticate(request, "student")
    term = request.query_params.get("term")
    answer = await call_service(
        request,
        "course_data",
        "GET",
        f"/internal/students/{me.user_id}/courses",
        params={"term": term} if term else None,
    )
    if answer.status_code in (404, 422):  # (a term naming no term)
        return relay(answer)
    if answer.status_code != 200:
        raise DependencyUnavailable(f"the ledger answered {answer.status_code}", headers={"Retry-After": "1"})
    mine = answer.json()
    week = week_of(mine["enrolled"])
    of_term = mine["term"]
    first, last = of_term["starts_on"], of_term["ends_on"]
    if "text/calendar" in request.headers.get("accept", ""):
        if first is None or last is None:
            raise Conflict(
                f"the registrar has not set the dates of term {of_term['code']} "
                "(PATCH /terms/{id}, or course.term_start and course.term_end in the settings)"
            )
        stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
        body = calendar_of(
            me.username,
            week,
            dt.date.fromisoformat(first),
            dt.date.fromisoformat(last),
            stamp,
            of_term["timezone"],
        )
        return Response(
            body,
            media_type="text/calendar",
            headers={"Content-Disposition": 'attachment; filename="timetable.ics"'},
        )
    return JSONResponse(
        {
            "term": of_term,
            "term_start": first,
            "term_end": last,
            "credits": offering_credits(mine["enrolled"]),
            "courses": [
                {k: c[k] for k in ("id", "code", "title", "credits", "location", "meetings")} for c in mine["enrolled"]
            ],
            "week": week,
        }
    )


def catalogue_routes() -> list[BaseRoute]:
    return [
        Route("/student/courses", catalogue, methods=["GET"]),
        Route("/student/timetable", timetable, methods=["GET"]),
    ]


def offering_credits(enrolled: list[dict[str, Any]]) -> int:
    """The credits of the courses held, each offering once (its sections share its credits:
    the most any held section carries), as the ledger's credit load counts them."""
    credits: dict[tuple[Any, Any], int] = {}
    for c in enrolled:
        key = (c.get("term_id"), c["code"])
        credits[key] = max(credits.get(key, 0), int(c["credits"]))
    return sum(credits.values())
