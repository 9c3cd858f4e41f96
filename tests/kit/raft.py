"""An in-memory twin of the Raft group, for unit tests of what runs on top of it.

`TwinRaft` applies each replicated call straight to a shared `ClusterModel` (the state
machine every node's Raft applies), so the lease keeper, the master role and the
membership agent meet the same rules as in the cluster; a `Network` decides which nodes
can reach a majority: a node cut off from it (`tests.kit.partition.partitioned`) gets
`RaftError("missing_leader")`, as its real group answers it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cluster.model import ClusterModel, LeaseResult, Member
from cluster.raft import RaftError


class Clock:
    """One clock for the whole simulated cluster (a host's clocks agree)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Network:
    """Which nodes are cut off from the Raft majority (the others reach it)."""

    cut_off: set[str] = field(default_factory=set)

    def cut(self, node_id: str) -> None:
        self.cut_off.add(node_id)

    def heal(self, node_id: str) -> None:
        self.cut_off.discard(node_id)


class TwinRaft:
    """One node's view of the group: applies its calls to the shared model; can be made to fail
    (`failing`), cut off (through its `network`), or slow to commit (`commit_delay`, with a clock)."""

    def __init__(
        self,
        model: ClusterModel,
        clock: Clock | None = None,
        node_id: str = "",
        network: Network | None = None,
    ) -> None:
        self.model = model
        self.failing = False
        self.clock = clock
        self.commit_delay = 0.0
        self.node_id = node_id
        self.network = network or Network()

    def _commit(self) -> None:
        if self.clock is not None:
            self.clock.now += self.commit_delay  # the entry carries its send time, applies later
        if self.failing or self.node_id in self.network.cut_off:
            raise RaftError("missing_leader")

    async def acquire(self, service: str, node_id: str, now: float, ttl: float) -> LeaseResult:
        self._commit()
        return self.model.acquire(service, node_id, now, ttl)

    async def release(self, service: str, node_id: str, epoch: int, now: float) -> bool:
        return self.model.release(service, node_id, epoch, now)

    async def register(self, member: dict[str, Any]) -> None:
        self._commit()
        self.model.register(Member(**member))

    async def heartbeat(self, node_id: str, now: float) -> bool:
        self._commit()
        return self.model.heartbeat(node_id, now)
