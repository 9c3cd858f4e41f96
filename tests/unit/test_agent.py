"""The Raft agent's parts without processes: watchdog, replica stream, metrics, log notice."""

from __future__ import annotations

import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
from dataclasses import asdict
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from cluster.agent import BACKLOG_LIMIT, AppMessages
from cluster.agent_channel import Channel
from cluster.agent_metrics import RenewalStats
from cluster.agent_raft import ReplicatedState, TruncationNotice
from cluster.agent_replica import CHECKPOINT_EVERY, Replica, digest
from cluster.agent_watchdog import BUSY_GRACE_SECONDS, AppWatchdog, ProcessSample, proc_probe
from cluster.lease_metrics import LeaseCollector
from cluster.model import ClusterModel, Member
from tests.support import wait_until

LEASE, MARGIN = 1.5, 0.3


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def advance(clock: Clock, dog: AppWatchdog, seconds: float, granted_sent: float, checkin: bool = False) -> bool:
    """Tick the watchdog every 50 ms for `seconds`; True if it decided to kill."""
    killed = False
    for _ in range(round(seconds / 0.05)):
        clock.now += 0.05
        if checkin:
            dog.checkin()
        killed = dog.must_kill(granted_sent) or killed
    return killed


def test_the_app_is_alive_while_it_checks_in() -> None:
    clock = Clock()
    dog = AppWatchdog(LEASE, MARGIN, clock)
    assert dog.alive()
    clock.now += dog.alive_window - 0.01
    assert dog.alive()
    clock.now += 0.02
    assert not dog.alive()
    dog.checkin()
    assert dog.alive()
    assert dog.gap_max > dog.alive_window


def test_a_silent_master_is_killed_once_its_own_lease_has_ended() -> None:
    clock = Clock()
    dog = AppWatchdog(LEASE, MARGIN, clock)
    granted_sent = clock.now + 0.2  # the app froze now; its agent renewed once more, still within the window
    silent_until = clock.now + dog.alive_window  # from then on it is not alive
    assert not advance(clock, dog, dog.alive_window + LEASE - 0.05, granted_sent)  # a stall shorter than a lease
    assert clock.now > granted_sent + LEASE - MARGIN  # (its own lease is over by now: it cannot commit)
    assert advance(clock, dog, 0.1, granted_sent)  # silent for a whole lease and its lease over: killed
    assert clock.now - silent_until < LEASE + 0.1  # ... not a margin after the replicated lease as well


def test_a_master_that_stalls_for_less_than_a_lease_is_not_killed() -> None:
    clock = Clock()
    dog = AppWatchdog(LEASE, MARGIN, clock)
    granted_sent = clock.now  # its last renewal: its own lease ends at LEASE - MARGIN
    assert not advance(clock, dog, LEASE - 0.1, granted_sent)  # starved on a loaded host, past its lease
    assert not advance(clock, dog, 1.0, granted_sent, checkin=True)  # back: it lost the lease, not its life


class Process:
    """A fake /proc sample: running or stopped, and CPU ticks that advance while it works."""

    def __init__(self) -> None:
        self.running, self.working, self.ticks = True, True, 0

    def __call__(self) -> ProcessSample:
        if self.running and self.working:
            self.ticks += 1
        return ProcessSample(self.running, self.ticks)


def test_a_busy_app_keeps_its_lease_without_checking_in_but_not_forever() -> None:
    clock, process = Clock(), Process()
    dog = AppWatchdog(LEASE, MARGIN, clock, probe=process)
    granted_sent = clock.now
    assert not advance(clock, dog, BUSY_GRACE_SECONDS - 0.5, granted_sent)  # one long C call holding the GIL
    assert dog.alive()
    assert dog.busy_seconds > BUSY_GRACE_SECONDS - 1.5
    assert advance(clock, dog, LEASE + MARGIN + 1.0, granted_sent=clock.now + 0.4)  # renewed while busy


def test_a_stopped_or_idle_silent_app_is_not_alive() -> None:
    clock, process = Clock(), Process()
    dog = AppWatchdog(LEASE, MARGIN, clock, probe=process)
    advance(clock, dog, 0.2, 0.0, checkin=True)
    process.running = False  # SIGSTOP: the kernel shows it stopped
    advance(clock, dog, dog.alive_window + 0.1, 0.0)
    assert not dog.alive()
    process.running, process.working = True, False  # not stopped, but not progressing either
    advance(clock, dog, 0.2, 0.0)
    assert not dog.alive()


def test_a_silent_slave_and_a_live_master_are_left_alone() -> None:
    clock = Clock()
    dog = AppWatchdog(LEASE, MARGIN, clock)
    assert not advance(clock, dog, 10, granted_sent=0.0)  # never master
    live = AppWatchdog(LEASE, MARGIN, clock)
    assert not advance(clock, live, 10, granted_sent=clock.now + 5, checkin=True)


def test_an_agent_that_was_paused_itself_gives_the_app_a_fresh_window() -> None:
    clock = Clock()
    dog = AppWatchdog(LEASE, MARGIN, clock)
    granted_sent = clock.now
    clock.now += 10  # the whole host was frozen: no tick in between
    assert not dog.must_kill(granted_sent)
    assert dog.alive()


def test_renewal_stats_give_the_tail_and_the_prometheus_names() -> None:
    stats = RenewalStats()
    for i in range(100):
        stats.observe(0.01 if i < 98 else 0.9, "granted")
    stats.observe(5.0, "timeout")
    snap = stats.snapshot()
    assert snap["p50_seconds"] == 0.01
    assert snap["p99_seconds"] == 0.9
    assert snap["max_seconds"] == 5.0
    assert snap["failures"] == {"timeout": 1}
    registry = CollectorRegistry()
    report = {
        "renewal": snap,
        "is_master": 1,
        "epochs": {"login": 3},
        "app_checkin_gap_max_seconds": 0.2,
        "raft_truncations": 2,
    }
    registry.register(LeaseCollector(lambda: report))
    text = generate_latest(registry).decode()
    assert 'cluster_lease_renewal_seconds_bucket{le="0.01"} 98.0' in text
    assert 'cluster_lease_renewal_seconds_bucket{le="+Inf"} 101.0' in text
    assert 'cluster_lease_renewal_failures_total{reason="timeout"} 1.0' in text
    assert 'cluster_master_epoch{service="login"} 3.0' in text
    assert "cluster_is_master 1.0" in text
    assert "cluster_raft_truncations_total 2.0" in text


MEMBER = Member("n1", "login", "http://127.0.0.1:1", "127.0.0.1:2", "0.1.0", 1.0, 1.0)


def drive(state: ReplicatedState, count: int) -> None:
    """Apply commands as PySyncObj would (the replicated methods with _doApply)."""
    state.register(asdict(MEMBER), _doApply=True)
    for i in range(count - 1):
        if i % 3 == 0:
            state.acquire("login", "n1", 10.0 + i, 1.5, _doApply=True)
        elif i % 3 == 1:
            state.revoke_sessions([f"s{i}"], 1000.0 + i, 10.0 + i, _doApply=True)
        elif i % 2:
            state.update_settings({"n": i}, "admin", {"n": i}, 10.0 + i, _doApply=True)
        else:
            state.heartbeat("n1", 10.0 + i, _doApply=True)


def test_the_app_replica_follows_the_stream_to_the_same_state() -> None:
    sent: list[tuple[Any, ...]] = []
    state = ReplicatedState(emit=sent.append)
    replica = Replica()
    first = replica.model
    bound = replica.model.session_revoked  # as the token verifier holds it
    sent.append(state.snapshot_message())
    drive(state, 3 * CHECKPOINT_EVERY)
    for message in sent:
        if message[0] == "snapshot":
            replica.load(message[1], pickle.loads(message[2]))
        else:
            replica.apply(message[1], message[2], message[3])
    assert replica.applied == state.applied == 3 * CHECKPOINT_EVERY
    assert digest(replica.model) == digest(state.model)
    assert replica.checkpoints.digests == {0: digest(ClusterModel()), **state.checkpoints.digests}
    assert len(state.checkpoints.digests) == 3
    assert replica.model is first
    assert bound("s1", 0.0)
    # a snapshot taken later, then commands it already holds: each is applied once
    later = state.snapshot_message()
    drive(state, 2)
    again = Replica()
    again.load(later[1], pickle.loads(later[2]))
    for message in sent:
        if message[0] == "apply":
            again.apply(message[1], message[2], message[3])
    assert digest(again.model) == digest(state.model)


def test_a_loaded_snapshot_keeps_the_count_and_is_streamed() -> None:
    source = ReplicatedState()
    drive(source, 20)
    data = source._serialize()
    assert set(data) == {"model", "applied"}  # the hooks are not part of the snapshot
    sent: list[tuple[Any, ...]] = []
    target = ReplicatedState(emit=sent.append)
    target._deserialize(pickle.loads(pickle.dumps(data)))
    assert target.applied == 20
    assert [m[0] for m in sent] == ["snapshot"]
    assert target.checkpoints.digests[20] == digest(source.model)


def test_a_backlog_past_its_limit_becomes_one_snapshot() -> None:
    state = ReplicatedState()
    mine, theirs = socket.socketpair()
    channel = Channel(mine)
    try:
        outbox = AppMessages(channel, state.snapshot_message)
        for i in range(BACKLOG_LIMIT + 5):
            outbox.put(("apply", i + 1, "heartbeat", ("n1", 1.0)))
        assert outbox.backlog() == 6
        assert outbox._queue[0] == ("resync",)
    finally:
        channel.close()
        theirs.close()


def test_the_truncation_notice_is_logged_at_debug_and_counted(caplog: Any) -> None:
    logger = logging.getLogger("pysyncobj.test-notice")
    notice = TruncationNotice()
    logger.addFilter(notice)
    try:
        with caplog.at_level(logging.DEBUG):
            logger.critical("truncating already-applied log entries from index %d", 5)
            logger.critical("something else")
        levels = [(r.levelname, r.getMessage()[:30]) for r in caplog.records]
        assert levels[0] == ("DEBUG", "truncating already-applied log")
        assert levels[1][0] == "CRITICAL"
        assert notice.count == 1
    finally:
        logger.removeFilter(notice)


def test_the_proc_probe_sees_a_running_a_stopped_and_a_gone_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        probe = proc_probe(child.pid)
        first = probe()
        assert first is not None
        assert first.running
        wait_until(lambda: (s := probe()) is not None and s.cpu_ticks > first.cpu_ticks, 10, "CPU time to advance")
        os.kill(child.pid, signal.SIGSTOP)
        wait_until(lambda: (s := probe()) is not None and not s.running, 10, "the child shown stopped")
    finally:
        child.kill()
        child.wait()
    assert probe() is None
