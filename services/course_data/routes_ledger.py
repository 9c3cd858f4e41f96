"""The ledger's decisions as an internal endpoint (service tokens only)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from services.common.body import read_json
from services.common.context import context_of
from services.common.forwarding import on_master
from services.common.internal import require_internal
from services.course_data.models import LedgerRequest
from services.course_data.rules import Decision
from services.course_data.state import ledger_of


def decision_json(decision: Decision) -> dict[str, object]:
    return {
        "outcome": decision.outcome,
        "type": decision.type,
        "reason": decision.reason,
        "via_permit": decision.via_permit,
        **decision.details,
    }


async def decide(request: Request) -> Response:
    """Apply one enrollment change in one fenced transaction, with every rule checked.
    ---
    summary: Ledger decision (internal)
    tags: [internal]
    parameters:
      - {in: header, name: X-Internal-Token, required: true, schema: {type: string}}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/LedgerRequest"}}}
    responses:
      "200": {description: "outcome: accepted, waitlisted or rejected (with type and reason)"}
    """
    body = await read_json(request, LedgerRequest)
    ctx, ledger = context_of(request), ledger_of(request)
    now = time.time()
    async with ctx.database.write(fence=ctx.cluster.master.fence()) as conn:
        if body.action == "enroll":
            decision = await ledger.enroll(conn, body.student_id, body.cohort, body.course_id, body.actor, now)
        elif body.action == "drop":
            decision = await ledger.drop(conn, body.student_id, body.cohort, body.course_id, body.actor, now)
        elif body.drop_course_id is None:
            decision = Decision("rejected", "invalid-swap", "a swap needs drop_course_id")
        else:
            decision = await ledger.swap(
                conn, body.student_id, body.cohort, body.drop_course_id, body.course_id, body.actor, now
            )
    return JSONResponse(decision_json(decision))


def ledger_routes() -> list[BaseRoute]:
    return [
        Route("/internal/ledger", on_master(decide, authorize=require_internal), methods=["POST"]),
    ]
