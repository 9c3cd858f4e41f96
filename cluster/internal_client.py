"""Calls between nodes: find a service's master from the replicated state and call it.

Every call is bounded: connecting takes at most `CONNECT_SECONDS` (a node that does not
accept within that on a LAN is down), and waiting for a pooled connection and for the
answer `timeout` each (a forwarded write, which may be an import, `FORWARD_SECONDS`).

A call to a master is also given up as soon as that master is gone: when another holds
its lease, or the lease (as this node's replica has it) ended `LAPSE_GRACE_SECONDS` ago
without a renewal, the call ends with `MasterLostLeaseError` (a 503 with Retry-After for the
client): within a lease and the grace (1.5 + 0.4 s by default) of the master's last
renewal, instead of at the read timeout. The grace covers a replica that applies a
renewal late, or a renewal that commits late, on a busy machine. A master that lost
its lease cannot commit any more (its commit re-checks the lease), so the caller stops
waiting for an answer that can only be a refusal. A call that could not even connect
is sent once more if the replica already names a new master.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx

from cluster.errors import MasterLostLeaseError, MasterUnknownError
from cluster.internal_auth import HEADER, InternalTokens
from cluster.model import ClusterModel, Lease

FORWARDED_BY = "X-Forwarded-By"
_HOP_HEADERS = {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade"}
_DROP = _HOP_HEADERS | {HEADER.lower(), FORWARDED_BY.lower()}

CONNECT_SECONDS = 3.0  # the kernel accepts at once; a saturated event loop may see it late
LAPSE_GRACE_SECONDS = 0.4
CALL_SECONDS = 10.0
FORWARD_SECONDS = 60.0
_SLACK = 0.05  # look again just after the lease's end, when a renewal would have come


KEEPALIVE_SECONDS = 2.0  # below uvicorn's timeout_keep_alive (5 s)


class InternalClient:
    def __init__(
        self,
        model: Callable[[], ClusterModel],
        tokens: InternalTokens,
        node_id: str,
        timeout: float = CALL_SECONDS,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._model = model
        self._tokens = tokens
        self._node_id = node_id
        self._wall = wall
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=CONNECT_SECONDS),
            # Idle connections are dropped before the other node's server closes them (uvicorn
            # after 5 s): a request sent on a connection the server is closing fails with a
            # ReadError after the server may or may not have read it, so it is never retried.
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=KEEPALIVE_SECONDS),
        )

    def master_url(self, service: str) -> str:
        return self._master(service)[1]

    def _master(self, service: str) -> tuple[Lease, str]:
        model = self._model()
        lease = model.master(service, self._wall())
        member = model.members.get(lease.holder) if lease is not None else None
        if lease is None or member is None:
            raise MasterUnknownError(f"{service} has no master right now")
        return lease, member.url

    async def forward(
        self, service: str, method: str, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> httpx.Response:
        """Send a client's request on to the master of `service`, as this node."""
        kept = [(k, v) for k, v in headers if k.lower() not in _DROP]
        kept += [(HEADER, self._tokens.mint()), (FORWARDED_BY, self._node_id)]
        timeout = httpx.Timeout(FORWARD_SECONDS, connect=CONNECT_SECONDS)

        def send(url: str) -> Awaitable[httpx.Response]:
            return self._http.request(method, url + path, headers=kept, content=body, timeout=timeout)

        return await self._to_master(service, send)

    async def call_master(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An internal call to the master of another service (MasterUnknownError if it has none)."""
        return await self._to_master(service, lambda url: self.call(url, method, path, **kwargs))

    async def call(self, url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An internal call to a given node (its URL), with an internal token."""
        extra = kwargs.pop("headers", None) or {}
        headers = {**extra, HEADER: self._tokens.mint()}
        given = kwargs.get("timeout")
        if isinstance(given, int | float):  # a caller's answer bound: connecting stays short
            kwargs["timeout"] = httpx.Timeout(given, connect=min(CONNECT_SECONDS, given))
        return await self._http.request(method, url + path, headers=headers, **kwargs)

    async def _to_master(self, service: str, send: Callable[[str], Awaitable[httpx.Response]]) -> httpx.Response:
        lease, url = self._master(service)
        try:
            return await self._while_master(service, lease, send(url))
        except (httpx.ConnectError, httpx.ConnectTimeout):  # not delivered: safe to send again
            again, url = self._master(service)
            if (again.holder, again.epoch) == (lease.holder, lease.epoch):
                raise
            return await self._while_master(service, again, send(url))

    async def _while_master(self, service: str, lease: Lease, answer: Awaitable[httpx.Response]) -> httpx.Response:
        """Await `answer`, but give up once `lease` has ended unrenewed or changed hands."""
        loop = asyncio.get_running_loop()
        gone = False
        pending: list[asyncio.TimerHandle] = []

        def look(scope: asyncio.Timeout) -> None:
            nonlocal gone
            now = self._model().leases.get(service)
            due = now.expires_at + LAPSE_GRACE_SECONDS - self._wall() if now is not None else 0.0
            if now is None or (now.holder, now.epoch) != (lease.holder, lease.epoch) or due <= 0:
                gone = True
                scope.reschedule(loop.time())  # ends the wait below with TimeoutError
            else:
                pending[:] = [loop.call_later(due + _SLACK, look, scope)]

        try:
            async with asyncio.timeout(None) as scope:
                first = lease.expires_at + LAPSE_GRACE_SECONDS - self._wall() + _SLACK
                pending.append(loop.call_later(first, look, scope))
                try:
                    return await answer
                finally:
                    for handle in pending:
                        handle.cancel()
        except TimeoutError:
            if gone:
                raise MasterLostLeaseError(
                    f"{lease.holder}, the master of {service} this was sent to, lost its lease before answering"
                ) from None
            raise

    async def aclose(self) -> None:
        await self._http.aclose()
