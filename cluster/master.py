"""This node's claim on its service's master lease, as the app sees it.

The Raft agent keeps the lease (`cluster.agent_lease`) and pushes each outcome here as
`(epoch, valid_until, sent)`, where `valid_until` is on CLOCK_MONOTONIC, the clock every
process of the host shares: the renewal's send time plus the lease minus the margin. A
node acts as master only while that moment is ahead, so `is_master()` and `fence()` are
local reads that cost nothing. Every write a master makes carries its epoch (`fence()`),
and storage refuses an epoch older than the newest it has seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from cluster.config import RaftConfig
from cluster.errors import LeaseNotHeldError, RaftError
from cluster.raft import RaftGroup

log = logging.getLogger("course_selection.master")


class MasterRole:
    def __init__(
        self,
        raft: RaftGroup,
        service: str,
        node_id: str,
        timing: RaftConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.raft = raft
        self.service = service
        self.node_id = node_id
        self.timing = timing
        self._clock = clock
        self._lease = (0, 0.0)  # (epoch, valid until): one tuple, replaced whole by the agent's reader thread
        self._ignore_before = 0.0

    @property
    def epoch(self) -> int:
        return self._lease[0]

    def on_lease(self, epoch: int, valid_until: float, sent: float) -> None:
        """The agent's latest outcome (called on the thread that reads from the agent)."""
        if sent < self._ignore_before:
            return  # decided before this node stepped down: not evidence it may act
        if valid_until > 0 and epoch != self._lease[0]:
            log.info("became master", extra={"service": self.service, "epoch": epoch})
        self._lease = (epoch, valid_until)

    def is_master(self) -> bool:
        return self._clock() < self._lease[1]

    def fence(self) -> tuple[str, int]:
        """`(scope, epoch)` for a fenced write; raises LeaseNotHeldError unless master now."""
        epoch, valid_until = self._lease
        if self._clock() >= valid_until:
            raise LeaseNotHeldError(f"{self.node_id} is not the master of {self.service}")
        return self.service, epoch

    def step_down(self, reason: str) -> None:
        epoch, valid_until = self._lease
        if valid_until:
            log.warning("stepping down as master", extra={"service": self.service, "reason": reason})
        self._ignore_before = self._clock()
        self._lease = (epoch, 0.0)
        self.raft.op("step_down", reason)

    async def release(self) -> None:
        """Give the lease up at shutdown so a successor need not wait for it to expire."""
        self._ignore_before = float("inf")
        self._lease = (self._lease[0], 0.0)
        with contextlib.suppress(RaftError, TimeoutError):  # else it expires on its own
            async with asyncio.timeout(1.5):
                await self.raft.release_lease()
