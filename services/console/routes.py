"""Everything the console adds to a node: its pages and its gateway, with the gateway's state."""

from __future__ import annotations

from contextlib import AsyncExitStack

from starlette.routing import BaseRoute

from services.common.context import NodeContext
from services.console.gateway import Gateway, gateway_routes
from services.console.pages import page_routes


def console_routes() -> tuple[BaseRoute, ...]:
    return (*page_routes(), *gateway_routes())


async def start_console(ctx: NodeContext, stack: AsyncExitStack) -> Gateway:
    gateway = Gateway()
    stack.push_async_callback(gateway.aclose)
    return gateway
