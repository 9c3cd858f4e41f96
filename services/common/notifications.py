"""A node's notification outbox: its sender task, and `GET /notifications` for operators."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.auth import ADMINS, authenticate
from services.common.background import run_in_background
from services.common.context import NodeContext, context_of
from services.common.outbox import Outbox
from services.common.pagination import number_param, page_of, rows_page
from services.common.problems import ValidationFailed
from services.common.senders import Contact, WebhookSms
from storage.schemas.core import outbox

STATUSES = ("pending", "sent", "logged", "failed")


async def start_outbox(ctx: NodeContext, stack: AsyncExitStack) -> Outbox:
    """Run the outbox sender of this node (it sends only while the node is the master)."""
    client = httpx.AsyncClient()
    stack.push_async_callback(client.aclose)

    async def contact_of(user_id: int) -> Contact | None:
        answer = await ctx.cluster.client.call_master("login", "GET", f"/internal/users/{user_id}/contact")
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        user = answer.json()
        return Contact(user["full_name"] or user["username"], user["email"], user["phone"])

    sender = Outbox(
        ctx.writer,
        lambda: ctx.cluster.settings().notifications,
        contact_of,
        WebhookSms(client),
    )
    ctx.database.after_write(sender.wake)
    run_in_background(stack, sender.run(), sender.stop)
    return sender


async def list_notifications(request: Request) -> Response:
    """Messages this service has queued, newest first, with their delivery state.
    ---
    summary: Notifications (outbox)
    description: "status: pending (not delivered yet; `attempts`, `next_attempt_at`, `last_error`),
      sent, logged (no channel configured, or the user has no address), failed (gave up)."
    tags: [operations]
    security: [{bearer: []}]
    parameters:
      - {in: query, name: status, schema: {type: string, enum: [pending, sent, logged, failed]}}
      - {in: query, name: user_id, schema: {type: integer}}
      - $ref: "#/components/parameters/Page"
      - $ref: "#/components/parameters/PageSize"
    responses:
      "200":
        description: "items, page, page_size, total"
        content: {application/json: {schema: {$ref: "#/components/schemas/NotificationPage"}}}
    """
    await authenticate(request, *ADMINS)
    page = page_of(request)
    query = select(outbox)
    status, user = request.query_params.get("status"), number_param(request, "user_id")
    if status:
        if status not in STATUSES:
            raise ValidationFailed(
                f"status: one of {', '.join(STATUSES)}", errors=[{"field": "status", "message": "unknown"}]
            )
        query = query.where(outbox.c.status == status)
    if user is not None:
        query = query.where(outbox.c.user_id == user)
    async with context_of(request).database.read() as conn:
        return JSONResponse(await rows_page(conn, query, outbox.c.id.desc(), page))


def notification_routes() -> list[BaseRoute]:
    return [Route("/notifications", list_notifications, methods=["GET"])]
