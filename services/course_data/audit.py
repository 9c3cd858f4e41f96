"""The registrar's audit trail: who changed what, when, with what outcome and why.

Every change to enrollments (the ledger) and to the catalogue, windows, holds, permits and
completed courses writes one record in the same transaction as the change itself.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import ADMINS, authenticate
from services.common.context import context_of
from services.common.pagination import number_param, page_of, rows_page
from services.course_data.rules import Decision
from storage.schemas.course_data import ledger_audit


def audit_row(
    actor: str,
    action: str,
    now: float,
    *,
    student_id: int | None = None,
    course_id: int | None = None,
    outcome: str = "done",
    reason: str = "",
    overrides: str = "",
) -> dict[str, Any]:
    """One record's values (for `record`, or many written at once)."""
    return {
        "at": now,
        "actor": actor[:64],
        "action": action,
        "student_id": student_id,
        "course_id": course_id,
        "outcome": outcome[:32],
        "reason": reason[:500],
        "overrides": overrides[:200],
    }


def outcome_of(decision: Decision) -> str:
    return decision.outcome if decision.outcome != "rejected" else f"rejected:{decision.type}"


async def record(conn: AsyncConnection, actor: str, action: str, now: float, **about: Any) -> None:
    """Write one record (`about`: student_id, course_id, outcome, reason, overrides) in the caller's transaction."""
    await conn.execute(ledger_audit.insert().values(**audit_row(actor, action, now, **about)))


async def list_audit(request: Request) -> Response:
    """The audit trail, newest first.
    ---
    summary: Audit trail
    description: "One record per change: enroll, drop, swap, promote, remove, course-create,
      course-update, course-delete, course-import, windows, hold-add, hold-remove, permit,
      completed-add, completed-remove, completed-import."
    tags: [registration]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: student_id, schema: {type: integer}}
      - {in: query, name: course_id, schema: {type: integer}}
      - {in: query, name: action, schema: {type: string}}
      - $ref: "#/components/parameters/Page"
      - $ref: "#/components/parameters/PageSize"
    responses:
      "200":
        description: "items (at, actor, action, student_id, course_id, outcome, reason), page, page_size, total"
        content: {application/json: {schema: {$ref: "#/components/schemas/AuditPage"}}}
    """
    await authenticate(request, *ADMINS)
    page = page_of(request)
    query = select(ledger_audit)
    for name in ("student_id", "course_id"):
        value = number_param(request, name)
        if value is not None:
            query = query.where(ledger_audit.c[name] == value)
    if request.query_params.get("action"):
        query = query.where(ledger_audit.c.action == request.query_params["action"])
    async with context_of(request).database.read() as conn:
        return JSONResponse(await rows_page(conn, query, ledger_audit.c.id.desc(), page))


def audit_routes() -> list[BaseRoute]:
    return [Route("/audit", list_audit, methods=["GET"])]
