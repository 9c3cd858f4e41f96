"""PySyncObj behind a small async adapter: nothing else sees camelCase or FAIL_REASON.

PySyncObj runs its own tick thread; replicated calls and their callbacks happen there.
`RaftGroup` submits a call with a callback that settles an asyncio future through
`loop.call_soon_threadsafe`, so the event loop never blocks on Raft. Raft traffic is
encrypted and authenticated with the cluster password and bound to the node's
configured Raft address; the journal and snapshots live in the data directory, so a
restarted node (or a whole restarted cluster) comes back with its replicated state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, replicated

from cluster.config import RaftConfig
from cluster.journal import reserve_journal_blocks
from cluster.model import ClusterModel, LeaseResult, Member

_STATES = {0: "follower", 1: "candidate", 2: "leader"}
_REASONS = {value: name.lower() for name, value in vars(FAIL_REASON).items() if name.isupper()}


class RaftError(Exception):
    """A replicated call did not commit (no leader, leader changed, timed out...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"raft call failed: {reason}")
        self.reason = reason


class ReplicatedState(SyncObjConsumer):  # type: ignore[misc]
    """The consumer whose replicated methods apply log entries to a ClusterModel."""

    def __init__(self) -> None:
        super().__init__()
        self.model = ClusterModel()  # set after __init__: included in snapshots

    @replicated  # type: ignore[untyped-decorator]
    def register(self, member: dict[str, Any]) -> None:
        self.model.register(Member(**member))

    @replicated  # type: ignore[untyped-decorator]
    def heartbeat(self, node_id: str, now: float) -> bool:
        return self.model.heartbeat(node_id, now)

    @replicated  # type: ignore[untyped-decorator]
    def forget(self, node_id: str) -> bool:
        return self.model.forget(node_id)

    @replicated  # type: ignore[untyped-decorator]
    def acquire(self, service: str, node_id: str, now: float, ttl: float) -> LeaseResult:
        return self.model.acquire(service, node_id, now, ttl)

    @replicated  # type: ignore[untyped-decorator]
    def update_settings(self, settings: dict[str, Any], actor: str, changes: dict[str, Any], now: float) -> int:
        return self.model.update_settings(settings, actor, changes, now)

    @replicated  # type: ignore[untyped-decorator]
    def revoke_sessions(self, session_ids: list[str], until: float, now: float) -> None:
        self.model.revoke_sessions(session_ids, until, now)

    @replicated  # type: ignore[untyped-decorator]
    def release(self, service: str, node_id: str, epoch: int, now: float) -> bool:
        return self.model.release(service, node_id, epoch, now)


@dataclass(frozen=True)
class RaftStatus:
    address: str
    state: str
    term: int
    leader: str | None
    has_quorum: bool
    commit_index: int
    last_applied: int
    partners: dict[str, bool]  # address -> connected


class RaftGroup:
    def __init__(
        self,
        address: str,
        partners: list[str],
        data_dir: Path,
        node_id: str,
        password: str,
        timing: RaftConfig,
        bind: str | None = None,
    ) -> None:
        self.address = address
        self.partners = partners
        self.state = ReplicatedState()
        folder = data_dir / "raft"
        folder.mkdir(parents=True, exist_ok=True)
        self._conf = SyncObjConf(
            password=password,
            bindAddress=bind or address,
            journalFile=str(folder / f"{node_id}.journal"),
            fullDumpFile=str(folder / f"{node_id}.dump"),
            dynamicMembershipChange=True,
            useFork=False,
            commandsWaitLeader=False,
            appendEntriesUseBatch=False,
            appendEntriesPeriod=timing.append_entries_period,
            raftMinTimeout=timing.election_timeout_min,
            raftMaxTimeout=timing.election_timeout_max,
            connectionRetryTime=timing.connection_retry_seconds,
            connectionTimeout=max(2 * timing.election_timeout_max, 1.5),
            leaderFallbackTimeout=timing.leader_fallback_seconds,
        )
        self._sync: SyncObj | None = None
        self.call_timeout = 5.0  # callers narrow it with asyncio.timeout() where they must

    @property
    def model(self) -> ClusterModel:
        """This node's copy of the replicated state (may lag the leader slightly)."""
        return self.state.model

    def start(self) -> None:
        """Create the SyncObj: call from the main thread (PySyncObj's requirement)."""
        self._sync = SyncObj(self.address, self.partners, conf=self._conf, consumers=[self.state])
        reserve_journal_blocks(self._sync, self._conf.journalFile)  # a full disk: ENOSPC, not SIGBUS

    async def close(self) -> None:
        sync, self._sync = self._sync, None
        if sync is not None:
            await asyncio.to_thread(sync.destroy_synchronous)

    def status(self) -> RaftStatus:
        if self._sync is None:
            return RaftStatus(self.address, "stopped", 0, None, False, 0, 0, {})
        raw = self._sync.getStatus()
        prefix = "partner_node_status_server_"
        leader = raw.get("leader")
        return RaftStatus(
            address=self.address,
            state=_STATES.get(raw["state"], str(raw["state"])),
            term=raw["raft_term"],
            leader=getattr(leader, "address", None) if leader is not None else None,
            has_quorum=bool(raw["has_quorum"]),
            commit_index=raw["commit_idx"],
            last_applied=raw["last_applied"],
            partners={k[len(prefix) :]: v == 2 for k, v in raw.items() if k.startswith(prefix)},
        )

    # replicated calls

    async def register(self, member: Member) -> None:
        await self._call(self.state.register, asdict(member))

    async def heartbeat(self, node_id: str, now: float) -> bool:
        return bool(await self._call(self.state.heartbeat, node_id, now))

    async def forget(self, node_id: str) -> bool:
        return bool(await self._call(self.state.forget, node_id))

    async def acquire(self, service: str, node_id: str, now: float, ttl: float) -> LeaseResult:
        result: LeaseResult = await self._call(self.state.acquire, service, node_id, now, ttl)
        return result

    async def release(self, service: str, node_id: str, epoch: int, now: float) -> bool:
        return bool(await self._call(self.state.release, service, node_id, epoch, now))

    async def update_settings(self, settings: dict[str, Any], actor: str, changes: dict[str, Any], now: float) -> int:
        return int(await self._call(self.state.update_settings, settings, actor, changes, now))

    async def revoke_sessions(self, session_ids: list[str], until: float, now: float) -> None:
        await self._call(self.state.revoke_sessions, session_ids, until, now)

    async def add_node(self, address: str) -> None:
        """Add a Raft member (one change at a time); start the new node after this returns."""
        await self._call(self._require().addNodeToCluster, address)

    async def remove_node(self, address: str) -> None:
        await self._call(self._require().removeNodeFromCluster, address)

    def _require(self) -> SyncObj:
        if self._sync is None:
            raise RaftError("not started")
        return self._sync

    async def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        self._require()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any, error: int) -> None:  # runs on PySyncObj's tick thread
            loop.call_soon_threadsafe(_settle, future, result, error)

        method(*args, callback=settle)
        try:
            return await asyncio.wait_for(future, self.call_timeout)
        except TimeoutError:
            raise RaftError("timeout") from None


def _settle(future: asyncio.Future[Any], result: Any, error: int) -> None:
    if future.done():
        return
    if error == FAIL_REASON.SUCCESS:
        future.set_result(result)
    else:
        future.set_exception(RaftError(_REASONS.get(error, str(error))))
