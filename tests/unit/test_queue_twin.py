"""The in-memory store answers as the Redis store does, scenario for scenario."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from services.queue.records import Admission, Admitted, Entry
from services.queue.store import QueueStorage, QueueStore
from tests.kit.queue_store import MemoryStore

NOW = 1_800_000_000.0
VOLATILE = {"entry", "admitted_at", "decided_at"}  # stream ids and times differ by nature


def ask(
    n: int, action: str, student: int, course: int, drop: int | None = None, key: str = "", refusal: str = ""
) -> Admission:
    priority = {"drop": 0}.get(action, 2)
    return Admission(
        f"rq{n:06d}", student, None, action, course, drop, f"s{student}", priority, key or f"k{n}", refusal
    )


def answer_for(entries: list[Entry], full: dict[str, Any], open_courses: list[int]) -> bytes:
    decisions = [
        {
            "queue_request_id": e.request_id,
            "outcome": "waitlisted",
            "type": "",
            "reason": "r",
            "seq": i,
            "via_permit": False,
            "waitlist_position": i,
        }
        for i, e in enumerate(entries, 1)
    ]
    return json.dumps({"decisions": decisions, "full_courses": full, "open_courses": open_courses}).encode()


async def scenario(store: QueueStorage) -> list[Any]:
    """Admission, a repeated key, the open cap, a stall, claims, decisions, a full course, refusals
    replayed for their key, a student's requests and open count, cancels."""
    seen: list[Any] = []
    await store.prepare()
    first = await store.admit([ask(1, "enroll", 1, 7), ask(2, "enroll", 2, 7), ask(3, "drop", 3, 8)], NOW)
    seen.append(first)
    seen.append(
        await store.admit(
            [ask(4, "enroll", 1, 7, key="k1"), ask(5, "enroll", 1, 9), ask(6, "enroll", 1, 10)], NOW, max_open=2
        )
    )
    await store.mark_stalled("the ledger is away", 30)
    seen.append(await store.admit([ask(7, "enroll", 4, 7)], NOW))
    await store.clear_stalled()
    read = await store.read_new("c1", 10, 1)
    seen.append(sorted(e.request_id for e in read))
    seen.append(await store.cancel("rq000002"))
    taken = await store.claim(read)
    seen.append(sorted(e.request_id for e in taken))
    seen.append(await store.cancel("rq000001"))  # being decided: no longer cancellable
    reclaimed = await store.reclaim("c2")  # read, not acknowledged: a new master takes them
    seen.append(sorted(e.request_id for e in reclaimed))
    full = {"7": {"type": "waitlist-full", "reason": "full"}}
    await store.finish(answer_for(taken, full, [8]), read, NOW, full_for=30)
    await store.finish(answer_for(taken, full, [8]), read, NOW, full_for=30)  # again: counted once
    seen.append(await store.admit([ask(8, "enroll", 5, 7), ask(9, "drop", 6, 7), ask(10, "enroll", 7, 7)], NOW))
    closed = json.dumps({"type": "window-closed", "reason": "not open"})
    seen.append(await store.admit([ask(11, "enroll", 8, 9, refusal=closed)], NOW))  # admission's own refusal
    # The same keys again: the same answers (the full course's refusal too), whatever changed since.
    seen.append(await store.admit([ask(12, "enroll", 8, 9, key="k11"), ask(13, "enroll", 5, 7, key="k8")], NOW))
    # Section groups: never refused at once (course 7 is reported full), a swap into one counted
    # as freeing what it gives up until it leaves the queue.
    group = Admission("rq000014", 9, None, "enroll", 7, None, "s9", 2, "k14", section_ids="7,9")
    regroup = Admission("rq000015", 10, None, "swap", 9, None, "s10", 1, "k15", section_ids="9,10", drop_course_ids="8")
    seen.append(await store.admit([group, regroup], NOW))
    seen.append(await store.cancel("rq000015"))
    seen.append(await store.admit([Admission("rq000016", 9, None, "enroll", 7, None, "s9", 2, "k14")], NOW))
    for offset, size in ((0, 10), (1, 1)):
        page, total = await store.student_requests(1, offset, size)
        seen.append(([(i, {k: v for k, v in r.items() if k not in VOLATILE}) for i, r in page], total))
    seen.append([await store.open_requests(student) for student in (1, 2, 3, 8)])
    seen.append(await store.reclaim("c2"))
    for n in (*range(1, 11), 14, 15):
        record = await store.record(f"rq{n:06d}")
        seen.append(record and {k: v for k, v in record.items() if k not in VOLATILE})
    figures = await store.figures()
    seen.append((figures.admitted, figures.decided, figures.refused))
    seen.append({name: (s.length, s.pending, s.undelivered) for name, s in figures.streams.items()})
    seen.append(await store.cancel("nope"))
    return seen


async def test_the_twin_answers_as_redis_does(redis: Redis) -> None:
    real = await scenario(QueueStore(redis))
    twin = await scenario(MemoryStore(clock=lambda: NOW))
    for step, (a, b) in enumerate(zip(real, twin, strict=True)):
        assert a == b, f"step {step}: {a} != {b}"
    assert isinstance(real[0][0], Admitted)
