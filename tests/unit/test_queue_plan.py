"""Plans in the queue (issue 16): admitted whole, a refused item's next alternative queued in
its place by the finish step; the in-memory twin answers as Redis does, and with a ledger
that counts seats every item ends decided, in order, with no seat sold twice."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from redis.asyncio import Redis

from cluster.settings import QueueSettings
from services.queue.decider import Decider
from services.queue.records import Admission, Entry, PlanAdmission, PlanAdmitted, Refused, Stalled, TooManyOpen
from services.queue.store import QueueStorage, QueueStore
from tests.kit.queue_store import MemoryStore
from tests.kit.waiting import eventually
from tests.unit.test_decider import running

NOW = 1_800_000_000.0
VOLATILE = {"entry", "admitted_at", "decided_at"}


def plan(student: int, key: str, *items: tuple[str, list[int]], refusal: str = "") -> PlanAdmission:
    return PlanAdmission(student, 2027, f"s{student}", 2, key, list(items), refusal)


def decided(entries: list[Entry], outcomes: dict[str, str], full: dict[str, Any] | None = None) -> bytes:
    decisions = [
        {
            "queue_request_id": e.request_id,
            "outcome": outcomes.get(e.request_id, "accepted"),
            "type": "course-full" if outcomes.get(e.request_id) == "rejected" else "",
            "reason": "r",
            "seq": i,
            "via_permit": False,
        }
        for i, e in enumerate(entries, 1)
    ]
    return json.dumps({"decisions": decisions, "full_courses": full or {}, "open_courses": []}).encode()


async def scenario(store: QueueStorage) -> list[Any]:
    """A full course skipped at admission, the same key again, the cap, a closed window, a stall,
    a refusal falling back to the next alternative (once, however often the answer comes), the
    last alternative refused ending the item."""
    seen: list[Any] = []
    await store.prepare()
    await store.admit([Admission("rq000001", 9, None, "enroll", 7, None, "s9", 2, "k1")], NOW)
    first = await store.read_new("c1", 10, 1)
    await store.claim(first)
    await store.finish(decided(first, {}, {"7": {"type": "waitlist-full", "reason": "7 is full"}}), first, NOW, 30)
    mine = plan(1, "p1", ("pa", [7, 8, 9]), ("pb", [10]), ("pc", [7]))
    seen.append(await store.admit_plan(mine, NOW, max_open=10))  # pa queues 8 (7 is full), pc is refused at once
    seen.append(await store.admit_plan(plan(1, "p1", ("px", [11])), NOW, max_open=10))  # the same key: the same
    seen.append(await store.admit_plan(plan(2, "p2", ("qa", [8]), ("qb", [9]), ("qc", [10])), NOW, max_open=2))
    closed = json.dumps({"type": "window-closed", "reason": "not open"})
    seen.append(await store.admit_plan(plan(3, "p3", ("ra", [8]), refusal=closed), NOW))
    seen.append(await store.admit_plan(plan(3, "p3", ("rb", [8])), NOW))  # the refusal, recorded under the key
    await store.mark_stalled("the ledger is away", 30)
    seen.append(await store.admit_plan(plan(4, "p4", ("sa", [8])), NOW))
    await store.clear_stalled()
    seen.append([await store.open_requests(s) for s in (1, 2, 3, 4)])
    batch = await store.read_new("c1", 10, 1)
    seen.append(sorted(e.request_id for e in batch))
    await store.claim(batch)
    answer = decided(batch, {"pa": "rejected"})
    await store.finish(answer, batch, NOW)
    await store.finish(answer, batch, NOW)  # again (a redelivered batch): no second fallback
    seen.append(await store.open_requests(1))
    fallback = await store.read_new("c1", 10, 1)
    seen.append([(e.request_id, e.request["course_id"], e.request["cohort"], e.request["actor"]) for e in fallback])
    await store.claim(fallback)
    await store.finish(decided(fallback, {"pa-2": "rejected"}), fallback, NOW)
    seen.append(await store.read_new("c1", 10, 1))  # the last alternative refused: nothing more
    seen.append(await store.admit_plan(mine, NOW, max_open=10))  # the same key, the statuses now
    for rid in ("pa", "pb", "pa-2"):
        record = await store.record(rid)
        seen.append(record and {k: v for k, v in record.items() if k not in VOLATILE})
    seen.append([await store.open_requests(s) for s in (1, 2)])
    figures = await store.figures()
    seen.append((figures.admitted, figures.decided, figures.refused))
    page, total = await store.student_requests(1, 0, 10)
    seen.append(([i for i, _ in page], total))
    return seen


async def test_the_twin_admits_plans_and_falls_back_as_redis_does(redis: Redis) -> None:
    real = await scenario(QueueStore(redis))
    twin = await scenario(MemoryStore(clock=lambda: NOW))
    for step, (a, b) in enumerate(zip(real, twin, strict=True)):
        assert a == b, f"step {step}: {a} != {b}"
    admitted, again, capped, refused, replayed, stalled = real[:6]
    assert isinstance(admitted, PlanAdmitted)
    assert admitted.new
    assert [(i.course_id, i.queue_request_id, i.status) for i in admitted.items] == [
        (8, "pa", "pending"),
        (10, "pb", "pending"),
        (7, None, "rejected"),
    ]
    assert admitted.items[2].type == "waitlist-full"
    assert isinstance(again, PlanAdmitted)
    assert not again.new
    assert [i.queue_request_id for i in again.items] == ["pa", "pb", None]
    assert capped == TooManyOpen(0)  # three items, two places: nothing admitted
    assert refused == replayed == Refused("window-closed", "not open")
    assert isinstance(stalled, Stalled)
    assert real[6] == [2, 0, 0, 0]
    assert real[7] == ["pa", "pb"]
    assert real[8] == 1  # pa decided, its alternative open in its place
    assert real[9] == [("pa-2", "9", "2027", "s1")]
    assert real[10] == []
    final = real[11]
    assert isinstance(final, PlanAdmitted)
    assert [(i.queue_request_id, i.status) for i in final.items] == [
        ("pa", "rejected"),
        ("pb", "accepted"),
        (None, "rejected"),
    ]
    pa, pb, fallback = real[12:15]
    assert (pa["status"], pa["next"], "alternatives" not in pa) == ("rejected", "pa-2", True)
    assert "next" not in pb
    assert "alternatives" not in pb
    assert (fallback["status"], fallback["course_id"], fallback["alternative"]) == ("rejected", "9", "2")
    assert "next" not in fallback  # no alternative left
    assert real[15] == [0, 0]
    assert real[16] == (4, 4, 2)  # rq000001, pa, pb, pa-2 admitted and decided; 7 refused at once twice


class SeatLedger:
    """Decides enrollments as the ledger does, for seats only: accepted while the course has a
    seat, refused after; once per request id; records the order of its decisions."""

    def __init__(self, capacity: dict[int, int]) -> None:
        self.capacity = capacity
        self.taken: dict[int, list[int]] = {c: [] for c in capacity}
        self.order: list[tuple[str, float]] = []
        self.done: dict[str, dict[str, Any]] = {}

    async def __call__(self, batch: dict[str, Any]) -> bytes:
        out = []
        for r in batch["requests"]:
            rid = r["queue_request_id"]
            if rid not in self.done:
                course, student = r["course_id"], r["student_id"]
                ok = len(self.taken[course]) < self.capacity[course] and student not in self.taken[course]
                if ok:
                    self.taken[course].append(student)
                self.order.append((rid, r["admitted_at"]))
                outcome = "accepted" if ok else "rejected"
                self.done[rid] = {"outcome": outcome, "type": "" if ok else "course-full", "seq": len(self.order)}
            out.append({"queue_request_id": rid, "reason": "", "via_permit": False, **self.done[rid]})
        await asyncio.sleep(0)
        return json.dumps({"decisions": out, "full_courses": {}, "open_courses": []}).encode()


async def test_plans_in_a_rush_end_decided_in_order_and_never_oversell(redis: Redis) -> None:
    """Many students submit plans over the same few courses: every item ends accepted, or
    refused after its last alternative; no course takes more than its seats; requests are
    decided in the order they were admitted (an alternative when its item was refused)."""
    store = QueueStore(redis)
    await store.prepare()
    capacity = dict.fromkeys(range(1, 7), 3)
    ledger = SeatLedger(capacity)
    rules = QueueSettings(batch_size=7, max_open_requests=0)
    decider = Decider(store, "queue-1", lambda: rules, lambda: True, ledger)
    rng = random.Random(16)
    plans = {}
    for student in range(1, 41):
        courses = rng.sample(sorted(capacity), 5)
        items = [(f"st{student:03d}x{n}", courses[n * 2 : n * 2 + 2]) for n in range(2)] + [
            (f"st{student:03d}x2", [courses[4]])
        ]
        plans[student] = items
    async with running(decider):
        answers = await asyncio.gather(*(store.admit_plan(plan(s, f"k{s}", *items), NOW) for s, items in plans.items()))
        again = await asyncio.gather(*(store.admit_plan(plan(s, f"k{s}", *items), NOW) for s, items in plans.items()))

        async def ends() -> dict[str, dict[str, str]]:
            finals: dict[str, dict[str, str]] = {}
            for answer in answers:
                assert isinstance(answer, PlanAdmitted)
                for item in answer.items:
                    rid = item.queue_request_id
                    assert rid is not None
                    while True:
                        record = await store.record(rid)
                        assert record is not None
                        if record.get("next"):
                            rid = record["next"]
                            continue
                        finals[f"{answer.items[0].queue_request_id}:{item.position}"] = record
                        break
            return finals

        async def all_decided() -> bool:
            return all(r["status"] in ("accepted", "rejected") for r in (await ends()).values())

        await eventually(all_decided, 30, "every plan item decided")
    finals = await ends()
    assert len(finals) == 3 * len(plans)  # nothing lost
    assert all(isinstance(a, PlanAdmitted) and a.new for a in answers)
    assert [[i.queue_request_id for i in a.items] for a in again if isinstance(a, PlanAdmitted)] == [
        [i.queue_request_id for i in a.items] for a in answers if isinstance(a, PlanAdmitted)
    ]
    for course, students in ledger.taken.items():
        assert len(students) <= capacity[course]  # no oversell
    assert sum(len(s) for s in ledger.taken.values()) == sum(capacity.values())  # every seat went
    for record in finals.values():
        if record["status"] == "rejected":
            assert "alternatives" not in record  # refused only after its last alternative
    numbers = []
    for rid, _ in ledger.order:
        record = await store.record(rid)
        assert record is not None
        numbers.append(int(record["n"]))
    assert numbers == sorted(numbers)  # first come, first served: decided in the order admitted
    figures = await store.figures()
    assert figures.admitted == figures.decided == len(ledger.order)
