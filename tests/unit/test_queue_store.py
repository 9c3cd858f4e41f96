"""Refusal at once, on a real redis-server: an enrollment in a course the ledger reported full
is answered without being queued, unless a drop or swap out of that course still waits."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

from services.queue.keys import STALLED
from services.queue.records import Admission, Admitted, Refused, Stalled, TooManyOpen
from services.queue.store import QueueStore

COURSE = 7
FULL = {"type": "waitlist-full", "reason": "C7 is full and so is its waitlist"}
numbers = itertools.count(1)


def ask(action: str, student: int, course: int = COURSE, drop: int | None = None, key: str = "") -> Admission:
    n = next(numbers)
    return Admission(f"r{n}", student, None, action, course, drop, f"s{student}", 2, key or f"k{n}")


async def admit(store: QueueStore, admission: Admission) -> Admitted | Refused:
    [answer] = await store.admit([admission], time.time())
    return answer


async def decide(store: QueueStore, admitted: Admitted | Refused, full: bool, course: int = COURSE) -> None:
    """The ledger's answer for one request: accepted, and its course now full (seats and waitlist) or not."""
    assert isinstance(admitted, Admitted)
    answer = {
        "decisions": [
            {"queue_request_id": admitted.queue_request_id, "outcome": "accepted", "type": "", "reason": "", "seq": 1}
        ],
        "full_courses": {str(course): FULL} if full else {},
        "open_courses": [] if full else [course],
    }
    await store.finish(json.dumps(answer).encode(), [], time.time(), full_for=30)


async def test_a_course_reported_full_refuses_enrollments_at_once(store: QueueStore) -> None:
    asked = ask("enroll", 1)
    first = await admit(store, asked)
    assert isinstance(first, Admitted)
    await decide(store, first, full=True)
    refused = await admit(store, ask("enroll", 2))
    assert refused == Refused(FULL["type"], FULL["reason"])
    assert isinstance(await admit(store, ask("enroll", 2, course=COURSE + 1)), Admitted)  # another course
    assert isinstance(await admit(store, ask("swap", 3, drop=COURSE + 1)), Admitted)  # only enrollments
    assert int(await store.redis.get("q:admitted")) == 3  # the refused one was not queued
    assert await store.redis.hgetall("q:refused") == {str(COURSE).encode(): b"1"}
    again = await admit(store, ask("enroll", 1, key=asked.idempotency_key))
    assert isinstance(again, Admitted)
    assert again.queue_request_id == first.queue_request_id  # a known key answers its request, full or not


async def test_a_waiting_drop_or_swap_out_of_the_course_holds_refusals_until_it_is_decided(store: QueueStore) -> None:
    await decide(store, await admit(store, ask("enroll", 1)), full=True)
    drop = await admit(store, ask("drop", 1))
    swap = await admit(store, ask("swap", 4, course=COURSE + 1, drop=COURSE))
    assert isinstance(await admit(store, ask("enroll", 2)), Admitted)  # a seat may be freed before it
    await decide(store, drop, full=True)
    await decide(store, drop, full=True)  # decided twice (a redelivered batch): counted once
    assert isinstance(await admit(store, ask("enroll", 3)), Admitted)  # the swap still waits
    assert isinstance(swap, Admitted)
    assert await store.cancel(swap.queue_request_id) == "cancelled"
    assert isinstance(await admit(store, ask("enroll", 5)), Refused)  # nothing waits any more


async def test_the_ledger_reporting_a_place_or_the_hold_running_out_ends_refusals(store: QueueStore) -> None:
    await decide(store, await admit(store, ask("enroll", 1)), full=True)
    await decide(store, await admit(store, ask("enroll", 2, course=COURSE + 1)), full=False, course=COURSE + 1)
    assert isinstance(await admit(store, ask("enroll", 3)), Refused)
    await decide(store, await admit(store, ask("drop", 1)), full=False)  # a place again
    assert isinstance(await admit(store, ask("enroll", 3)), Admitted)
    assert await store.redis.pttl(f"q:full:{COURSE}") == -2  # gone
    answer = {"decisions": [], "full_courses": {str(COURSE): FULL}, "open_courses": []}
    await store.finish(json.dumps(answer).encode(), [], time.time(), full_for=0)  # 0: never refuse at once
    assert isinstance(await admit(store, ask("enroll", 4)), Admitted)
    await store.finish(json.dumps(answer).encode(), [], time.time(), full_for=0.3)
    assert isinstance(await admit(store, ask("enroll", 5)), Refused)  # within the hold
    left = await store.redis.pttl(f"q:full:{COURSE}")
    assert 0 < left <= 300
    await asyncio.sleep(left / 1000 + 0.01)  # Redis expires a key on access once its time is up
    assert isinstance(await admit(store, ask("enroll", 5)), Admitted)  # the hold ran out: the ledger decides


async def test_each_request_is_counted_decided_once_however_often_its_decision_arrives(store: QueueStore) -> None:
    first, second = await admit(store, ask("enroll", 1)), await admit(store, ask("enroll", 2))
    await decide(store, first, full=False)
    await decide(store, first, full=False)  # the same batch again (a lost answer, a failover)
    assert isinstance(second, Admitted)
    assert await store.cancel(second.queue_request_id) == "cancelled"
    assert int(await store.redis.get("q:decided")) == 2
    gone = Admitted("expired-or-unknown", True, "pending", 0)
    await decide(store, gone, full=False)  # no record (expired): not counted, not made again
    assert int(await store.redis.get("q:decided")) == 2
    assert await store.record("expired-or-unknown") is None
    record = await store.record(first.queue_request_id)
    assert record is not None
    assert record["status"] == "accepted"


async def test_while_the_queue_is_stalled_nothing_new_is_admitted_and_known_keys_still_answer(
    store: QueueStore,
) -> None:
    asked = ask("enroll", 1)
    first = await admit(store, asked)
    await store.redis.set(STALLED, "the ledger has been unable to decide for 31 s", px=5000)
    assert await admit(store, ask("enroll", 2)) == Stalled("the ledger has been unable to decide for 31 s")
    again = await admit(store, ask("enroll", 1, key=asked.idempotency_key))
    assert isinstance(first, Admitted)
    assert isinstance(again, Admitted)
    assert (again.queue_request_id, again.new) == (first.queue_request_id, False)  # the same request, as before
    assert int(await store.redis.get("q:admitted")) == 1
    await store.redis.delete(STALLED)
    assert isinstance(await admit(store, ask("enroll", 2)), Admitted)


async def test_a_student_has_at_most_the_cap_of_requests_open(store: QueueStore) -> None:
    async def admit_capped(admission: Admission) -> object:
        [answer] = await store.admit([admission], time.time(), max_open=2)
        return answer

    first, second = ask("enroll", 1, course=1), ask("enroll", 1, course=2)
    taken = [await admit_capped(first), await admit_capped(second)]
    assert await admit_capped(ask("enroll", 1, course=3)) == TooManyOpen(2)  # nothing recorded
    assert isinstance(await admit_capped(ask("enroll", 2, course=3)), Admitted)  # another student
    again = await admit_capped(ask("enroll", 1, course=1, key=first.idempotency_key))
    assert isinstance(again, Admitted)
    assert not again.new  # a known key still answers at the cap
    burst = await store.admit([ask("drop", 1, course=4), ask("drop", 1, course=5)], time.time(), max_open=2)
    assert burst == [TooManyOpen(2), TooManyOpen(2)]  # a burst is held to the cap too
    assert isinstance(taken[0], Admitted)
    assert isinstance(taken[1], Admitted)
    await decide(store, taken[0], full=False, course=1)
    await decide(store, taken[0], full=False, course=1)  # redelivered: frees one place, not two
    assert isinstance(await admit_capped(ask("enroll", 1, course=6)), Admitted)
    assert await admit_capped(ask("enroll", 1, course=7)) == TooManyOpen(2)
    assert await store.cancel(taken[1].queue_request_id) == "cancelled"
    assert isinstance(await admit_capped(ask("enroll", 1, course=7)), Admitted)
    assert int(await store.redis.get("q:admitted")) == 5
