"""Saved plans as the queue reads them to admit them (issue 16): from course_data, which keeps
them, in one internal call per burst of submissions.

Submitting a plan used to cost the student service two internal calls (the plan from
course_data, then the queue). Measured with `python -m ops.bench rush --plans`, those calls
were most of the student node's time: an HTTP client call costs far more than the admission
itself (its connection pool is scanned on every call). Now the student service makes one call,
to the queue, and the queue reads the plans of the submissions that arrive together in one
call (`POST /internal/plans/read`), as admission sends a burst to Redis in one script call.

A submission is read by a call that starts after it arrived (those that come while a read is
under way wait for the next one), so a plan saved before the submission is the plan read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Items = list[list[int]]  # each item: its course, then its alternatives
FetchPlans = Callable[[list[int]], Awaitable[dict[int, Items]]]  # student ids -> their saved plans


class PlanReader:
    def __init__(self, fetch: FetchPlans) -> None:
        self._fetch = fetch
        self._waiting: list[tuple[int, asyncio.Future[Items]]] = []
        self._reading = False

    async def items(self, student_id: int) -> Items:
        """The student's saved plan (empty: none saved); raises what the read raised."""
        future: asyncio.Future[Items] = asyncio.get_running_loop().create_future()
        self._waiting.append((student_id, future))
        if not self._reading:
            self._reading = True
            asyncio.get_running_loop().create_task(self._read())
        return await future

    async def _read(self) -> None:
        try:
            while self._waiting:
                burst, self._waiting = self._waiting, []
                try:
                    plans = await self._fetch(sorted({student for student, _ in burst}))
                except Exception as exc:
                    for _, future in burst:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for student, future in burst:
                    if not future.done():
                        future.set_result(plans.get(student, []))
        finally:
            self._reading = False
