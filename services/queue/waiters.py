"""Waiting for a request's final outcome (`?wait=N`) without polling from the client.

One subscription per node to the decisions' channel (`keys.DONE_CHANNEL`) wakes the handlers waiting for the
announced request ids. A missed announcement (Redis restarting) costs at most a short
re-read interval, never a wrong answer: the record in Redis is always what is returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

from services.common.enrollment_contract import FINAL
from services.queue.store import QueueStorage

log = logging.getLogger("course_selection.queue")
RECHECK_SECONDS = 0.5


class Waiters:
    def __init__(self, store: QueueStorage) -> None:
        self._store = store
        self._events: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    async def listen(self) -> None:
        """Relay announcements to local waiters; reconnect after a Redis failure."""
        while not self._stopped:
            try:
                async for decided in self._store.announcements(lambda: self._stopped):
                    for request_id in decided:
                        for event in self._events.get(request_id, ()):
                            event.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("decision announcements interrupted", extra={"error": f"{type(exc).__name__}: {exc}"})
                await asyncio.sleep(0.5)

    async def final(self, request_id: str, seconds: float) -> dict[str, str] | None:
        """The request's record once it is final, or as it is when `seconds` have passed."""
        record = await self._store.record(request_id)
        if record is None or record["status"] in FINAL or seconds <= 0:
            return record
        event = asyncio.Event()
        self._events[request_id].add(event)
        deadline = time.monotonic() + seconds
        try:
            while True:
                record = await self._store.record(request_id)
                left = deadline - time.monotonic()
                if record is None or record["status"] in FINAL or left <= 0:
                    return record
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(left, RECHECK_SECONDS)):
                        await event.wait()
                event.clear()
        finally:
            self._events[request_id].discard(event)
            if not self._events[request_id]:
                del self._events[request_id]
