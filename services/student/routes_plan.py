"""A student's plan (cart): saved and validated in course_data, submitted at opening to the queue.

The plan is kept by course_data beside the catalogue it names (`services/course_data/plans.py`):
saving it checks its courses there, and validating it runs the ledger's own rules on the
ledger's facts. Submitting is one call to the queue (`POST /internal/queue/plans`), which
reads the saved plan from course_data and admits it whole (`services/queue/plans.py`: one
call for the student service, one read for a burst of submissions): one queued request per
item, in the plan's order, a refused item's next alternative queued in its place by the
queue's decider.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.auth import authenticate
from services.common.body import read_json
from services.common.calls import call_service, relay
from services.common.plan_contract import PlanIn
from services.common.problems import ValidationFailed


def _plan_path(student_id: int) -> str:
    return f"/internal/students/{student_id}/plan"


async def get_plan(request: Request) -> Response:
    """Your saved plan: items in order of preference, each a course and its alternatives.
    ---
    summary: My plan
    tags: [plan]
    security: [{bearer: []}]
    responses:
      "200": {description: "items (position, course_id, alternatives), updated_at (null: none saved)",
        content: {application/json: {schema: {$ref: "#/components/schemas/Plan"}}}}
    """
    me = await authenticate(request, "student")
    return relay(await call_service(request, "course_data", "GET", _plan_path(me.user_id)))


async def put_plan(request: Request) -> Response:
    """Save your plan whole, replacing the one saved.
    ---
    summary: Save my plan
    description: "items in order of preference: {course_id, alternatives: [course_id, ...]}, the
      alternatives tried in order when the ledger refuses the one before. A course appears once in
      the whole plan; at most course.plan_max_items items and course.plan_max_alternatives
      alternatives each."
    tags: [plan]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/PlanIn"}}}
    responses:
      "200": {description: "The plan saved",
        content: {application/json: {schema: {$ref: "#/components/schemas/Plan"}}}}
      "422": {description: "Each bad field (items.1.alternatives.0, ...): an unknown course, a course named
        twice, too many items or alternatives"}
    """
    me = await authenticate(request, "student")
    body = await read_json(request, PlanIn)
    answer = await call_service(request, "course_data", "PUT", _plan_path(me.user_id), json=body.model_dump())
    return relay(answer)


async def delete_plan(request: Request) -> Response:
    """Delete your saved plan.
    ---
    summary: Delete my plan
    tags: [plan]
    security: [{bearer: []}]
    responses:
      "204": {description: "No plan is saved now"}
    """
    me = await authenticate(request, "student")
    return relay(await call_service(request, "course_data", "DELETE", _plan_path(me.user_id)))


async def validate_plan(request: Request) -> Response:
    """What the ledger's rules would decide now for each item of your plan, and why; nothing changes.
    ---
    summary: Validate my plan
    description: "Each item in order, judged with what the items before it would take (seats,
      waitlist places, credits, meeting times): its course's outcome (enrolled, waitlisted or
      refused), the rule's type and reason, the same for each alternative, and chosen_course_id
      (the first not refused). The registration window is reported once (window); the items are
      judged with it set aside, so a plan built before opening shows what the other rules say. The
      ledger decides again, on the facts of the moment, when the plan is submitted."
    tags: [plan]
    security: [{bearer: []}]
    responses:
      "200": {description: "items, window, checked_at",
        content: {application/json: {schema: {$ref: "#/components/schemas/PlanCheck"}}}}
    """
    me = await authenticate(request, "student")
    standing = {"cohort": me.cohort, "program": me.program, "year": me.year, "priority_group": me.priority_group}
    params = {k: str(v) for k, v in standing.items() if v is not None}  # the token's
    path = f"{_plan_path(me.user_id)}/validate"
    return relay(await call_service(request, "course_data", "POST", path, params=params))


async def submit_plan(request: Request) -> Response:
    """Queue your whole plan at opening: one request per item, in the plan's order.
    ---
    summary: Submit my plan
    description: "Each item is queued as an enrollment, in the plan's order, in one step; an item
      whose course is full (seats and waitlist) queues its first alternative that is not, and when
      the ledger refuses an item its next alternative is queued in its place (follow
      next_queue_request_id from GET /queue/requests/{id}). Each item ends enrolled, waitlisted, or
      refused after its last alternative. The same Idempotency-Key again answers the same
      submission (new: false), never a second one. Refused as the queue refuses a request: a closed
      window (409, recorded under the key), rate-limited or too many open requests (429: the plan
      needs a place for each item), queue-stalled (503)."
    tags: [plan]
    security: [{bearer: []}]
    parameters:
      - {in: header, name: Idempotency-Key, required: true, schema: {type: string, maxLength: 100}}
    responses:
      "202": {description: "requests (position, course_id, queue_request_id, status, type, reason), new, links",
        content: {application/json: {schema: {$ref: "#/components/schemas/PlanSubmission"}}}}
      "409": {description: "Registration is not open for you now (window-closed), or no plan is saved (plan-empty)"}
      "422": {description: "No Idempotency-Key, or a bad one"}
      "429": {description: "rate-limited, or too-many-open-requests"}
      "503": {description: "Not recorded (queue-stalled, Redis unavailable): retry with the same Idempotency-Key"}
    """
    me = await authenticate(request, "student")
    key = request.headers.get("idempotency-key", "")
    if not key:
        raise ValidationFailed(
            "send an Idempotency-Key header (a fresh random value per submission; the same value to retry it)",
            errors=[{"field": "Idempotency-Key", "message": "required"}],
        )
    body = {
        "student_id": me.user_id,
        "cohort": me.cohort,
        "program": me.program,
        "year": me.year,
        "priority_group": me.priority_group,
        "actor": me.username[:64],
        "idempotency_key": key,
    }  # no items: the queue reads the saved plan (with the other submissions of the moment)
    return relay(await call_service(request, "queue", "POST", "/internal/queue/plans", json=body))


def plan_routes() -> list[BaseRoute]:
    return [
        Route("/student/plan", get_plan, methods=["GET"]),
        Route("/student/plan", put_plan, methods=["PUT"]),
        Route("/student/plan", delete_plan, methods=["DELETE"]),
        Route("/student/plan/validate", validate_plan, methods=["POST"]),
        Route("/student/plan/submit", submit_plan, methods=["POST"]),
    ]
