"""Writes go to the service's master: a slave forwards them and returns the answer.

`on_master(endpoint)` runs the endpoint here when this node holds a valid master lease,
and otherwise forwards the request to the current master (resolved from the replicated
membership) with an internal token. A forwarded request is never forwarded again, so a
stale view of the master cannot make a loop. A forward to a master that stops renewing
its lease ends with 503 once that lease is over (`cluster/internal_client.py`). A write
refused by fencing, or rolled back because the lease ended while it ran, has made this
node step down already (`cluster/master_writer.py`); `services/common/problems.py`
answers it, and a lease that lapsed between the check and the write, with 503.

The master sees the slave as the peer, so the slave sends the client's address in
`X-Client-Address`; `client_address()` believes that header only on a request with a
valid internal token, so a client cannot choose the address it is counted against.
The client's own `X-Forwarded-For` is not relayed (the slave's uvicorn already applied
it if, and only if, it came from a trusted proxy: `http.trusted_proxies`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import httpx
from starlette.requests import Request
from starlette.responses import Response

from cluster.errors import InvalidInternalTokenError
from cluster.internal_auth import HEADER
from cluster.internal_client import FORWARDED_BY
from services.common.calls import relay
from services.common.context import context_of
from services.common.problems import MasterUnavailable

Endpoint = Callable[[Request], Awaitable[Response]]
CLIENT_ADDRESS = "X-Client-Address"
_NOT_RELAYED = {CLIENT_ADDRESS.lower(), "x-forwarded-for", "forwarded"}


def on_master(endpoint: Endpoint, authorize: Callable[[Request], None] | None = None) -> Endpoint:
    @functools.wraps(endpoint)
    async def run_on_master(request: Request) -> Response:
        if authorize is not None:
            authorize(request)
        if not context_of(request).cluster.master.is_master():
            return await _forward(request)
        return await endpoint(request)

    return run_on_master


def client_address(request: Request) -> str:
    """The address of the client: a forwarding peer's word for it, else the connection's."""
    claimed, token = request.headers.get(CLIENT_ADDRESS), request.headers.get(HEADER)
    if claimed and token:
        try:
            context_of(request).cluster.tokens.verify(token)
        except InvalidInternalTokenError:
            pass
        else:
            return claimed[:64]
    return request.client.host if request.client else "unknown"


async def _forward(request: Request) -> Response:
    ctx = context_of(request)
    if request.headers.get(FORWARDED_BY):
        raise MasterUnavailable(
            f"{ctx.node.id} was sent a forwarded write but is not master", headers={"Retry-After": "1"}
        )
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _NOT_RELAYED]
    headers.append((CLIENT_ADDRESS, client_address(request)))
    try:
        upstream = await ctx.cluster.client.forward(
            ctx.node.service, request.method, path, headers, await request.body()
        )
    except httpx.HTTPError as exc:  # (no master known: problems.cluster_problem)
        raise MasterUnavailable(
            f"the master did not answer: {type(exc).__name__}", headers={"Retry-After": "1"}
        ) from None
    return relay(upstream)
