"""Student-facing enrollment: enroll, drop, swap and my courses, decided by the ledger."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import Principal, authenticate
from services.common.body import read_json
from services.common.calls import DependencyUnavailable, call_service, relay
from services.common.context import context_of
from services.common.enrollment_contract import EnrollmentAnswer, details_of
from services.common.problems import problem_response

_SECTIONS = Field(
    default=None,
    min_length=1,
    max_length=8,
    description="a section group: one section of each kind of an offering (e.g. a lecture and a lab), "
    "taken together or not at all",
)


class EnrollIn(BaseModel):
    """One course (or section), or a section group taken together: `course_id` or `section_ids`."""

    model_config = ConfigDict(extra="forbid")
    course_id: int | None = Field(default=None, ge=1)
    section_ids: list[int] | None = _SECTIONS

    @model_validator(mode="after")
    def _one_of(self) -> EnrollIn:
        if (self.course_id is None) == (self.section_ids is None):
            raise ValueError("course_id or section_ids: exactly one of them")
        if self.section_ids is not None and len(set(self.section_ids)) != len(self.section_ids):
            raise ValueError("section_ids: each section once")
        return self


class SwapIn(BaseModel):
    """Give up `drop_course_id` for `add_course_id` (a section for another section of its offering
    too), or give up `drop_course_ids` for the section group `add_section_ids`."""

    model_config = ConfigDict(extra="forbid")
    drop_course_id: int | None = Field(default=None, ge=1)
    add_course_id: int | None = Field(default=None, ge=1)
    drop_course_ids: list[int] | None = Field(default=None, min_length=1, max_length=8)
    add_section_ids: list[int] | None = _SECTIONS

    @model_validator(mode="after")
    def _one_of(self) -> SwapIn:
        single = self.drop_course_id is not None and self.add_course_id is not None
        group = self.drop_course_ids is not None and self.add_section_ids is not None
        named = [self.drop_course_id, self.add_course_id, self.drop_course_ids, self.add_section_ids]
        if not (single or group) or sum(v is not None for v in named) != 2:
            raise ValueError("drop_course_id and add_course_id, or drop_course_ids and add_section_ids")
        return self


async def ledger_answer(request: Request, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await call_service(request, "course_data", method, path, json=body)
    if response.status_code != 200:
        raise DependencyUnavailable(f"the ledger answered {response.status_code}", headers={"Retry-After": "1"})
    answer: dict[str, Any] = response.json()
    return answer


async def _through_queue(request: Request, change: dict[str, Any]) -> dict[str, Any] | Response:
    """Queue the change and wait for its outcome: the decision, as the ledger gives it, or the
    answer itself when there is none yet (202) or the queue refused the request."""
    rules = context_of(request).cluster.settings().queue
    wait = min(60.0, rules.decision_timeout_seconds + 5)
    key = request.headers.get("idempotency-key") or secrets.token_hex(12)
    answer = await call_service(
        request,
        "queue",
        "POST",
        f"/internal/queue/requests?wait={wait:g}",
        json={**change, "idempotency_key": key},
        timeout=wait + 5,
    )
    if answer.status_code != 200:
        return relay(answer)  # the queue's own refusal (window closed, rate limited, ...)
    view: dict[str, Any] = answer.json()
    status = view.pop("status")
    if status in ("pending", "cancelled"):
        queue_request_id = view["queue_request_id"]
        pending = {"course_id": view["course_id"], "outcome": "pending", "queue_request_id": queue_request_id}
        if change.get("section_ids"):
            pending["section_ids"] = change["section_ids"]
        return JSONResponse(
            pending,
            202,
            headers={"Location": f"/queue/requests/{queue_request_id}"},
        )
    return {**view, "outcome": status}


async def _decide(request: Request, me: Principal, action: str, course_id: int, **extra: Any) -> Response:
    change = {
        "action": action,
        "student_id": me.user_id,
        "cohort": me.cohort,
        "program": me.program,
        "year": me.year,
        "priority_group": me.priority_group,
        "course_id": course_id,
        "actor": me.username,
        **extra,
    }
    if context_of(request).cluster.settings().queue.enabled:
        queued = await _through_queue(request, change)
        if isinstance(queued, Response):
            return queued
        decision = queued
    else:
        decision = await ledger_answer(request, "POST", "/internal/ledger", change)
    if decision["outcome"] == "rejected":
        return problem_response(
            409, decision["type"], "Enrollment change refused", decision["reason"], request, details_of(decision)
        )
    status = {"accepted": 201 if action == "enroll" else 200, "waitlisted": 202}[decision["outcome"]]
    answer = {"course_id": course_id, "outcome": decision["outcome"], "reason": decision["reason"]}
    if decision.get("waitlist_position") is not None:
        answer["waitlist_position"] = decision["waitlist_position"]
    return JSONResponse(answer, status)


async def _decide_group(request: Request, me: Principal, section_ids: list[int], drop_ids: list[int]) -> Response:
    """A section group, taken whole or refused in one ledger transaction: through the queue
    when single courses go through it (a rush decides groups and singles in one order), else
    by the ledger directly."""
    change: dict[str, Any] = {
        "student_id": me.user_id,
        "cohort": me.cohort,
        "program": me.program,
        "year": me.year,
        "priority_group": me.priority_group,
        "section_ids": section_ids,
        "drop_course_ids": drop_ids,
        "actor": me.username,
    }
    if context_of(request).cluster.settings().queue.enabled:
        del change["drop_course_ids"]
        change["action"] = "swap" if drop_ids else "enroll"
        if drop_ids:
            change["drop_course_ids"] = drop_ids
        queued = await _through_queue(request, change)
        if isinstance(queued, Response):
            return queued
        decision = queued
    else:
        decision = await ledger_answer(request, "POST", "/internal/ledger/group", change)
    if decision["outcome"] == "rejected":
        return problem_response(
            409, decision["type"], "Enrollment change refused", decision["reason"], request, details_of(decision)
        )
    answer = {
        "course_id": section_ids[0],
        "section_ids": section_ids,
        "outcome": decision["outcome"],
        "reason": decision["reason"],
    }
    if decision["outcome"] == "waitlisted":  # (on each full section's waitlist, the group kept with it)
        # (.get: a decision redelivered from the ledger's record carries no places)
        if decision.get("waitlist_position") is not None:
            answer["waitlist_position"] = decision["waitlist_position"]
        answer["waitlist_positions"] = decision.get("waitlist_positions", [])
        return JSONResponse(answer, 202)
    return JSONResponse(answer, 200 if drop_ids else 201)


async def enroll(request: Request) -> Response:
    """Enroll in a course now (outside a rush), or in a section group (section_ids) together.
    ---
    summary: Enroll
    tags: [enrollment]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/EnrollIn"}}}
    responses:
      "201": {description: "Enrolled",
        content: {application/json: {schema: {$ref: "#/components/schemas/EnrollmentAnswer"}}}}
      "202": {description: "The course is full: you are on its waitlist (waitlist_position); a section group
        with full sections: on each full section's waitlist (waitlist_positions), enrolled in the whole group
        at once when every section has a seat; or, through the queue, not decided yet (outcome pending,
        queue_request_id)",
        content: {application/json: {schema: {$ref: "#/components/schemas/EnrollmentAnswer"}}}}
      "409": {description: "Refused: the problem type names the rule (time-conflict, credit-limit, ...)"}
    """
    me = await authenticate(request, "student")
    body = await read_json(request, EnrollIn)
    if body.section_ids is not None:
        return await _decide_group(request, me, body.section_ids, [])
    assert body.course_id is not None
    return await _decide(request, me, "enroll", body.course_id)


async def drop(request: Request) -> Response:
    """Drop a course (or leave its waitlist); a freed seat goes to the next eligible waitlisted student.
    ---
    summary: Drop
    tags: [enrollment]
    security: [{bearer: []}]
    parameters: [{in: path, name: course_id, required: true, schema: {type: integer}}]
    responses:
      "200": {description: "Dropped",
        content: {application/json: {schema: {$ref: "#/components/schemas/EnrollmentAnswer"}}}}
      "409": {description: "Refused (not-enrolled, drop-deadline)"}
    """
    me = await authenticate(request, "student")
    return await _decide(request, me, "drop", request.path_params["course_id"])


async def swap(request: Request) -> Response:
    """Drop one course only if another is accepted, atomically.
    ---
    summary: Swap
    tags: [enrollment]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/SwapIn"}}}
    responses:
      "200": {description: "Swapped",
        content: {application/json: {schema: {$ref: "#/components/schemas/EnrollmentAnswer"}}}}
      "409": {description: "Refused; nothing changed"}
    """
    me = await authenticate(request, "student")
    body = await read_json(request, SwapIn)
    if body.add_section_ids is not None and body.drop_course_ids is not None:
        return await _decide_group(request, me, body.add_section_ids, body.drop_course_ids)
    assert body.add_course_id is not None
    return await _decide(request, me, "swap", body.add_course_id, drop_course_id=body.drop_course_id)


async def my_enrollments(request: Request) -> Response:
    """Your enrollments and waitlist positions in one term (past terms' too: ?term=).
    ---
    summary: My enrollments
    tags: [enrollment]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: term, schema: {type: string}, description: "code or id; default current"}
    responses:
      "200":
        description: "term; enrolled and waitlisted (with position)"
        content: {application/json: {schema: {$ref: "#/components/schemas/StudentCourses"}}}
      "422": {description: "term names no term"}
    """
    me = await authenticate(request, "student")
    term = request.query_params.get("term")
    path = f"/internal/students/{me.user_id}/courses"
    answer = await call_service(request, "course_data", "GET", path, params={"term": term} if term else None)
    if answer.status_code not in (200, 404, 422):
        raise DependencyUnavailable(f"the ledger answered {answer.status_code}", headers={"Retry-After": "1"})
    return relay(answer)


def student_routes() -> list[BaseRoute]:
    return [
        Route("/student/enrollments", my_enrollments, methods=["GET"]),
        Route("/student/enrollments", enroll, methods=["POST"]),
        Route("/student/enrollments/swap", swap, methods=["POST"]),
        Route("/student/enrollments/{course_id:int}", drop, methods=["DELETE"]),
    ]


MODELS: dict[str, type[BaseModel]] = {"EnrollIn": EnrollIn, "SwapIn": SwapIn, "EnrollmentAnswer": EnrollmentAnswer}
