"""The Raft agent: one small process per node for the PySyncObj member, the lease and the heartbeat.

`python -m cluster.agent --fd N`, spawned by the node's app (`cluster.raft.RaftGroup`) with
its end of a private socketpair; its first message is the AgentParams. The agent:

- runs the PySyncObj member and streams the replicated state to the app (a snapshot,
  then every applied command; `cluster.agent_replica`);
- answers the app's replicated calls;
- keeps the master lease (`cluster.agent_lease`) and the membership heartbeat, both
  only while the app checks in, and kills a frozen master (`cluster.agent_watchdog`);
- pushes its status (Raft state, renewal latency) every 0.2 s.

It raises its CPU priority when it may (as root), ignores Ctrl-C (the app stops it in
order), and exits as soon as the app is gone (PR_SET_PDEATHSIG sends it SIGTERM), so a
restarted node finds its Raft port free.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from cluster.agent_channel import Channel
from cluster.agent_lease import LeaseKeeper
from cluster.agent_metrics import RenewalStats
from cluster.agent_raft import RaftMember, ReplicatedState, TruncationNotice
from cluster.agent_replica import COMMANDS
from cluster.agent_watchdog import TICK_SECONDS, AppWatchdog, proc_probe
from cluster.errors import RaftError
from cluster.logs import configure_logging
from cluster.membership import MembershipAgent
from cluster.processes import raise_priority
from cluster.raft import AgentParams, AgentStatus

log = logging.getLogger("course_selection.agent")
STATUS_SECONDS = 0.2
BACKLOG_LIMIT = 20_000


class AppMessages:
    """Messages to the app, sent by a thread of their own: Raft's tick thread never blocks.

    If the app stops reading (frozen) and the backlog passes BACKLOG_LIMIT, the queued
    messages are replaced by one fresh snapshot (the replica skips commands it already has).
    """

    def __init__(self, channel: Channel, resync: Callable[[], tuple[Any, ...]]) -> None:
        self.channel = channel
        self.resync = resync
        self._queue: deque[tuple[Any, ...]] = deque()
        self._ready = threading.Condition()

    def put(self, message: tuple[Any, ...]) -> None:
        with self._ready:
            if len(self._queue) >= BACKLOG_LIMIT:
                self._queue.clear()
                self._queue.append(("resync",))
            self._queue.append(message)
            self._ready.notify()

    def backlog(self) -> int:
        return len(self._queue)

    def run(self) -> None:
        while True:
            with self._ready:
                while not self._queue:
                    self._ready.wait()
                batch = list(self._queue)
                self._queue.clear()
            try:
                for message in batch:
                    self.channel.send(self.resync() if message[0] == "resync" else message)
            except OSError:
                return  # the app is gone; SIGTERM follows


class Agent:
    def __init__(self, channel: Channel, params: AgentParams, notice: TruncationNotice) -> None:
        self.channel = channel
        self.params = params
        self.notice = notice
        timing = params.timing
        self.state = ReplicatedState(emit=lambda message: self.outbox.put(message))
        self.outbox = AppMessages(channel, self.state.snapshot_message)
        self.raft = RaftMember(params, self.state)
        self.watchdog = AppWatchdog(timing.lease_seconds, timing.lease_margin_seconds, probe=proc_probe(params.app_pid))
        self.stats = RenewalStats()
        self.keeper = LeaseKeeper(
            self.raft,
            params.member.service,
            params.node_id,
            timing,
            alive=self.watchdog.alive,
            publish=lambda epoch, until, sent: self.outbox.put(("lease", epoch, until, sent)),
            stats=self.stats,
        )
        self.membership = MembershipAgent(self.raft, params.member, timing.heartbeat_seconds, alive=self.watchdog.alive)
        self._stopping: asyncio.Event | None = None

    def run(self) -> int:
        self.outbox.put(self.state.snapshot_message())
        threading.Thread(target=self.outbox.run, name="agent-outbox", daemon=True).start()
        self.raft.start()  # the main thread: PySyncObj's requirement
        try:
            asyncio.run(self._serve())
        finally:
            self.raft.close()
        return 0

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._stopping = stopping = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        threading.Thread(target=self._read, args=(loop,), name="agent-reader", daemon=True).start()
        tasks = [
            asyncio.create_task(self.keeper.run(), name="lease"),
            asyncio.create_task(self.membership.run(), name="membership"),
            asyncio.create_task(self._watch(), name="watchdog"),
            asyncio.create_task(self._push_status(), name="status"),
        ]
        log.info("Raft agent running", extra={"app_pid": self.params.app_pid, "raft": self.params.address})
        await stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _on_sigterm(self) -> None:
        if os.getppid() != self.params.app_pid:
            os._exit(0)  # the app died: free the Raft port at once for its restart
        assert self._stopping is not None
        self._stopping.set()

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while True:
                message = self.channel.recv()
                kind = message[0]
                if kind == "alive":
                    self.watchdog.checkin()
                elif kind == "call":
                    asyncio.run_coroutine_threadsafe(self._call(message[1], message[2], message[3]), loop)
                elif kind == "op":
                    loop.call_soon_threadsafe(self._op, message[1], message[2])
        except (EOFError, OSError):
            pass
        if self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)

    async def _call(self, call_id: int, name: str, args: tuple[Any, ...]) -> None:
        try:
            if name == "release_lease":
                await self.keeper.release()
                value: Any = None
            elif name in COMMANDS or name in ("add_node", "remove_node"):
                value = await self.raft.call(name, *args)
            else:
                raise RaftError(f"unknown call {name}")
            self.outbox.put(("result", call_id, True, value))
        except RaftError as exc:
            self.outbox.put(("result", call_id, False, exc.reason))
        except Exception:
            log.exception("agent call failed", extra={"call": name})
            self.outbox.put(("result", call_id, False, "agent_error"))

    def _op(self, name: str, args: tuple[Any, ...]) -> None:
        if name == "step_down":
            self.keeper.step_down(*args)
        elif name == "stop" and self._stopping is not None:
            self._stopping.set()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if self.watchdog.must_kill(self.keeper.granted_sent):
                log.error(
                    "the app has been stopped or silent for longer than a lease while master: killing it",
                    extra={"app_pid": self.params.app_pid, "service": self.keeper.service},
                )
                if os.getppid() == self.params.app_pid:
                    os.kill(self.params.app_pid, signal.SIGKILL)
                os._exit(0)

    async def _push_status(self) -> None:
        while True:
            if self.outbox.backlog() < 100:  # a frozen app gets one status when it wakes, not many
                self.outbox.put(("status", self.status()))
            await asyncio.sleep(STATUS_SECONDS)

    def status(self) -> AgentStatus:
        return AgentStatus(
            raft=self.raft.status(),
            registered=self.membership.registered.is_set(),
            renewal=self.stats.snapshot(),
            applied=self.state.applied,
            checkpoints=dict(self.state.checkpoints.digests),
            checkin_gap_max=round(self.watchdog.gap_max, 6),
            busy_seconds=round(self.watchdog.busy_seconds, 3),
            truncations=self.notice.count,
            pid=os.getpid(),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cluster.agent", description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="this end of the app's socketpair")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = Channel(socket.socket(fileno=args.fd))
    kind, params = channel.recv()
    if kind != "hello" or not isinstance(params, AgentParams):
        print("error: the first message must be hello", file=sys.stderr)
        return 2
    configure_logging(params.log_level, node=params.node_id, service=params.member.service, process="raft-agent")
    notice = TruncationNotice()
    logging.getLogger("pysyncobj.syncobj").addFilter(notice)
    raise_priority()  # before any thread starts: they inherit it
    return Agent(channel, params, notice).run()


if __name__ == "__main__":
    sys.exit(main())
