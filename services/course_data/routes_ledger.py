"""The ledger's decisions as an internal endpoint (service tokens only)."""

from __future__ import annotations

import math
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.body import read_json
from services.common.bounded_json import BULK_JSON_LIMITS
from services.common.context import context_of
from services.common.enrollment_contract import LedgerBatch, LedgerGroupRequest, LedgerRequest, decision_fields
from services.common.forwarding import on_master
from services.common.internal import require_internal
from services.course_data.batch import Queued, decide_batch, full_courses
from services.course_data.groups import enroll_group
from services.course_data.rules import Decision
from services.course_data.state import ledger_of


def decision_json(decision: Decision) -> dict[str, object]:
    """The decision as the contract has it (`enrollment_contract.Decision`)."""
    return decision_fields(decision.outcome, decision.type, decision.reason, decision.via_permit, decision.details)


async def decide(request: Request) -> Response:
    """Apply one enrollment change in one fenced transaction, with every rule checked.
    ---
    summary: Ledger decision (internal)
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/LedgerRequest"}}}
    responses:
      "200": {description: "outcome: accepted, waitlisted (with waitlist_position) or rejected (with type and reason)",
        content: {application/json: {schema: {$ref: "#/components/schemas/Decision"}}}}
    """
    body = await read_json(request, LedgerRequest)
    ctx, ledger = context_of(request), ledger_of(request)
    now = time.time()
    async with ctx.master_write() as conn:
        if body.action == "enroll":
            decision = await ledger.enroll(conn, body.student_id, body.standing, body.course_id, body.actor, now)
        elif body.action == "drop":
            decision = await ledger.drop(conn, body.student_id, body.standing, body.course_id, body.actor, now)
        elif body.drop_course_id is None:
            decision = Decision("rejected", "invalid-swap", "a swap needs drop_course_id")
        else:
            decision = await ledger.swap(
                conn, body.student_id, body.standing, body.drop_course_id, body.course_id, body.actor, now
            )
    return JSONResponse(decision_json(decision))


async def decide_group(request: Request) -> Response:
    """Take a section group together (one section of each kind of an offering), all or nothing,
    in one fenced transaction; with drop_course_ids, a swap into it.
    ---
    summary: Ledger decision on a section group (internal)
    description: "Every rule is checked for each section with the others counted as held. A group
      whose only obstacle is full sections is waitlisted: one waitlist row on each full section,
      the group's other sections kept with it (waitlist_positions), and promoted whole when every
      section has a seat. A swap into a group is never waitlisted (section-full)."
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/LedgerGroupRequest"}}}
    responses:
      "200": {description: "outcome: accepted, waitlisted (with waitlist_position and waitlist_positions)
        or rejected (with type and reason)",
        content: {application/json: {schema: {$ref: "#/components/schemas/Decision"}}}}
    """
    body = await read_json(request, LedgerGroupRequest)
    ctx, ledger = context_of(request), ledger_of(request)
    now = time.time()
    async with ctx.master_write() as conn:
        decision = await enroll_group(
            ledger,
            conn,
            body.student_id,
            body.standing,
            body.section_ids,
            body.actor,
            now,
            drop_ids=body.drop_course_ids,
        )
    return JSONResponse(decision_json(decision))


async def decide_many(request: Request) -> Response:
    """Decide a batch of queued requests in one fenced transaction, in order; once per request id.
    ---
    summary: Ledger batch (internal)
    description: "Every rule is checked for each request, in the order given. A request id already
      decided answers its recorded outcome (a batch sent twice is applied once). With timeout_seconds,
      a request past its deadline is rejected with type timeout (the queue sends none). Each decision
      is recorded with its order (seq) and the student is notified. The answer also tells which courses
      the batch touched are now full, seats and waitlist (the queue refuses enrollments in them at once
      for a moment)."
    tags: [internal]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/LedgerBatch"}}}
    responses:
      "200": {description: "decisions: queue_request_id, outcome, type, reason, seq (one per request, in order);
        full_courses: course id -> the refusal (type, reason) any student without a capacity permit gets now;
        open_courses: the other courses the batch touched",
        content: {application/json: {schema: {$ref: "#/components/schemas/BatchAnswer"}}}}
    """
    body = await read_json(request, LedgerBatch, BULK_JSON_LIMITS)
    ctx = context_of(request)
    timeout = body.timeout_seconds
    batch = [
        Queued(
            r.queue_request_id,
            r.action,
            r.student_id,
            r.cohort,
            r.course_id,
            r.drop_course_id,
            r.actor,
            r.admitted_at + timeout if timeout is not None else math.inf,
            r.program,
            r.year,
            r.priority_group,
            tuple(r.section_ids or ()),
            tuple(r.drop_course_ids or ()),
        )
        for r in body.requests
    ]
    touched = {r.course_id for r in batch} | {r.drop_course_id for r in batch if r.drop_course_id}
    touched |= {c for r in batch for c in (*r.section_ids, *r.drop_ids)}
    async with ctx.master_write() as conn:
        decided = await decide_batch(conn, ledger_of(request), batch, time.time())
        courses = await full_courses(conn, ledger_of(request), touched)
    return JSONResponse(
        {
            "decisions": [
                {"queue_request_id": d.request_id, "seq": d.seq, **decision_json(d.decision)} for d in decided
            ],
            "full_courses": {
                str(cid): {"type": d.type, "reason": d.reason} for cid, d in courses.items() if d is not None
            },
            "open_courses": [cid for cid, d in courses.items() if d is None],
        }
    )


def ledger_routes() -> list[BaseRoute]:
    return [
        Route("/internal/ledger", on_master(decide, authorize=require_internal), methods=["POST"]),
        Route("/internal/ledger/group", on_master(decide_group, authorize=require_internal), methods=["POST"]),
        Route("/internal/ledger/batch", on_master(decide_many, authorize=require_internal), methods=["POST"]),
    ]
