"""Registering this node in the replicated membership and keeping its entry alive."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from cluster.model import Member
from cluster.raft import RaftError, RaftGroup

log = logging.getLogger("course_selection.membership")


class MembershipAgent:
    def __init__(
        self, raft: RaftGroup, me: Member, heartbeat_seconds: float, wall: Callable[[], float] = time.time
    ) -> None:
        self.raft = raft
        self.me = me
        self.heartbeat_seconds = heartbeat_seconds
        self._wall = wall
        self.registered = asyncio.Event()

    async def beat(self) -> None:
        """Register if needed, else heartbeat; RaftError if the group cannot commit now."""
        if self.registered.is_set() and await self.raft.heartbeat(self.me.node_id, self._wall()):
            return
        await self.raft.register(replace(self.me, last_heartbeat=self._wall()))
        if not self.registered.is_set():
            log.info("registered in the cluster membership")
        self.registered.set()

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except RaftError as exc:
                log.debug("heartbeat not committed", extra={"reason": exc.reason})
            await asyncio.sleep(self.heartbeat_seconds if self.registered.is_set() else 0.1)
