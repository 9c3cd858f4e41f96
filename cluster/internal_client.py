"""Calls between nodes: find a service's master from the replicated state and call it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import httpx

from cluster.internal_auth import HEADER, InternalTokens
from cluster.model import ClusterModel

FORWARDED_BY = "X-Forwarded-By"
_HOP_HEADERS = {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade"}
_DROP = _HOP_HEADERS | {HEADER.lower(), FORWARDED_BY.lower()}


class NoMasterError(Exception):
    """The service has no master right now (an election is under way)."""


class InternalClient:
    def __init__(
        self,
        model: Callable[[], ClusterModel],
        tokens: InternalTokens,
        node_id: str,
        timeout: float = 10.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._model = model
        self._tokens = tokens
        self._node_id = node_id
        self._wall = wall
        self._http = httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
        )

    def master_url(self, service: str) -> str:
        model = self._model()
        lease = model.master(service, self._wall())
        member = model.members.get(lease.holder) if lease is not None else None
        if member is None:
            raise NoMasterError(f"{service} has no master right now")
        return member.url

    async def forward(
        self, service: str, method: str, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> httpx.Response:
        """Send a client's request on to the master of `service`, as this node."""
        kept = [(k, v) for k, v in headers if k.lower() not in _DROP]
        kept += [(HEADER, self._tokens.mint()), (FORWARDED_BY, self._node_id)]
        return await self._http.request(method, self.master_url(service) + path, headers=kept, content=body)

    async def call_master(self, service: str, method: str, path: str, **kwargs: object) -> httpx.Response:
        """An internal call to the master of another service (NoMasterError if it has none)."""
        return await self.call(self.master_url(service), method, path, **kwargs)

    async def call(self, url: str, method: str, path: str, **kwargs: object) -> httpx.Response:
        """An internal call to a given node (its URL), with an internal token."""
        extra = kwargs.pop("headers", None) or {}
        headers = {**extra, HEADER: self._tokens.mint()}  # type: ignore[dict-item]
        return await self._http.request(method, url + path, headers=headers, **kwargs)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        await self._http.aclose()
