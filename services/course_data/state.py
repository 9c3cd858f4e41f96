"""What the course_data service keeps for its lifetime: the ledger."""

from __future__ import annotations

from contextlib import AsyncExitStack

from starlette.requests import Request

from services.common.context import NodeContext, context_of
from services.course_data.ledger import Ledger


def ledger_of(request: Request) -> Ledger:
    ledger: Ledger = context_of(request).service
    return ledger


async def start_course_data(ctx: NodeContext, stack: AsyncExitStack) -> Ledger:
    return Ledger(lambda: ctx.cluster.settings().course)
