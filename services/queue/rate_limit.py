"""The per-student rate limit of admission, in this node's memory.

The limits come from `queue.student_rate_limit` ("30 per minute; 100 per hour", parsed
by the `limits` library); each student has one token bucket per limit (`aiolimiter`).
Buckets of students who stopped asking are forgotten once the longest period has passed
since their last request, by which time they would be full again: a sweep of the table
once per period (a `cachetools.TTLCache` refreshed on every request did the same, at a
cost measured as a tenth of admission's time). A student spreading requests over k queue
nodes gets at most k times the limit: it bounds abuse, while fairness comes from the
stream's order.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiolimiter import AsyncLimiter
from limits import parse_many


class StudentRateLimit:
    def __init__(self, max_students: int = 200_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_students = max_students
        self._clock = clock
        self._text = ""
        self._limits: list[tuple[int, int]] = []  # (amount, seconds)
        self._forget_after = 1.0
        self._buckets: dict[int, list[AsyncLimiter]] = {}
        self._last_seen: dict[int, float] = {}
        self._swept_at = clock()

    def _configure(self, text: str) -> None:
        self._text = text
        self._limits = [(item.amount, item.get_expiry()) for item in parse_many(text)]
        self._forget_after = max((seconds for _, seconds in self._limits), default=1)
        self._buckets, self._last_seen = {}, {}

    def _sweep(self, now: float) -> None:
        """Forget the students idle for the longest period; if too many remain, the longest idle."""
        self._swept_at = now
        idle = [s for s, seen in self._last_seen.items() if now - seen > self._forget_after]
        if len(self._last_seen) - len(idle) >= self._max_students:
            by_age = sorted(self._last_seen, key=self._last_seen.__getitem__)
            idle = by_age[: len(by_age) - self._max_students // 2]
        for student in idle:
            del self._buckets[student], self._last_seen[student]

    async def allow(self, student_id: int, text: str) -> bool:
        """Count one request of `student_id`, unless a limit is reached (then nothing is counted)."""
        if text != self._text:
            self._configure(text)
        now = self._clock()
        if now - self._swept_at > self._forget_after or len(self._buckets) >= self._max_students:
            self._sweep(now)
        buckets = self._buckets.get(student_id)
        if buckets is None:
            buckets = self._buckets[student_id] = [AsyncLimiter(amount, seconds) for amount, seconds in self._limits]
        self._last_seen[student_id] = now
        if not all(bucket.has_capacity() for bucket in buckets):
            return False
        for bucket in buckets:
            await bucket.acquire()  # has capacity: returns at once
        return True
