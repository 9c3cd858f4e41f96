"""This node's claim on its service's master lease.

A node acts as master only while its lease is valid by its own monotonic clock, with a
safety margin: validity is counted from the moment it *sent* the acquire/renew request,
not from when the grant came back, so a slow commit can only shorten it. Every write
a master makes carries its epoch (`fence()`), and storage refuses an epoch older than
the newest it has seen: a master that was paused past its lease can never commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from cluster.config import RaftConfig
from cluster.raft import RaftError, RaftGroup

log = logging.getLogger("course_selection.master")


class NotMasterError(Exception):
    """This node does not hold a valid lease for its service."""


class MasterRole:
    def __init__(
        self,
        raft: RaftGroup,
        service: str,
        node_id: str,
        timing: RaftConfig,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.raft = raft
        self.service = service
        self.node_id = node_id
        self.timing = timing
        self._clock = clock
        self._wall = wall
        self._valid_until = 0.0
        self.epoch = 0

    def is_master(self) -> bool:
        return self._clock() < self._valid_until

    def fence(self) -> tuple[str, int]:
        """`(scope, epoch)` for a fenced write; raises NotMasterError unless master now."""
        if not self.is_master():
            raise NotMasterError(f"{self.node_id} is not the master of {self.service}")
        return self.service, self.epoch

    def step_down(self, reason: str) -> None:
        if self._valid_until:
            log.warning("stepping down as master", extra={"service": self.service, "reason": reason})
        self._valid_until = 0.0

    async def attempt(self) -> bool:
        """Acquire or renew the lease if it is free or ours; True if master afterwards."""
        lease = self.raft.model.master(self.service, self._wall())
        if lease is not None and lease.holder != self.node_id:
            self.step_down(f"{lease.holder} holds the lease")
            return False  # no point asking while another holds a valid lease
        sent = self._clock()
        try:
            result = await self.raft.acquire(self.service, self.node_id, self._wall(), self.timing.lease_seconds)
        except RaftError as exc:
            if self._clock() >= self._valid_until:
                self.step_down(f"renewal failed: {exc.reason}")
            return self.is_master()
        if result.granted and result.lease is not None and result.lease.holder == self.node_id:
            if result.lease.epoch != self.epoch:
                log.info("became master", extra={"service": self.service, "epoch": result.lease.epoch})
            self.epoch = result.lease.epoch
            self._valid_until = sent + self.timing.lease_seconds - self.timing.lease_margin_seconds
            return True
        self.step_down("lease held by another node")
        return False

    async def run(self) -> None:
        while True:
            await self.attempt()
            await asyncio.sleep(self.timing.renew_every_seconds)

    async def release(self) -> None:
        """Give the lease up at shutdown so a successor need not wait for it to expire."""
        if not self.is_master():
            return
        epoch, self._valid_until = self.epoch, 0.0
        with contextlib.suppress(RaftError, TimeoutError):  # else it expires on its own
            async with asyncio.timeout(1.0):
                await self.raft.release(self.service, self.node_id, epoch, self._wall())
