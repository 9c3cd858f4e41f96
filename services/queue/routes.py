"""The queue's HTTP face: admit a request, read or cancel it, the operators' stats."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import ADMINS, authenticate, principal_of
from services.common.body import read_json
from services.common.bounded_json import parse_json
from services.common.context import NodeContext
from services.common.enrollment_contract import EnrollmentChange, queued_answer, queued_view, refused_view
from services.common.forwarding import on_master
from services.common.hot_path import Answer, Headers, as_endpoint
from services.common.internal import require_internal
from services.common.pagination import page_of
from services.common.plan_contract import PlanEmpty, StudentPlan
from services.common.problems import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from services.common.registration import Standing
from services.queue.admission import check_key
from services.queue.records import Admitted, Refused
from services.queue.state import QueueNode, queue_of
from services.queue.store import NotReplicated

MAX_WAIT_SECONDS = 60.0
CHANGE_FIELDS = tuple(EnrollmentChange.model_fields)  # what a change may name (admission checks them)
T = TypeVar("T")


class QueueUnavailable(ServiceUnavailable):
    slug, title = "queue-unavailable", "The queue cannot record requests right now"


class QueueNotReplicated(ServiceUnavailable):
    """With Redis Sentinel: the primary took the request but no replica acknowledged it within
    `redis.replica_wait_seconds`. It may or may not be queued (a failover may lose it); the
    same Idempotency-Key makes the retry safe: it answers the request if it was kept."""

    slug, title = "queue-not-replicated", "The request may not survive a Redis failover"


class RefusedAtOnce(Conflict):
    """An enrollment the ledger would refuse (its course is full, seats and waitlist): answered
    now, not queued. The problem type is the rule's (waitlist-full, course-full), as the ledger
    would give it. Nothing was queued, and the refusal is recorded under the Idempotency-Key:
    the same key gets the same refusal again (a new key tries again)."""

    title = "Enrollment refused at once"

    def __init__(self, refused: Refused) -> None:
        super().__init__(refused.reason, outcome="rejected")
        self.slug = refused.type


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text_or_none(value: Any) -> str | None:
    return value[:32] if isinstance(value, str) and value else None


def _wait_of(request: Request) -> float:
    raw = request.query_params.get("wait", "0")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise ValidationFailed(
            f"wait: seconds from 0 to {MAX_WAIT_SECONDS:g}", errors=[{"field": "wait", "message": "out of range"}]
        )
    return seconds


def _view(queue_request_id: str, record: dict[str, str] | None) -> dict[str, Any]:
    if record is None:
        raise NotFound(f"no request {queue_request_id}")
    return queued_view(queue_request_id, record)


async def _admit(
    node: QueueNode, student_id: int, cohort: Standing | int | None, actor: str, key: str, body: Any
) -> Admitted | Refused:
    return await _recorded(node.admitter.admit(student_id, cohort, actor, key, body))


async def _recorded(admission: Awaitable[T]) -> T:
    """The admission's answer; Redis failing, or not replicating it, is the 503 to retry with the same key."""
    try:
        return await admission
    except RedisError as exc:
        raise QueueUnavailable(
            f"the request was not recorded ({type(exc).__name__}); send it again with the same Idempotency-Key",
            headers={"Retry-After": "1"},
        ) from None
    except NotReplicated as exc:
        raise QueueNotReplicated(
            f"no Redis replica confirmed the request ({exc}): it may or may not be queued; send it again "
            "with the same Idempotency-Key",
            headers={"Retry-After": "1"},
        ) from None


async def submit(ctx: NodeContext, headers: Headers, body: bytes) -> Answer:
    """Queue an enrollment change (the registration rush's way in).
    ---
    summary: Submit a request
    description: "Body: {action: enroll|drop|swap, course_id, drop_course_id (swap only)}, or a section
      group taken together or not at all, {action: enroll|swap, section_ids, drop_course_ids (swap only)},
      queued and decided in the same order as single courses. The
      Idempotency-Key header is required: the same key again gets the same answer, the same request
      (never a second one) or the same refusal at once (window-closed, course-full, waitlist-full).
      Answers 202 with the request id and its position once the request is recorded;
      follow it with GET /queue/requests/{id}?wait=N."
    tags: [queue]
    security: [{bearer: []}]
    parameters:
      - {in: header, name: Idempotency-Key, required: true, schema: {type: string, maxLength: 100}}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/EnrollmentChange"}}}
    responses:
      "202": {description: "Recorded: queue_request_id, status, position",
        content: {application/json: {schema: {$ref: "#/components/schemas/QueuedAnswer"}}}}
      "409": {description: "Registration is not open for you now (window-closed); or refused at once,
        not queued: the course is full, seats and waitlist (waitlist-full, course-full)"}
      "422": {description: "A bad field, or no Idempotency-Key"}
      "429": {description: "Too many requests (per student: rate-limited), or too many waiting for a
        decision (too-many-open-requests: queue.max_open_requests)"}
      "503": {description: "Not recorded (Redis unavailable, or queue-stalled: the ledger has been unable
        to decide for queue.decision_timeout_seconds), or with Redis Sentinel queue-not-replicated (no
        replica confirmed it: it may or may not be queued); retry with the same Idempotency-Key"}
    """
    me = await principal_of(ctx.verifier, headers.get(b"authorization", b"").decode("latin-1"), "student")
    key = check_key(headers.get(b"idempotency-key", b"").decode("latin-1"))
    admitted = await _admit(ctx.state(QueueNode), me.user_id, me.standing, me.username, key, parse_json(body))
    if isinstance(admitted, Refused):
        raise RefusedAtOnce(admitted)
    answer = queued_answer(admitted.queue_request_id, admitted.status, admitted.position, admitted.new)
    return 202, answer, {"Location": f"/queue/requests/{admitted.queue_request_id}"}


async def _owned(request: Request) -> tuple[str, dict[str, str]]:
    me = await authenticate(request, "student")
    request_id = request.path_params["id"]
    record = await queue_of(request).store.record(request_id)
    if record is None or int(record["student_id"]) != me.user_id:
        raise NotFound(f"no request {request_id}")  # another student's request does not exist for you
    return request_id, record


async def list_requests(request: Request) -> Response:
    """Your own queue requests, newest first.
    ---
    summary: List my requests
    description: Every request you queued (a week's worth), newest first, each as GET
      /queue/requests/{id} shows it. Refusals at once were not queued and are not listed.
    tags: [queue]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: page, schema: {type: integer, minimum: 1, maximum: 1000000}}
      - {in: query, name: page_size, schema: {type: integer, minimum: 1, maximum: 100}}
    responses:
      "200":
        description: items, page, page_size, total
        content:
          application/json:
            schema: {$ref: "#/components/schemas/QueueRequestPage"}
    """
    me = await authenticate(request, "student")
    page = page_of(request)
    found, total = await queue_of(request).store.student_requests(me.user_id, page.offset, page.size)
    return JSONResponse(page.body([_view(request_id, record) for request_id, record in found], total))


async def get_request(request: Request) -> Response:
    """A request's status: pending, accepted, waitlisted, rejected (with the rule's type and reason), cancelled.
    ---
    summary: Read a request
    description: With ?wait=N (seconds, up to 60) the answer is held until the outcome is final or N seconds passed.
    tags: [queue]
    security: [{bearer: []}]
    parameters:
      - {in: path, name: id, required: true, schema: {type: string}}
      - {in: query, name: wait, schema: {type: number, minimum: 0, maximum: 60}}
    responses:
      "200": {description: "queue_request_id, status, type, reason, action, course_id, admitted_at, decided_at,
        and the decision's details (waitlist_position, conflicts, missing)",
        content: {application/json: {schema: {$ref: "#/components/schemas/QueuedView"}}}}
      "404": {description: "No such request of yours"}
    """
    seconds = _wait_of(request)
    request_id, record = await _owned(request)
    final = await queue_of(request).waiters.final(request_id, seconds)
    return JSONResponse(_view(request_id, final or record))


async def cancel_request(request: Request) -> Response:
    """Cancel a request that is still waiting in the queue.
    ---
    summary: Cancel a request
    tags: [queue]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: string}}]
    responses:
      "200": {description: "The request, now cancelled",
        content: {application/json: {schema: {$ref: "#/components/schemas/QueuedView"}}}}
      "404": {description: "No such request of yours"}
      "409": {description: "Already being decided, or decided"}
    """
    request_id, _ = await _owned(request)
    store = queue_of(request).store
    outcome = await store.cancel(request_id)
    if outcome != "cancelled":
        shown = "pending" if outcome == "deciding" else outcome
        raise Conflict(f"the request can no longer be cancelled: it is {shown}", current=shown)
    return JSONResponse(_view(request_id, await store.record(request_id)))


async def opening(request: Request) -> Response:
    """When registration opens for you: the waiting room's answer.
    ---
    summary: My registration window
    description: "open: whether you may enroll now; opens_at, closes_at, drop_deadline (ISO 8601 with an offset) and
      seconds_to_open of your cohort's next or current window (null when none is known). Poll it while
      you wait; it also gets your token checked ahead of the rush."
    tags: [queue]
    security: [{bearer: []}]
    responses:
      "200":
        description: "open, opens_at, closes_at, drop_deadline, seconds_to_open"
        content: {application/json: {schema: {$ref: "#/components/schemas/Opening"}}}
    """
    me = await authenticate(request, "student")
    now = time.time()
    windows = await queue_of(request).admitter.windows.applicable(me.standing, me.user_id) or ()
    upcoming = sorted((w for w in windows if w.closes_at > now), key=lambda w: w.opens_at)
    if not upcoming:
        return JSONResponse(
            {"open": False, "opens_at": None, "closes_at": None, "drop_deadline": None, "seconds_to_open": None}
        )
    w = upcoming[0]
    return JSONResponse(
        {
            "open": w.opens_at <= now,
            "opens_at": w.opens_at,
            "closes_at": w.closes_at,
            "drop_deadline": w.drop_deadline,
            "seconds_to_open": round(max(0.0, w.opens_at - now), 3),
        }
    )


async def internal_submit(request: Request) -> Response:
    """Queue a request for a student and wait for its outcome (the student service's path; internal).
    ---
    summary: Submit and wait (internal)
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: query, name: wait, schema: {type: number, minimum: 0, maximum: 60}}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/StudentChange"}}}
    responses:
      "200": {description: "The request as GET /queue/requests/{id} shows it (queue_request_id null when refused
        at once)", content: {application/json: {schema: {$ref: "#/components/schemas/QueuedView"}}}}
      "409": {description: "The window rule refuses it now (window-closed, drop-deadline), as POST /queue/requests"}
      "422": {description: "A bad field, or no idempotency_key"}
      "429": {description: "Too many requests for the student (rate-limited, too-many-open-requests)"}
      "503": {description: "Not recorded (Redis unavailable, queue-stalled, queue-not-replicated): retry, same key"}
    """
    require_internal(request)
    seconds = _wait_of(request)
    body = parse_json(await request.body())
    if not isinstance(body, dict) or not isinstance(body.get("student_id"), int):
        raise ValidationFailed("student_id is required", errors=[{"field": "student_id", "message": "required"}])
    change = {k: body[k] for k in CHANGE_FIELDS if k in body}
    key = check_key(body.get("idempotency_key"))
    standing = Standing(
        _int_or_none(body.get("cohort")),
        _text_or_none(body.get("program")),
        _int_or_none(body.get("year")),
        _text_or_none(body.get("priority_group")),
    )
    admitted = await _admit(
        queue_of(request), body["student_id"], standing, str(body.get("actor", ""))[:64], key, change
    )
    if isinstance(admitted, Refused):
        return JSONResponse(refused_view(admitted.type, admitted.reason, change))
    final = await queue_of(request).waiters.final(admitted.queue_request_id, seconds)
    return JSONResponse(_view(admitted.queue_request_id, final))


async def internal_submit_plan(request: Request) -> Response:
    """Queue a student's plan whole (the student service's POST /student/plan/submit; internal).
    ---
    summary: Submit a plan (internal)
    description: "Without items, the student's saved plan, read from course_data (one read for the
      submissions that arrive together). One enrollment per item, in order, in one Redis step; an item whose course is
      reported full queues its first alternative that is not (refused at once if none is), and an
      item the ledger refuses has its next alternative queued in its place when it is decided. The
      same idempotency_key again answers the same items (their status now) or the same refusal."
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/StudentPlan"}}}
    responses:
      "202": {description: "requests (one per item, in order), new, links",
        content: {application/json: {schema: {$ref: "#/components/schemas/PlanSubmission"}}}}
      "409": {description: "Registration is not open for you now (window-closed), or no plan is saved (plan-empty)"}
      "422": {description: "A bad field, or no idempotency_key"}
      "429": {description: "Too many requests for the student (rate-limited, too-many-open-requests)"}
      "503": {description: "Not recorded (Redis unavailable, queue-stalled, queue-not-replicated, the saved plan
        unreadable: dependency-unavailable): retry, same key"}
    """
    require_internal(request)
    body = await read_json(request, StudentPlan)
    key = check_key(body.idempotency_key)
    node = queue_of(request)
    if body.items is None:  # the student's saved plan, read with the other submissions of the moment
        items = await node.plans.items(body.student_id)
        if not items:
            raise PlanEmpty("no plan is saved: PUT /student/plan first")
    else:
        items = [[item.course_id, *item.alternatives] for item in body.items]
    admitter = node.admitter
    standing = Standing(body.cohort, body.program, body.year, body.priority_group)
    admitted = await _recorded(admitter.admit_plan(body.student_id, standing, body.actor, key, items))
    requests = [
        {k: getattr(i, k) for k in ("position", "course_id", "queue_request_id", "status", "type", "reason")}
        for i in admitted.items
    ]
    links = {"self": "/student/plan", "requests": "/queue/requests"}
    return JSONResponse({"requests": requests, "new": admitted.new, "links": links}, 202)


async def stats(request: Request) -> Response:
    """Stream depth, admitted/s, decided/s, lag, pending entries and the decider's state (from the master).
    ---
    summary: Queue statistics
    tags: [queue]
    security: [{bearer: []}]
    responses:
      "200":
        description: "admitted, decided, depth, pending_entries, lag_seconds, rates, streams, consumer"
        content: {application/json: {schema: {$ref: "#/components/schemas/QueueStats"}}}
    """
    await authenticate(request, *ADMINS)
    node = queue_of(request)
    figures = await node.stats.read()
    return JSONResponse({**figures, "consumer": node.decider.state.as_json()})


def queue_routes() -> list[BaseRoute]:
    return [
        Route("/queue/requests", as_endpoint(submit), methods=["POST"]),
        Route("/queue/requests", list_requests, methods=["GET"]),
        Route("/queue/requests/{id}", get_request, methods=["GET"]),
        Route("/queue/requests/{id}", cancel_request, methods=["DELETE"]),
        Route("/queue/stats", on_master(stats), methods=["GET"]),
        Route("/queue/opening", opening, methods=["GET"]),
        Route("/internal/queue/requests", internal_submit, methods=["POST"]),
        Route("/internal/queue/plans", internal_submit_plan, methods=["POST"]),
    ]
