"""Keeping this node's master lease, inside the node's Raft agent.

The keeper asks for the lease (acquire or renew) every `renew_every_seconds`, but only
while the app checks in (`alive`): a frozen or dead app stops being renewed, so its lease
runs out and another node takes over. A node acts as master only while its lease is
valid by the host's monotonic clock, with a safety margin: validity is counted from the
moment the keeper *sent* the acquire/renew request, not from when the grant came back,
so a slow commit can only shorten it. Each outcome is published to the app as
`(epoch, valid_until, sent)`; CLOCK_MONOTONIC is one clock for every process of a host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from cluster.agent_metrics import RenewalStats
from cluster.config import RaftConfig
from cluster.errors import RaftError
from cluster.model import ClusterModel, LeaseResult

log = logging.getLogger("course_selection.master")
Publish = Callable[[int, float, float], None]


class LeaseRaft(Protocol):
    @property
    def model(self) -> ClusterModel: ...
    async def acquire(self, service: str, node_id: str, now: float, ttl: float) -> LeaseResult: ...
    async def release(self, service: str, node_id: str, epoch: int, now: float) -> bool: ...


class LeaseKeeper:
    def __init__(
        self,
        raft: LeaseRaft,
        service: str,
        node_id: str,
        timing: RaftConfig,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        alive: Callable[[], bool] = lambda: True,
        publish: Publish = lambda epoch, until, sent: None,
        stats: RenewalStats | None = None,
    ) -> None:
        self.raft = raft
        self.service = service
        self.node_id = node_id
        self.timing = timing
        self._clock = clock
        self._wall = wall
        self._alive = alive
        self._publish = publish
        self.stats = stats or RenewalStats()
        self._valid_until = 0.0
        self._basis = 0.0  # when the request behind `_valid_until` was sent (or the step-down)
        self.granted_sent = 0.0  # send time of the last grant: the replicated lease ends lease_seconds later
        self.epoch = 0
        self.released = False

    def is_master(self) -> bool:
        return self._clock() < self._valid_until

    def step_down(self, reason: str) -> None:
        if self._valid_until:
            log.warning("stepping down as master", extra={"service": self.service, "reason": reason})
        self._valid_until, self._basis = 0.0, self._clock()
        self._publish(self.epoch, 0.0, self._basis)

    async def attempt(self) -> bool:
        """Acquire or renew the lease if it is free or ours; True if master afterwards."""
        if self.released:
            return False
        lease = self.raft.model.master(self.service, self._wall())
        if lease is not None and lease.holder != self.node_id:
            self.step_down(f"{lease.holder} holds the lease")
            return False  # no point asking while another holds a valid lease
        sent = self._clock()
        try:
            result = await self.raft.acquire(self.service, self.node_id, self._wall(), self.timing.lease_seconds)
        except RaftError as exc:
            self.stats.observe(self._clock() - sent, exc.reason)
            if self._clock() >= self._valid_until:
                self.step_down(f"renewal failed: {exc.reason}")
            return self.is_master()
        self.stats.observe(self._clock() - sent, "granted" if result.granted else "refused")
        if self.released:
            return False
        if result.granted and result.lease is not None and result.lease.holder == self.node_id:
            if result.lease.epoch != self.epoch:
                log.info("became master", extra={"service": self.service, "epoch": result.lease.epoch})
            self.epoch = result.lease.epoch
            self.granted_sent = sent
            if sent >= self._basis:
                self._valid_until, self._basis = (
                    sent + self.timing.lease_seconds - self.timing.lease_margin_seconds,
                    sent,
                )
                self._publish(self.epoch, self._valid_until, sent)
            return self.is_master()
        self.step_down("lease held by another node")
        return False

    async def tick(self) -> None:
        """One round: renew only while the app checks in; else let the lease run out."""
        if self._alive():
            await self.attempt()

    async def run(self) -> None:
        while not self.released:
            await self.tick()
            await asyncio.sleep(self.timing.renew_every_seconds)

    async def release(self) -> None:
        """Stop renewing for good and give the lease up, so a successor need not wait for it."""
        self.released = True
        was_master, epoch = self.is_master(), self.epoch
        self.step_down("released")
        if not was_master:
            return
        with contextlib.suppress(RaftError, TimeoutError):  # else it expires on its own
            async with asyncio.timeout(1.0):
                await self.raft.release(self.service, self.node_id, epoch, self._wall())
