"""The waiters (`?wait=N`) and the statistics, against the in-memory store; the membership
agent against the Raft twin (`tests/kit/raft.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from cluster.membership import MembershipAgent
from cluster.model import ClusterModel, Member
from services.queue.records import Admission
from services.queue.stats import QueueStats
from services.queue.waiters import Waiters
from tests.kit.partition import partitioned
from tests.kit.queue_store import MemoryStore
from tests.kit.raft import Network, TwinRaft
from tests.kit.waiting import eventually


def ask(n: int) -> Admission:
    return Admission(f"rq{n:06d}", n, None, "enroll", 7, None, f"s{n}", 2, f"k{n}")


async def decide(store: MemoryStore, *ids: str) -> None:
    decisions = [{"queue_request_id": i, "outcome": "accepted", "type": "", "reason": "", "seq": 1} for i in ids]
    answer = json.dumps({"decisions": decisions, "full_courses": {}, "open_courses": []}).encode()
    await store.finish(answer, [], 200.0)


@contextlib.asynccontextmanager
async def listening(waiters: Waiters) -> AsyncIterator[Waiters]:
    task = asyncio.create_task(waiters.listen())
    try:
        yield waiters
    finally:
        waiters.stop()
        await asyncio.wait_for(task, 5)


async def test_a_waiter_wakes_on_the_announcement_and_returns_the_record() -> None:
    store = MemoryStore()
    await store.admit([ask(1), ask(2)], 100.0)
    async with listening(Waiters(store)) as waiters:
        await eventually(lambda: store._listeners, 5, "the waiters subscribed")
        waiting = asyncio.create_task(waiters.final("rq000001", 30))
        await eventually(lambda: "rq000001" in waiters._events, 5, "the waiter registered")
        await decide(store, "rq000001")
        record = await asyncio.wait_for(waiting, 5)  # woken by the announcement, well before 30 s
        assert record is not None
        assert record["status"] == "accepted"
        assert waiters._events == {}  # nothing left behind
        # already final, no wait, or unknown: answered at once
        assert (await waiters.final("rq000001", 30) or {})["status"] == "accepted"
        assert (await waiters.final("rq000002", 0) or {})["status"] == "pending"
        assert await waiters.final("missing", 30) is None


async def test_a_wait_that_ends_returns_the_record_as_it_is() -> None:
    store = MemoryStore()
    await store.admit([ask(1)], 100.0)
    waiters = Waiters(store)  # (not listening: nothing announces, the re-read still answers)
    assert (await waiters.final("rq000001", 0.05) or {})["status"] == "pending"


async def test_the_waiters_listen_again_after_the_store_fails() -> None:
    store = MemoryStore()
    store.failing = ConnectionError("Redis restarting")
    async with listening(Waiters(store)):
        await asyncio.sleep(0)
        store.failing = None
        await eventually(lambda: store._listeners, 5, "subscribed again after the failure")


async def test_stats_show_depth_rates_lag_and_streams() -> None:
    now = [1000.0]
    wall = [5000.0]
    store = MemoryStore(clock=lambda: wall[0])
    stats = QueueStats(store, clock=lambda: now[0], wall=lambda: wall[0])
    await stats.read()
    await store.admit([ask(n) for n in range(1, 5)], 4990.0)
    await store.read_new("c", 2, 0)  # two read, not acknowledged
    await decide(store, "rq000001")
    now[0] += 2
    snap = await stats.read()
    assert (snap["admitted"], snap["decided"], snap["depth"]) == (4, 1, 3)
    assert (snap["pending_entries"], snap["undelivered_entries"]) == (2, 2)
    assert snap["lag_seconds"] == 10.0  # the oldest not decided was admitted 10 s ago
    assert snap["admitted_per_second"] == 2.0  # 4 in 2 s
    assert snap["streams"]["q:s:2"] == {"length": 4, "pending": 2, "undelivered": 2}
    assert {m.name: m.samples[0].value for m in stats.collect()}["queue_depth"] == 3.0


async def test_stats_record_the_error_while_the_store_fails() -> None:
    store = MemoryStore()
    store.failing = ConnectionError("down")
    stats = QueueStats(store)
    task = asyncio.create_task(stats.sample_forever())
    try:
        await eventually(lambda: "error" in stats.snapshot, 5, "the error in the snapshot")
    finally:
        stats.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert "ConnectionError" in stats.snapshot["error"]


def me() -> Member:
    return Member("queue-1", "queue", "http://127.0.0.1:1", "127.0.0.1:2", "test", 1.0, 0.0)


async def test_a_member_registers_then_beats_and_registers_again_when_forgotten() -> None:
    model, wall = ClusterModel(), [10.0]
    agent = MembershipAgent(TwinRaft(model, node_id="queue-1"), me(), 0.01, wall=lambda: wall[0])
    await agent.beat()
    assert model.members["queue-1"].last_heartbeat == 10.0
    assert agent.registered.is_set()
    wall[0] = 11.0
    await agent.beat()
    assert model.members["queue-1"].last_heartbeat == 11.0
    model.forget("queue-1")  # removed (or the state was reset): the next beat registers it again
    wall[0] = 12.0
    await agent.beat()
    assert model.members["queue-1"].last_heartbeat == 12.0


async def test_a_member_whose_app_is_not_alive_does_not_beat_and_a_cut_off_one_retries() -> None:
    model, network, alive, wall = ClusterModel(), Network(), [False], [10.0]
    raft = TwinRaft(model, node_id="queue-1", network=network)
    agent = MembershipAgent(raft, me(), 0.01, wall=lambda: wall[0], alive=lambda: alive[0])
    task = asyncio.create_task(agent.run())
    try:
        with partitioned(network, "queue-1"):
            await asyncio.sleep(0.05)
            assert model.members == {}  # a frozen or dead app: no heartbeat, the entry goes stale
            alive[0] = True
            await asyncio.sleep(0.15)  # (turns of 0.1 s until registered: it tried, and could not commit)
            assert not agent.registered.is_set()
        await asyncio.wait_for(agent.registered.wait(), 5)  # healed: registered on the next turn
        wall[0] = 20.0
        await eventually(lambda: model.members["queue-1"].last_heartbeat == 20.0, 5, "heartbeats once registered")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
