"""The registration windows, as the admission check needs them: fetched from course_data, cached.

The cache keeps the windows (which change rarely), not a verdict: each request is checked
against the clock, with the one window rule (`services.common.registration`) the ledger
applies too. If course_data cannot be reached, the last windows known are used; if none
were ever fetched, admission lets the request through and the ledger, which checks the
window again in its transaction, decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx

from services.common.instants import unix
from services.common.registration import RegistrationWindow, Standing, WindowRefusal, applicable, window_refusal

log = logging.getLogger("course_selection.queue")
Fetch = Callable[[], Awaitable[list[dict[str, Any]]]]


class WindowSource(Protocol):
    async def call_master(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response: ...


def windows_wanted(now: float) -> dict[str, str]:
    """What admission asks course_data for: every term's windows (admission does not know a
    course's term, `services/common/registration.py`), but only the terms with a window not yet
    ended. A term whose every window has closed and passed its drop deadline allows nothing
    now or later, so leaving it out changes no answer; kept, the cache would grow with every
    past term. A live term comes whole: which audience's windows a student uses is chosen
    among all of the term's, ended ones too."""
    return {"term": "all", "ending_after": str(int(now))}


def course_data_windows(client: WindowSource, wall: Callable[[], float] = time.time) -> Fetch:
    """The cache's fetch: the windows admission needs, from course_data's master."""

    async def fetch() -> list[dict[str, Any]]:
        answer = await client.call_master("course_data", "GET", "/windows", params=windows_wanted(wall()), timeout=2)
        answer.raise_for_status()
        windows: list[dict[str, Any]] = answer.json()["windows"]
        return windows

    return fetch


class WindowCache:
    def __init__(self, fetch: Fetch, seconds: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._seconds = seconds
        self._clock = clock
        self._windows: list[RegistrationWindow] | None = None
        self._fetched_at = -1e9

    async def _current(self) -> list[RegistrationWindow] | None:
        if self._clock() - self._fetched_at > self._seconds:
            self._fetched_at = self._clock()  # one fetch per period, even when it fails
            try:
                rows = await self._fetch()
                self._windows = [
                    RegistrationWindow(
                        unix(r["opens_at"]),  # ISO 8601 in answers (services.common.instants)
                        unix(r["closes_at"]),
                        unix(r["drop_deadline"]),
                        r["cohort"],
                        student_id=r.get("student_id"),
                        priority_group=r.get("priority_group"),
                        term_id=r.get("term_id"),
                    )
                    for r in rows
                ]
            except Exception as exc:
                log.warning("registration windows unavailable; using the last known", extra={"error": repr(exc)})
        return self._windows

    async def applicable(
        self, standing: Standing | int | None, student_id: int | None = None
    ) -> tuple[RegistrationWindow, ...] | None:
        """The student's windows: their time tickets, else their priority group's, else their
        cohort's, else those for everyone (`registration.applicable`; None: unknown)."""
        windows = await self._current()
        who = Standing.of(standing)
        return None if windows is None else applicable(windows, who.cohort, student_id, who.priority_group)

    async def refusal(
        self, standing: Standing | int | None, action: str, now: float, student_id: int | None = None
    ) -> WindowRefusal | None:
        """The window rule's refusal of `action` now (None: allowed, or the windows are unknown and
        the ledger decides; a drop is always left to the ledger, which knows if it is a seat)."""
        windows = await self.applicable(standing, student_id)
        return None if windows is None else window_refusal(windows, action, now)

    async def allows(
        self, standing: Standing | int | None, action: str, now: float, student_id: int | None = None
    ) -> bool | None:
        """Whether the window rule lets `action` through now (None: the windows are unknown)."""
        windows = await self.applicable(standing, student_id)
        return None if windows is None else window_refusal(windows, action, now) is None
