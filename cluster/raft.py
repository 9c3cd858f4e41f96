"""The app's handle on its node's Raft agent: a read replica and replicated calls.

The PySyncObj member, the master lease keeper and the membership heartbeat run in a
small process of their own, the Raft agent (`cluster.agent`), so request work in the
app (its event loop, its GIL) cannot starve them. The app spawns it at start (it dies
with the app: PR_SET_PDEATHSIG) and talks to it over a private socketpair:

- the agent streams the replicated state, a snapshot then every applied command, into
  `model`, a read replica that services read locally (membership, leases, settings,
  revocations on every request);
- replicated writes are calls to the agent that return the Raft result, or raise
  RaftError with the reason, within `call_timeout`;
- `status()` is the Raft status the agent last pushed (every 0.2 s);
- a thread of its own checks in with the agent several times a second: the agent keeps
  the lease only while the app does (`cluster.agent_watchdog`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cluster.agent_channel import Channel
from cluster.agent_replica import Replica
from cluster.config import RaftConfig
from cluster.errors import RaftAgentStartError, RaftError
from cluster.model import ClusterModel, LeaseResult, Member
from cluster.processes import die_with_parent, raise_priority

log = logging.getLogger("course_selection.raft")
_ROOT = Path(__file__).resolve().parent.parent
_STOP = ("stop-writer",)
START_SECONDS = 30.0


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


@dataclass(frozen=True)
class AgentParams:
    """What the agent needs, sent as its first message (the password never on a command line)."""

    address: str
    partners: list[str]
    data_dir: Path
    node_id: str
    password: str = field(repr=False)
    timing: RaftConfig
    member: Member
    log_level: str
    app_pid: int
    bind: str = ""  # the address the member binds (default: `address`, which the peers reach)


@dataclass(frozen=True)
class AgentStatus:
    raft: RaftStatus
    registered: bool
    renewal: dict[str, Any]
    applied: int
    checkpoints: dict[int, str]
    checkin_gap_max: float
    busy_seconds: float
    truncations: int
    pid: int


class RaftGroup:
    def __init__(
        self,
        address: str,
        partners: list[str],
        data_dir: Path,
        node_id: str,
        password: str,
        timing: RaftConfig,
        member: Member,
        log_level: str = "info",
        bind: str | None = None,
    ) -> None:
        self.address = address
        self.partners = partners
        self._params = AgentParams(
            address,
            partners,
            data_dir.resolve(),
            node_id,
            password,
            timing,
            member,
            log_level,
            os.getpid(),
            bind or address,
        )
        self.ping_seconds = min(0.1, timing.lease_seconds / 15)
        self.replica = Replica()
        self.agent: AgentStatus | None = None
        self.agent_seen = 0.0  # monotonic time of the last status push
        self.on_lease: Callable[[int, float, float], None] = lambda epoch, until, sent: None
        self.call_timeout = 5.0  # callers narrow it with asyncio.timeout() where they must
        self.process: subprocess.Popen[bytes] | None = None
        self._channel: Channel | None = None
        self._outgoing: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
        self._ids = itertools.count(1)
        self._synced = threading.Event()
        self._closing = False
        self._gone = False

    @property
    def model(self) -> ClusterModel:
        """This node's replica of the replicated state (may lag the leader slightly)."""
        return self.replica.model

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def start(self) -> None:
        """Spawn the agent and wait until its replica has the replicated state."""
        self.spawn()
        deadline = time.monotonic() + START_SECONDS
        while not self._synced.is_set():
            if self._gone or time.monotonic() > deadline:
                raise RaftAgentStartError("the Raft agent did not send the replicated state")
            await asyncio.sleep(0.02)

    def spawn(self) -> None:
        """Start the agent (from the main thread: the death signal follows the spawning thread)."""
        mine, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cluster.agent", "--fd", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the app, which stops its agent in order
            preexec_fn=die_with_parent,
        )
        theirs.close()
        self._channel = Channel(mine)
        self._channel.send(("hello", self._params))
        threading.Thread(target=self._read, name="raft-agent-reader", daemon=True).start()
        threading.Thread(target=self._write, name="raft-agent-liveness", daemon=True).start()
        log.info("started the Raft agent", extra={"pid": self.process.pid})

    async def close(self) -> None:
        self._closing = True
        process = self.process
        if process is None:
            return
        self._outgoing.put(("op", "stop", ()))
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            log.warning("the Raft agent did not stop in time; killing it", extra={"pid": process.pid})
            process.kill()
            await asyncio.to_thread(process.wait)
        self._outgoing.put(_STOP)
        if self._channel is not None:
            self._channel.close()

    def status(self) -> RaftStatus:
        agent = self.agent
        if agent is None:
            return RaftStatus(self.address, "starting", 0, None, False, 0, 0, {})
        return agent.raft

    def op(self, name: str, *args: Any) -> None:
        """Tell the agent something that needs no answer (e.g. step down)."""
        self._outgoing.put(("op", name, args))

    # replicated calls

    async def register(self, member: Member) -> None:
        await self.call("register", asdict(member))

    async def heartbeat(self, node_id: str, now: float) -> bool:
        return bool(await self.call("heartbeat", node_id, now))

    async def forget(self, node_id: str) -> bool:
        return bool(await self.call("forget", node_id))

    async def acquire(self, service: str, node_id: str, now: float, ttl: float) -> LeaseResult:
        result: LeaseResult = await self.call("acquire", service, node_id, now, ttl)
        return result

    async def release(self, service: str, node_id: str, epoch: int, now: float) -> bool:
        return bool(await self.call("release", service, node_id, epoch, now))

    async def update_settings(self, settings: dict[str, Any], actor: str, changes: dict[str, Any], now: float) -> int:
        return int(await self.call("update_settings", settings, actor, changes, now))

    async def revoke_sessions(self, session_ids: list[str], until: float, now: float) -> None:
        await self.call("revoke_sessions", session_ids, until, now)

    async def add_node(self, address: str) -> None:
        """Add a Raft member (one change at a time); start the new node after this returns."""
        await self.call("add_node", address)

    async def remove_node(self, address: str) -> None:
        await self.call("remove_node", address)

    async def release_lease(self) -> None:
        """Stop the agent renewing this node's lease, and give it up."""
        await self.call("release_lease")

    async def call(self, name: str, *args: Any) -> Any:
        if self._channel is None or self._gone:
            raise RaftError("agent_unavailable")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        call_id = next(self._ids)
        self._pending[call_id] = (loop, future)
        self._outgoing.put(("call", call_id, name, args))
        try:
            return await asyncio.wait_for(future, self.call_timeout)
        except TimeoutError:
            raise RaftError("timeout") from None
        finally:
            self._pending.pop(call_id, None)

    # the two threads

    def _read(self) -> None:
        assert self._channel is not None
        try:
            while True:
                message = self._channel.recv()
                try:
                    self._handle(message)
                except Exception:
                    log.exception("cannot handle a message from the Raft agent", extra={"kind": message[0]})
        except (EOFError, OSError):
            pass
        self._gone = True
        for loop, future in list(self._pending.values()):
            loop.call_soon_threadsafe(_settle, future, False, "agent_unavailable")
        if not self._closing:
            log.error("the Raft agent is gone; stopping this node so it restarts with a new one")
            os.kill(os.getpid(), signal.SIGTERM)

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "apply":
            self.replica.apply(message[1], message[2], message[3])
        elif kind == "lease":
            self.on_lease(message[1], message[2], message[3])
        elif kind == "result":
            entry = self._pending.get(message[1])
            if entry is not None:
                entry[0].call_soon_threadsafe(_settle, entry[1], message[2], message[3])
        elif kind == "status":
            self.agent, self.agent_seen = message[1], time.monotonic()
        elif kind == "snapshot":
            self.replica.load(message[1], pickle.loads(message[2]))
            self._synced.set()

    def _write(self) -> None:
        """Sends queued messages, and checks in every `ping_seconds` (the app's liveness)."""
        assert self._channel is not None
        raise_priority()
        next_ping = 0.0
        while True:
            message: tuple[Any, ...] | None
            try:
                message = self._outgoing.get(timeout=max(0.0, next_ping - time.monotonic()))
            except queue.Empty:
                message = None
            if message == _STOP:
                return
            try:
                if message is not None:
                    self._channel.send(message)
                now = time.monotonic()
                if now >= next_ping:
                    self._channel.send(("alive",))
                    next_ping = now + self.ping_seconds
            except OSError:
                return


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(RaftError(str(value)))
