"""Registering this node in the replicated membership and keeping its entry alive.

Runs in the node's Raft agent. It beats only while the app checks in (`alive`), so a
frozen or dead app soon shows as an unhealthy member and callers stop choosing it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any, Protocol

from cluster.errors import RaftError
from cluster.model import Member

log = logging.getLogger("course_selection.membership")


class MembershipRaft(Protocol):
    async def register(self, member: dict[str, Any]) -> None: ...
    async def heartbeat(self, node_id: str, now: float) -> bool: ...


class MembershipAgent:
    def __init__(
        self,
        raft: MembershipRaft,
        me: Member,
        heartbeat_seconds: float,
        wall: Callable[[], float] = time.time,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self.raft = raft
        self.me = me
        self.heartbeat_seconds = heartbeat_seconds
        self._wall = wall
        self._alive = alive
        self.registered = asyncio.Event()

    async def beat(self) -> None:
        """Register if needed, else heartbeat; RaftError if the group cannot commit now."""
        if self.registered.is_set() and await self.raft.heartbeat(self.me.node_id, self._wall()):
            return
        await self.raft.register(asdict(replace(self.me, last_heartbeat=self._wall())))
        if not self.registered.is_set():
            log.info("registered in the cluster membership")
        self.registered.set()

    async def run(self) -> None:
        while True:
            if self._alive():
                try:
                    await self.beat()
                except RaftError as exc:
                    log.debug("heartbeat not committed", extra={"reason": exc.reason})
            await asyncio.sleep(self.heartbeat_seconds if self.registered.is_set() else 0.1)
