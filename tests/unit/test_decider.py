"""The queue master's decider, against the in-memory store and a ledger twin."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from cluster.settings import QueueSettings
from services.queue.decider import Decider
from services.queue.records import Admission, Stalled
from tests.kit.queue_store import MemoryStore
from tests.kit.waiting import eventually


class Ledger:
    """Accepts every request, once per id (as the real one: a batch sent twice is applied once);
    `failing` makes it raise instead, as a ledger that cannot be reached."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.decided: dict[str, int] = {}
        self.failing = False

    async def __call__(self, batch: dict[str, Any]) -> bytes:
        if self.failing:
            raise RuntimeError("the ledger answered 503")
        ids = [r["queue_request_id"] for r in batch["requests"]]
        self.batches.append(ids)
        for rid in ids:
            self.decided.setdefault(rid, len(self.decided) + 1)
        decisions = [
            {"queue_request_id": rid, "outcome": "accepted", "type": "", "reason": "", "seq": self.decided[rid]}
            for rid in ids
        ]
        return json.dumps({"decisions": decisions, "full_courses": {}, "open_courses": []}).encode()


def ask(n: int, action: str = "enroll", priority: int = 2) -> Admission:
    return Admission(f"rq{n:06d}", n, None, action, 7, None, f"s{n}", priority, f"k{n}")


@contextlib.asynccontextmanager
async def running(decider: Decider) -> AsyncIterator[Decider]:
    task = asyncio.create_task(decider.run())
    try:
        yield decider
    finally:
        decider.stop()
        await asyncio.wait_for(task, 5)


def decider_of(store: MemoryStore, ledger: Ledger, master: list[bool], **settings: Any) -> Decider:
    rules = QueueSettings(**{"batch_size": 2, **settings})
    return Decider(store, "queue-1", lambda: rules, lambda: master[0], ledger)


async def test_requests_are_decided_in_batches_by_priority_then_admission() -> None:
    store, ledger = MemoryStore(), Ledger()
    await store.admit([ask(1), ask(2), ask(3, "drop", priority=0), ask(4), ask(5, "swap", priority=1)], 100.0)
    async with running(decider_of(store, ledger, [True])) as decider:
        await eventually(lambda: len(ledger.decided) == 5, 5, "every request decided")
        await eventually(lambda: decider.state.role == "idle", 5, "the decider idle")
    assert [rid for batch in ledger.batches for rid in batch] == [
        "rq000003",
        "rq000005",
        "rq000001",
        "rq000002",
        "rq000004",
    ]
    assert max(len(b) for b in ledger.batches) == 2  # queue.batch_size
    assert {r["status"] for r in store.records.values()} == {"accepted"}
    assert (await store.figures()).streams["q:s:2"].pending == 0  # acknowledged
    assert decider.state.decided == 5


async def test_a_standby_decides_nothing_until_it_is_master() -> None:
    store, ledger, master = MemoryStore(), Ledger(), [False]
    await store.admit([ask(1)], 100.0)
    async with running(decider_of(store, ledger, master)) as decider:
        await eventually(lambda: decider.state.role == "standby", 5, "standby")
        await asyncio.sleep(0.2)  # (a standby's turn is 0.1 s: it had turns to decide, and must not)
        assert ledger.batches == []
        master[0] = True
        await eventually(lambda: ledger.decided, 5, "the new master deciding")


async def test_entries_a_dead_master_read_are_decided_first_and_once() -> None:
    store, ledger = MemoryStore(), Ledger()
    await store.admit([ask(1), ask(2)], 100.0)
    await store.read_new("dead-master", 10, 0)  # read, never acknowledged
    await store.admit([ask(3)], 101.0)
    async with running(decider_of(store, ledger, [True], batch_size=10)):
        await eventually(lambda: len(ledger.decided) == 3, 5, "all decided")
    assert ledger.batches[0][:2] == ["rq000001", "rq000002"]
    assert (await store.figures()).decided == 3


async def test_a_ledger_that_cannot_decide_stalls_admission_until_it_decides_again() -> None:
    store, ledger = MemoryStore(), Ledger()
    ledger.failing = True
    await store.admit([ask(1), ask(2)], 100.0)
    async with running(decider_of(store, ledger, [True], decision_timeout_seconds=0.3, max_retries=1)) as decider:
        await eventually(lambda: store.stalled is not None, 10, "the queue marked stalled")
        assert decider.state.role == "retrying"
        assert "503" in decider.state.last_error
        [refused] = await store.admit([ask(3)], 101.0)
        assert isinstance(refused, Stalled)
        assert ledger.decided == {}  # nothing newer was decided meanwhile, nothing was dropped
        ledger.failing = False
        await eventually(lambda: store.stalled is None, 10, "the stall mark cleared")
        await eventually(lambda: len(ledger.decided) == 2, 5, "the stalled requests decided")
    assert ledger.batches[0] == ["rq000001", "rq000002"]  # in order, after the stall


async def test_a_lost_answer_sends_the_batch_again_and_it_counts_once() -> None:
    store, ledger = MemoryStore(), Ledger()
    real_finish = store.finish
    lost = [True]

    async def finish(answer: bytes | None, acked: Any, now: float, full_for: float = 0.0) -> None:
        if lost[0] and answer is not None:
            lost[0] = False
            raise ConnectionError("Redis went away before the decisions were recorded")
        await real_finish(answer, acked, now, full_for)

    store.finish = finish  # type: ignore[method-assign]
    await store.admit([ask(1)], 100.0)
    async with running(decider_of(store, ledger, [True])):
        await eventually(lambda: store.records["rq000001"]["status"] == "accepted", 5, "decided")
    assert ledger.batches == [["rq000001"], ["rq000001"]]
    assert (await store.figures()).decided == 1


async def test_the_state_reports_the_last_batch() -> None:
    master = True
    store, ledger = MemoryStore(), Ledger()
    await store.admit([ask(1), ask(2), ask(3)], 100.0)
    async with running(decider_of(store, ledger, [master], batch_size=3)) as decider:
        await eventually(lambda: decider.state.decided == 3, 5, "decided")
    state = decider.state.as_json()
    assert (state["batches"], state["last_batch_size"], state["carried"]) == (1, 3, 0)
