"""PySyncObj inside the Raft agent: nothing else sees camelCase or FAIL_REASON.

PySyncObj runs its own tick thread; replicated calls and their callbacks happen there.
`RaftMember` submits a call with a callback that settles an asyncio future through
`loop.call_soon_threadsafe`, so the agent's event loop never blocks on Raft. Raft traffic
is encrypted and authenticated with the cluster password and bound to the node's
configured Raft address; the journal and snapshots live in the data directory, so a
restarted node (or a whole restarted cluster) comes back with its replicated state.

`ReplicatedState` applies each committed command (`cluster.agent_replica.apply_command`)
and hands it, numbered, to `emit`: the agent streams it to the app's read replica. A
snapshot that PySyncObj loads (the dump at start, or one sent by the leader to a node
that fell behind) is emitted whole.

**"truncating already-applied log entries"** (PySyncObj 0.3.17, `syncobj.py`, the
`append_entries` handler): a follower whose log has entries after the leader's
`prevLogIdx` deletes all of them and appends the leader's, whether they conflict or
not. The leader rewinds a follower's `nextIndex` on every `reset` reply, including stale
ones: a follower that lagged (a reconnect, a new leader, a slow tick) answers several
pipelined heartbeats with the same reset, and each one sends the leader back to
re-send entries the follower has since appended, committed and applied. Those entries
are committed, so by Raft's log matching and leader completeness the leader re-sends
the very same ones (same index, term, command); `lastApplied` does not move back, so
nothing is applied twice or differently. The message is therefore benign here and is
logged at debug level (`TruncationNotice`) and counted (`cluster_raft_truncations_total`).
Evidence: `tests/unit/test_agent_raft.py` replays the re-send on a real follower (the
CRITICAL fires, nothing is applied twice, the state digest is unchanged), and the
cluster test `tests/cluster/test_replicated_state.py` compares every node's state
digests after elections and after a whole-cluster restart.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import threading
from collections.abc import Callable
from typing import Any

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, replicated

from cluster.agent_replica import Checkpoints, apply_command
from cluster.errors import RaftError
from cluster.journal import reserve_journal_blocks
from cluster.model import ClusterModel
from cluster.raft import AgentParams, RaftStatus

_STATES = {0: "follower", 1: "candidate", 2: "leader"}
_REASONS = {value: name.lower() for name, value in vars(FAIL_REASON).items() if name.isupper()}
Emit = Callable[[tuple[Any, ...]], None]


class TruncationNotice(logging.Filter):
    """Log PySyncObj's benign "truncating already-applied" CRITICAL at debug, and count it."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL and "truncating already-applied" in str(record.msg):
            self.count += 1
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.msg = f"{record.msg} [benign: the leader re-sent committed entries, see cluster/agent_raft.py]"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


class ReplicatedState(SyncObjConsumer):  # type: ignore[misc]
    """The consumer whose replicated methods apply log entries to a ClusterModel."""

    def __init__(self, emit: Emit | None = None) -> None:
        # set before SyncObjConsumer.__init__: these are not part of the snapshot
        self._emit: Emit = emit or (lambda message: None)
        self._lock = threading.Lock()
        self.checkpoints = Checkpoints()
        super().__init__()
        self.model = ClusterModel()  # set after __init__: included in snapshots
        self.applied = 0

    def _apply(self, name: str, *args: Any) -> Any:
        with self._lock:
            result = apply_command(self.model, name, args)
            self.applied += 1
            self._emit(("apply", self.applied, name, args))
            self.checkpoints.record(self.applied, self.model)
        return result

    def _deserialize(self, data: dict[str, Any]) -> None:
        with self._lock:
            super()._deserialize(data)
            self.checkpoints.record(self.applied, self.model, force=True)
            self._emit(self._snapshot())

    def snapshot_message(self) -> tuple[Any, ...]:
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> tuple[Any, ...]:
        return ("snapshot", self.applied, pickle.dumps(self.model, protocol=pickle.HIGHEST_PROTOCOL))

    # The method names are the journal's command ids (PySyncObj numbers them by name):
    # renaming or adding one changes how existing journals replay.

    @replicated  # type: ignore[untyped-decorator]
    def register(self, member: dict[str, Any]) -> None:
        self._apply("register", member)

    @replicated  # type: ignore[untyped-decorator]
    def heartbeat(self, node_id: str, now: float) -> Any:
        return self._apply("heartbeat", node_id, now)

    @replicated  # type: ignore[untyped-decorator]
    def forget(self, node_id: str) -> Any:
        return self._apply("forget", node_id)

    @replicated  # type: ignore[untyped-decorator]
    def acquire(self, service: str, node_id: str, now: float, ttl: float) -> Any:
        return self._apply("acquire", service, node_id, now, ttl)

    @replicated  # type: ignore[untyped-decorator]
    def update_settings(self, settings: dict[str, Any], actor: str, changes: dict[str, Any], now: float) -> Any:
        return self._apply("update_settings", settings, actor, changes, now)

    @replicated  # type: ignore[untyped-decorator]
    def revoke_sessions(self, session_ids: list[str], until: float, now: float) -> None:
        self._apply("revoke_sessions", session_ids, until, now)

    @replicated  # type: ignore[untyped-decorator]
    def release(self, service: str, node_id: str, epoch: int, now: float) -> Any:
        return self._apply("release", service, node_id, epoch, now)


class RaftMember:
    """This node's PySyncObj member, with an async interface for the agent's event loop."""

    def __init__(self, settings: AgentParams, state: ReplicatedState) -> None:
        self.address = settings.address
        self.state = state
        timing = settings.timing
        folder = settings.data_dir / "raft"
        folder.mkdir(parents=True, exist_ok=True)
        self._partners = settings.partners
        self._conf = SyncObjConf(
            password=settings.password,
            bindAddress=settings.bind or settings.address,
            journalFile=str(folder / f"{settings.node_id}.journal"),
            fullDumpFile=str(folder / f"{settings.node_id}.dump"),
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
        self.call_timeout = 5.0

    @property
    def model(self) -> ClusterModel:
        return self.state.model

    def start(self) -> None:
        """Create the SyncObj: call from the main thread (PySyncObj's requirement)."""
        self._sync = SyncObj(self.address, self._partners, conf=self._conf, consumers=[self.state])
        reserve_journal_blocks(self._sync, self._conf.journalFile)  # a full disk: ENOSPC, not SIGBUS

    def close(self) -> None:
        sync, self._sync = self._sync, None
        if sync is not None:
            sync.destroy_synchronous()

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

    async def call(self, name: str, *args: Any) -> Any:
        """A replicated command, or `add_node` / `remove_node` (one membership change at a time)."""
        sync = self._require()
        if name == "add_node":
            method: Callable[..., Any] = sync.addNodeToCluster
        elif name == "remove_node":
            method = sync.removeNodeFromCluster
        else:
            method = getattr(self.state, name)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any, error: int) -> None:  # runs on PySyncObj's tick thread
            loop.call_soon_threadsafe(_settle, future, result, error)

        method(*args, callback=settle)
        try:
            return await asyncio.wait_for(future, self.call_timeout)
        except TimeoutError:
            raise RaftError("timeout") from None

    async def acquire(self, service: str, node_id: str, now: float, ttl: float) -> Any:
        return await self.call("acquire", service, node_id, now, ttl)

    async def release(self, service: str, node_id: str, epoch: int, now: float) -> bool:
        return bool(await self.call("release", service, node_id, epoch, now))

    async def heartbeat(self, node_id: str, now: float) -> bool:
        return bool(await self.call("heartbeat", node_id, now))

    async def register(self, member: dict[str, Any]) -> None:
        await self.call("register", member)

    def _require(self) -> SyncObj:
        if self._sync is None:
            raise RaftError("not started")
        return self._sync


def _settle(future: asyncio.Future[Any], result: Any, error: int) -> None:
    if future.done():
        return
    if error == FAIL_REASON.SUCCESS:
        future.set_result(result)
    else:
        future.set_exception(RaftError(_REASONS.get(error, str(error))))
