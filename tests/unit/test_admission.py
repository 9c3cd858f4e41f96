"""Admission's own checks: the body, the idempotency key, the rate limit, the window cache."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from cluster.settings import QueueSettings
from services.common.problems import ValidationFailed
from services.queue.admission import Admitter, check_key, parse_body
from services.queue.rate_limit import StudentRateLimit
from services.queue.records import Admission
from services.queue.windows import WindowCache


def test_bodies_are_checked_field_by_field() -> None:
    assert parse_body({"action": "enroll", "course_id": 3}) == ("enroll", 3, None, (), ())
    assert parse_body({"action": "swap", "course_id": 3, "drop_course_id": 4}) == ("swap", 3, 4, (), ())
    with pytest.raises(ValidationFailed) as bad:
        parse_body({"action": "swap", "course_id": True, "extra": 1})
    assert {e["field"] for e in bad.value.extra["errors"]} == {"extra", "course_id", "drop_course_id"}
    with pytest.raises(ValidationFailed):
        parse_body({"action": "drop", "course_id": 3, "drop_course_id": 4})  # only a swap gives one up
    with pytest.raises(ValidationFailed):
        parse_body(["enroll", 3])


def test_idempotency_keys_are_required_and_plain() -> None:
    assert check_key("a-Key_1.2:3") == "a-Key_1.2:3"
    for bad in (None, "", "x" * 101, "spaces are not allowed"):
        with pytest.raises(ValidationFailed):
            check_key(bad)


async def test_each_student_has_their_own_buckets_and_a_new_setting_applies() -> None:
    limiter = StudentRateLimit()
    assert [await limiter.allow(1, "2 per minute") for _ in range(3)] == [True, True, False]
    assert await limiter.allow(2, "2 per minute")  # another student is not affected
    assert await limiter.allow(1, "5 per minute")  # a changed setting starts afresh
    several = "3 per minute; 4 per hour"
    assert [await limiter.allow(9, several) for _ in range(4)] == [True, True, True, False]


async def test_idle_students_are_forgotten_and_the_table_is_bounded() -> None:
    clock = [0.0]
    limiter = StudentRateLimit(max_students=4, clock=lambda: clock[0])
    assert [await limiter.allow(1, "2 per minute") for _ in range(3)] == [True, True, False]
    clock[0] = 30.0
    assert not await limiter.allow(1, "2 per minute")  # still within the minute: remembered
    assert await limiter.allow(2, "2 per minute")
    clock[0] = 95.0  # student 1 idle for 65 s, student 2 for 65 s: both forgotten, full buckets again
    assert await limiter.allow(1, "2 per minute")
    assert limiter._buckets.keys() == {1}
    for student in range(10, 14):  # more students than the table holds: the longest idle go first
        clock[0] += 1
        assert await limiter.allow(student, "2 per minute")
    assert len(limiter._buckets) <= 4
    assert 13 in limiter._buckets
    assert 1 not in limiter._buckets


async def test_the_window_cache_checks_the_clock_and_survives_a_failing_fetch() -> None:
    now = 1_000_000.0
    clock = [0.0]
    answers: list[Any] = [
        [
            {"cohort": None, "opens_at": now, "closes_at": now + 100, "drop_deadline": now + 200},
            {"cohort": 2027, "opens_at": now + 50, "closes_at": now + 100, "drop_deadline": now + 100},
        ],
        RuntimeError("course_data is down"),
    ]

    async def fetch() -> list[dict[str, Any]]:
        answer = answers.pop(0) if answers else []
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    never = WindowCache(fetch=_failing, seconds=2, clock=lambda: clock[0])
    assert await never.allows(None, "enroll", now) is None  # unknown: the ledger decides

    cache = WindowCache(fetch, seconds=2, clock=lambda: clock[0])
    assert await cache.allows(None, "enroll", now + 10) is True
    assert await cache.allows(None, "enroll", now - 1) is False
    assert await cache.allows(2027, "enroll", now + 10) is False  # the cohort's own window opens later
    assert await cache.allows(2027, "enroll", now + 60) is True
    assert await cache.allows(None, "drop", now + 150) is True  # until the drop deadline
    assert await cache.allows(None, "enroll", now + 150) is False
    clock[0] = 5.0  # stale: the next fetch fails, the windows known are kept
    assert await cache.allows(None, "enroll", now + 10) is True


async def _failing() -> list[dict[str, Any]]:
    raise RuntimeError("never reachable")


async def test_admissions_waiting_while_redis_fails_fail_with_it_not_a_timeout_later() -> None:
    class FrozenRedis:  # a store whose Redis answers nothing, then times out
        def __init__(self) -> None:
            self.calls = 0
            self.release = asyncio.Event()

        async def admit(self, admissions: Any, now: float, max_open: int = 0) -> Any:
            self.calls += 1
            await self.release.wait()
            raise RedisTimeoutError("Timeout reading from redis")

    store = FrozenRedis()
    admitter = Admitter(store, WindowCache(fetch=_failing), QueueSettings)  # type: ignore[arg-type]
    asks = [Admission(f"r{n}", n, None, "enroll", 1, None, f"s{n}", 2, f"k{n}") for n in (1, 2)]
    first = asyncio.create_task(admitter._submit(asks[0]))  # (past the checks: the round trip alone)
    for _ in range(1000):  # until the first round trip is under way
        if store.calls:
            break
        await asyncio.sleep(0)
    second = asyncio.create_task(admitter._submit(asks[1]))
    await asyncio.sleep(0)
    assert store.calls == 1
    assert admitter._waiting  # the second waits behind it
    store.release.set()
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert [type(r) for r in results] == [RedisTimeoutError, RedisTimeoutError]
    assert store.calls == 1  # the second did not wait for a round trip of its own
