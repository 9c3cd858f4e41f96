"""Students' saved plans (issue 16): stored here, beside the catalogue they name, and checked
by the ledger's own rules (service tokens only; the student service is the way in).

A plan is saved whole (`PUT`), read, deleted, and validated: each item in order, as the
ledger would decide it now, with what the items before it would have taken (a seat, a
waitlist place, credits, meeting times), so the plan is judged as it will be submitted. The
registration window is reported once, for the whole plan (`window`), and the items are
judged with it set aside, so a plan built before opening shows what the other rules say.
"""

from __future__ import annotations

import dataclasses
import json
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
from services.common.plan_contract import PLAN_OUTCOMES, PlanIn, PlanItemIn, PlansToRead, courses_of, plan_errors
from services.common.problems import ValidationFailed
from services.course_data.routes_students import standing_param
from services.course_data.rules import (
    CourseFacts,
    Decision,
    Permit,
    StudentFacts,
    decide_enroll,
    reject,
    window_decision,
)
from services.course_data.state import ledger_of
from storage.dialects import among
from storage.schemas.course_data import courses, permits, plans, terms

_WINDOW_SET_ASIDE = frozenset({"window"})  # the window rule's own skip (`rules.Override`)


def plan_json(items: list[PlanItemIn], updated_at: float | None) -> dict[str, Any]:
    return {
        "items": [
            {"position": i, "course_id": item.course_id, "alternatives": item.alternatives, "section_id": None}
            for i, item in enumerate(items, 1)
        ],
        "updated_at": updated_at,
    }


async def saved_plan(conn: AsyncConnection, student_id: int) -> tuple[list[PlanItemIn], float | None]:
    row = (await conn.execute(select(plans).where(plans.c.student_id == student_id))).first()
    if row is None:
        return [], None
    return [PlanItemIn.model_validate(item) for item in json.loads(row.items)], float(row.updated_at)


async def read_plans(request: Request) -> Response:
    """The saved plans of several students at once, for the queue to admit them.
    ---
    summary: Read students' plans (internal)
    description: "One read for a burst of submissions (services/queue/plans.py): each student
      named, with the items of their saved plan (empty: none saved), each a course and its
      alternatives in order."
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/PlansToRead"}}}
    responses:
      "200": {description: "plans: [{student_id, items: [{course_id, alternatives}]}]",
        content: {application/json: {schema: {$ref: "#/components/schemas/SavedPlans"}}}}
      "422": {description: "A bad field (more than 500 students at once)"}
    """
    require_internal(request)
    body = await read_json(request, PlansToRead)
    wanted = sorted(set(body.student_ids))
    found: dict[int, str] = {}
    if wanted:
        async with context_of(request).database.read() as conn:
            rows = await conn.execute(
                select(plans.c.student_id, plans.c["items"]).where(among(conn.dialect, plans.c.student_id, wanted))
            )
            found = {int(r.student_id): r.items for r in rows}
    answer = [{"student_id": s, "items": json.loads(found[s]) if s in found else []} for s in wanted]
    return JSONResponse({"plans": answer})


def _student_id(request: Request) -> int:
    student_id: int = request.path_params["id"]
    return student_id


async def get_plan(request: Request) -> Response:
    """A student's saved plan (empty items when none).
    ---
    summary: A student's plan (internal)
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: id, required: true, schema: {type: integer}}
    responses:
      "200": {description: "items (position, course_id, alternatives), updated_at",
        content: {application/json: {schema: {$ref: "#/components/schemas/Plan"}}}}
    """
    require_internal(request)
    async with context_of(request).database.read() as conn:
        items, updated_at = await saved_plan(conn, _student_id(request))
    return JSONResponse(plan_json(items, updated_at))


def _catalogue_errors(items: list[PlanItemIn], term_of: dict[int, str]) -> list[dict[str, str]]:
    """Each course of the plan that does not exist, or is of another term than the plan's
    first course: a plan is of one term (the one being registered for), since it is
    submitted at one opening and its items are judged together (credits, meeting times)."""
    errors: list[dict[str, str]] = []
    first = term_of.get(items[0].course_id) if items else None
    for i, item in enumerate(items):
        named = [(f"items.{i}.course_id", item.course_id)]
        named += [(f"items.{i}.alternatives.{j}", c) for j, c in enumerate(item.alternatives)]
        for field, course_id in named:
            if course_id not in term_of:
                errors.append({"field": field, "message": f"there is no course {course_id}"})
            elif first is not None and term_of[course_id] != first:
                message = (
                    f"course {course_id} is of term {term_of[course_id]}, the plan's first course of term {first}:"
                    " a plan is of one term"
                )
                errors.append({"field": field, "message": message})
    return errors


async def put_plan(request: Request) -> Response:
    """Save a student's plan whole, replacing the one saved.
    ---
    summary: Save a student's plan (internal)
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: id, required: true, schema: {type: integer}}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/PlanIn"}}}
    responses:
      "200": {description: "The plan saved",
        content: {application/json: {schema: {$ref: "#/components/schemas/Plan"}}}}
      "422": {description: "Each bad field: an unknown course, a course of another term than the first, a course
        named twice, too many items or alternatives"}
    """
    body = await read_json(request, PlanIn)
    ctx, rules = context_of(request), ledger_of(request).rules()
    errors = plan_errors(body.items, rules.plan_max_items, rules.plan_max_alternatives)
    named = courses_of(body.items)
    now = time.time()
    async with ctx.master_write() as conn:
        if not errors and named:
            rows = await conn.execute(
                select(courses.c.id, terms.c.code)
                .join(terms, terms.c.id == courses.c.term_id)
                .where(among(conn.dialect, courses.c.id, named))
            )
            term_of: dict[int, str] = {int(r.id): str(r.code) for r in rows}
            errors += _catalogue_errors(body.items, term_of)
        if errors:
            raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
        student_id = _student_id(request)
        stored = json.dumps([item.model_dump(exclude={"section_id"}) for item in body.items], separators=(",", ":"))
        await conn.execute(delete(plans).where(plans.c.student_id == student_id))
        await conn.execute(plans.insert().values(student_id=student_id, items=stored, updated_at=now))
    return JSONResponse(plan_json(body.items, now))


async def delete_plan(request: Request) -> Response:
    """Delete a student's plan (204 whether there was one or not).
    ---
    summary: Delete a student's plan (internal)
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: id, required: true, schema: {type: integer}}
    responses:
      "204": {description: "No plan is saved now"}
    """
    async with context_of(request).master_write() as conn:
        await conn.execute(delete(plans).where(plans.c.student_id == _student_id(request)))
    return Response(status_code=204)


def _verdict(course_id: int, decision: Decision) -> dict[str, Any]:
    return {
        "course_id": course_id,
        "outcome": PLAN_OUTCOMES[decision.outcome],
        "type": decision.type,
        "reason": decision.reason or ("a seat is free" if decision.outcome == "accepted" else ""),
    }


def _taken(student: StudentFacts, course: CourseFacts, decision: Decision) -> tuple[StudentFacts, CourseFacts]:
    """The student and the course once `decision` is applied: what the next items are judged on."""
    if decision.outcome == "accepted":
        return (
            dataclasses.replace(student, enrolled=(*student.enrolled, course)),
            dataclasses.replace(course, taken=course.taken + 1),
        )
    if decision.outcome == "waitlisted":
        return (
            dataclasses.replace(student, waitlisted=student.waitlisted | {course.id}),
            dataclasses.replace(course, waitlist_length=course.waitlist_length + 1),
        )
    return student, course


async def validate_plan(request: Request) -> Response:
    """What the ledger's rules would decide now for each item of the student's plan, and why.
    ---
    summary: Validate a student's plan (internal)
    description: Each item in order, with what the items before it take; for each item its own
      course and every alternative, and `chosen_course_id` (the first not refused, null if all are).
      `window` is the registration window rule for the whole plan; the items are judged with it
      set aside. Nothing is changed.
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: id, required: true, schema: {type: integer}}
      - {in: query, name: cohort, schema: {type: integer}}
      - {in: query, name: program, schema: {type: string}, description: "the student's program (restrictions)"}
      - {in: query, name: year, schema: {type: integer}, description: "the student's year of study"}
      - {in: query, name: priority_group, schema: {type: string}, description: "the student's priority group"}
    responses:
      "200": {description: "items, window, checked_at",
        content: {application/json: {schema: {$ref: "#/components/schemas/PlanCheck"}}}}
    """
    require_internal(request)
    student_id = _student_id(request)
    standing = standing_param(request)
    ledger, now = ledger_of(request), time.time()
    async with context_of(request).database.read() as conn:
        items, _ = await saved_plan(conn, student_id)
        named = courses_of(items)
        student = await ledger.student(conn, student_id, standing)
        facts = await ledger.courses(conn, named)  # the very facts the ledger decides on
        granted: dict[int, Permit] = {}
        if named:
            mine = await conn.execute(
                select(permits).where(
                    permits.c.student_id == student_id, among(conn.dialect, permits.c.course_id, named)
                )
            )
            granted = {p.course_id: Permit(p.capacity, p.prerequisites) for p in mine}
    rules = ledger.rules()
    closed = window_decision(student, "enroll", now)
    checked = []
    for position, item in enumerate(items, 1):
        verdicts: list[tuple[int, Decision]] = []
        for course_id in (item.course_id, *item.alternatives):
            course = facts.get(course_id)
            if course is None:
                verdicts.append((course_id, reject("no-such-course", f"there is no course {course_id}")))
            else:
                permit = granted.get(course_id, Permit())
                verdicts.append(
                    (course_id, decide_enroll(student, course, permit, rules, now, overrides=_WINDOW_SET_ASIDE))
                )
        chosen = next(((c, d) for c, d in verdicts if d.ok), None)
        if chosen is not None:
            student, facts[chosen[0]] = _taken(student, facts[chosen[0]], chosen[1])
        checked.append(
            {
                "position": position,
                **_verdict(*verdicts[0]),
                "alternatives": [_verdict(c, d) for c, d in verdicts[1:]],
                "chosen_course_id": chosen[0] if chosen else None,
            }
        )
    window = {"open": closed is None, "type": closed.type if closed else "", "reason": closed.reason if closed else ""}
    return JSONResponse({"items": checked, "window": window, "checked_at": now})


def plan_routes() -> list[BaseRoute]:
    path = "/internal/students/{id:int}/plan"
    return [
        Route(path, get_plan, methods=["GET"]),
        Route(path, on_master(put_plan, authorize=require_internal), methods=["PUT"]),
        Route(path, on_master(delete_plan, authorize=require_internal), methods=["DELETE"]),
        Route(f"{path}/validate", validate_plan, methods=["POST"]),
        Route("/internal/plans/read", read_plans, methods=["POST"]),
    ]
