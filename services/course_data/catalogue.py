"""Reading courses for the catalogue: search filters, and the JSON a client sees."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import QueryParams
from starlette.requests import Request

from services.common.pagination import page_of, whole_number
from services.common.problems import ValidationFailed
from services.course_data.rules import WEEKDAYS, clock_text
from services.course_data.terms import term_filter
from storage.schemas.course_data import (
    consent_courses,
    corequisites,
    course_restrictions,
    courses,
    meetings,
    prerequisites,
    terms,
    waitlist,
)

_DAYS = {name.lower(): i for i, name in enumerate(WEEKDAYS)}


def search(params: QueryParams) -> Select[Any]:
    """The catalogue query for `q`, `department`, `teacher`, `day`, `credits`, `has_seats`."""
    query = select(courses)
    errors = []
    if params.get("q"):
        like = f"%{params['q'].lower()}%"
        query = query.where(
            or_(
                func.lower(courses.c.code).like(like),
                func.lower(courses.c.title).like(like),
                func.lower(courses.c.description).like(like),
            )
        )
    if params.get("department"):
        query = query.where(func.lower(courses.c.department) == params["department"].lower())
    if params.get("teacher"):
        teacher = params["teacher"]
        teacher_id = whole_number(teacher)
        query = query.where(
            courses.c.teacher_id == teacher_id
            if teacher_id is not None
            else func.lower(courses.c.teacher_name).like(f"%{teacher.lower()}%")
        )
    if params.get("day"):
        day = params["day"].lower()[:3]
        weekday = whole_number(day) if day.isdigit() else _DAYS.get(day)
        if weekday is None or not 0 <= weekday <= 6:
            errors.append({"field": "day", "message": "a weekday: mon..sun or 0..6"})
        else:
            query = query.where(courses.c.id.in_(select(meetings.c.course_id).where(meetings.c.weekday == weekday)))
    if params.get("credits"):
        credits = whole_number(params["credits"])
        if credits is None:
            errors.append({"field": "credits", "message": "a whole number"})
        else:
            query = query.where(courses.c.credits == credits)
    if params.get("has_seats"):
        if params["has_seats"] not in ("true", "false"):
            errors.append({"field": "has_seats", "message": "true or false"})
        elif params["has_seats"] == "true":
            query = query.where(courses.c.taken < courses.c.capacity)
        else:
            query = query.where(courses.c.taken >= courses.c.capacity)
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    return query


async def waitlist_lengths(conn: AsyncConnection, course_ids: list[int]) -> dict[int, int]:
    """Course id -> students on its waitlist (courses with none are left out)."""
    counted = (
        select(waitlist.c.course_id, func.count())
        .where(waitlist.c.course_id.in_(course_ids))
        .group_by(waitlist.c.course_id)
    )
    return {row[0]: row[1] for row in (await conn.execute(counted)).all()}


async def courses_json(conn: AsyncConnection, rows: list[Row[Any]]) -> list[dict[str, Any]]:
    """Courses with their term, meeting times, prerequisites, eligibility rules and waitlist
    length (seven queries in all)."""
    ids = [r.id for r in rows]
    times: dict[int, list[dict[str, Any]]] = defaultdict(list)
    needs: dict[int, list[str]] = defaultdict(list)
    together: dict[int, list[str]] = defaultdict(list)
    allowed: dict[int, dict[str, list[Any]]] = defaultdict(lambda: {"program": [], "year": [], "cohort": []})
    consent: set[int] = set()
    waiting: dict[int, int] = {}
    codes: dict[int, str] = {}
    if ids:
        wanted = select(terms.c.id, terms.c.code).where(terms.c.id.in_({r.term_id for r in rows}))
        codes = {t.id: t.code for t in await conn.execute(wanted)}
        for p in await conn.execute(select(corequisites).where(corequisites.c.course_id.in_(ids))):
            together[p.course_id].append(p.required_code)
        for p in await conn.execute(select(course_restrictions).where(course_restrictions.c.course_id.in_(ids))):
            allowed[p.course_id][p.kind].append(p.value if p.kind == "program" else int(p.value))
        consent = set(
            (await conn.execute(select(consent_courses.c.course_id).where(consent_courses.c.course_id.in_(ids))))
            .scalars()
            .all()
        )
        for m in await conn.execute(
            select(meetings).where(meetings.c.course_id.in_(ids)).order_by(meetings.c.weekday, meetings.c.start_minute)
        ):
            times[m.course_id].append(
                {
                    "weekday": m.weekday,
                    "day": WEEKDAYS[m.weekday],
                    "start": clock_text(m.start_minute),
                    "end": clock_text(m.end_minute),
                }
            )
        for p in await conn.execute(select(prerequisites).where(prerequisites.c.course_id.in_(ids))):
            needs[p.course_id].append(p.required_code)
        waiting = await waitlist_lengths(conn, ids)
    return [
        {
            "id": r.id,
            "term_id": r.term_id,
            "term": codes[r.term_id],
            "code": r.code,
            "section": r.section,
            "kind": r.kind,
            "linked_to": r.linked_to,
            "title": r.title,
            "department": r.department,
            "teacher_id": r.teacher_id,
            "teacher_name": r.teacher_name,
            "credits": r.credits,
            "capacity": r.capacity,
            "taken": r.taken,
            "seats_left": max(0, r.capacity - r.taken),
            "waitlist_length": waiting.get(r.id, 0),
            "meetings": times[r.id],
            "prerequisites": sorted(needs[r.id]),
            "corequisites": sorted(together[r.id]),
            "restrictions": {kind: sorted(values) for kind, values in allowed[r.id].items()},
            "consent_required": r.id in consent,
            "location": r.location,
            "description": r.description,
        }
        for r in rows
    ]


async def search_page(conn: AsyncConnection, request: Request) -> dict[str, Any]:
    """One page of the catalogue for the request's search and page parameters (422 if bad), in the
    term `?term=` names (its code or id; `all`: every term; absent: the current term)."""
    page, query = page_of(request), search(request.query_params)
    term = await term_filter(conn, request.query_params.get("term"))
    if term is not None:
        query = query.where(courses.c.term_id == term)
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    ordered = query.order_by(courses.c.code, courses.c.term_id, courses.c.section)
    rows = (await conn.execute(ordered.limit(page.size).offset(page.offset))).all()
    return page.body(await courses_json(conn, list(rows)), total)
