"""The registration windows, as the admission check needs them: fetched from course_data, cached.

The cache keeps the windows (which change rarely), not a verdict: each request is checked
against the clock. If course_data cannot be reached, the last windows known are used;
if none were ever fetched, admission lets the request through and the ledger, which
checks the window again in its transaction, decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("course_selection.queue")
Fetch = Callable[[], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class CohortWindow:
    cohort: int | None
    opens_at: float
    closes_at: float
    drop_deadline: float


class WindowCache:
    def __init__(self, fetch: Fetch, seconds: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._seconds = seconds
        self._clock = clock
        self._windows: list[CohortWindow] | None = None
        self._fetched_at = -1e9

    async def _current(self) -> list[CohortWindow] | None:
        if self._clock() - self._fetched_at > self._seconds:
            self._fetched_at = self._clock()  # one fetch per period, even when it fails
            try:
                rows = await self._fetch()
                self._windows = [
                    CohortWindow(r["cohort"], r["opens_at"], r["closes_at"], r["drop_deadline"]) for r in rows
                ]
            except Exception as exc:
                log.warning("registration windows unavailable; using the last known", extra={"error": repr(exc)})
        return self._windows

    async def applicable(self, cohort: int | None) -> list[CohortWindow] | None:
        """The windows of the student's cohort if it has any, else those for everyone (None: unknown)."""
        windows = await self._current()
        if windows is None:
            return None
        mine = [w for w in windows if cohort is not None and w.cohort == cohort]
        return mine or [w for w in windows if w.cohort is None]

    async def allows(self, cohort: int | None, action: str, now: float) -> bool | None:
        """Whether the student's window is open for `action` now (None: unknown, let the ledger decide)."""
        applicable = await self.applicable(cohort)
        if applicable is None:
            return None
        if action == "drop":
            return any(w.opens_at <= now <= w.drop_deadline for w in applicable)
        return any(w.opens_at <= now < w.closes_at for w in applicable)
