"""The per-student rate limit of admission, in this node's memory.

The limits come from `queue.student_rate_limit` ("30 per minute; 100 per hour", parsed
by the `limits` library); each student has one token bucket per limit (`aiolimiter`).
Buckets of students who stopped asking are forgotten after the longest period, by which
time they would be full again. A student spreading requests over k queue nodes gets at
most k times the limit: it bounds abuse, while fairness comes from the stream's order.
"""

from __future__ import annotations

from aiolimiter import AsyncLimiter
from cachetools import TTLCache
from limits import parse_many


class StudentRateLimit:
    def __init__(self, max_students: int = 200_000) -> None:
        self._max_students = max_students
        self._text = ""
        self._limits: list[tuple[int, int]] = []  # (amount, seconds)
        self._buckets: TTLCache[int, list[AsyncLimiter]] = TTLCache(max_students, 1)

    def _configure(self, text: str) -> None:
        self._text = text
        self._limits = [(item.amount, item.get_expiry()) for item in parse_many(text)]
        longest = max((seconds for _, seconds in self._limits), default=1)
        self._buckets = TTLCache(self._max_students, longest)

    async def allow(self, student_id: int, text: str) -> bool:
        """Count one request of `student_id`, unless a limit is reached (then nothing is counted)."""
        if text != self._text:
            self._configure(text)
        buckets = self._buckets.get(student_id)
        if buckets is None:
            buckets = [AsyncLimiter(amount, seconds) for amount, seconds in self._limits]
        self._buckets[student_id] = buckets  # (re)starts its time to be forgotten
        if not all(bucket.has_capacity() for bucket in buckets):
            return False
        for bucket in buckets:
            await bucket.acquire()  # has capacity: returns at once
        return True
