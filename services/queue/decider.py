"""The queue master's loop: read admitted requests in order, have the ledger decide them in batches.

Only the master decides. Entries left pending by a master that died (read, not
acknowledged) are claimed first (XAUTOCLAIM), before anything newer, so an earlier
request is never decided after a later one of the same priority. Streams are read
highest priority first (drops before enrollments by default). A batch the ledger cannot
take is retried with backoff (`queue.max_retries` quick attempts, then on every turn)
and nothing newer is decided meanwhile; the ledger applies a request id once, so a batch
sent twice is harmless.

First come, first served holds across stalls: a request is never rejected for its age.
A rejection by deadline cannot be fair (after a stall the oldest requests would miss it
while later ones get the seats), so a stall only delays decisions, which stay in order.
The last resort, once the ledger has been unable to decide for
`queue.decision_timeout_seconds`, is at the door instead: the master marks the queue
stalled in Redis (`q:stalled`, refreshed while it lasts, expiring by itself if the master
dies) and admission answers new requests 503 with Retry-After, so nothing more piles up
behind a ledger that cannot decide; what is admitted is decided in order once it can.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cluster.settings import QueueSettings
from services.queue.keys import STREAMS
from services.queue.outcome_times import OutcomeTimes
from services.queue.records import Entry
from services.queue.store import QueueStorage

log = logging.getLogger("course_selection.queue")

CallLedger = Callable[[dict[str, Any]], Awaitable[bytes]]  # the batch -> the ledger's answer (JSON)
RECLAIM_EVERY_SECONDS = 1.0
READ_BLOCK_MS = 50
MAX_BACKOFF_SECONDS = 1.0
WATCH_SECONDS = 0.5  # while a ledger call hangs, how often the stall is checked (and its mark kept)
STALL_MARK_SECONDS = 3.0  # the mark's life: a dead master's mark goes by itself


@dataclass
class DeciderState:
    role: str = "standby"  # standby (not the master), idle, deciding, retrying
    batches: int = 0
    decided: int = 0
    last_batch_size: int = 0
    last_batch_seconds: float = 0.0
    last_error: str = ""
    carried: int = 0  # entries read and not decided yet
    stalled_seconds: float = 0.0  # how long the ledger has been unable to decide the batch at the head

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Decider:
    def __init__(
        self,
        store: QueueStorage,
        consumer: str,
        settings: Callable[[], QueueSettings],
        is_master: Callable[[], bool],
        call_ledger: CallLedger,
        outcome_times: OutcomeTimes | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """`outcome_times` counts each decision's wait since admission (`wall`: the Unix time
        a decision is recorded at, as admission's `admitted_at`)."""
        self._store = store
        self._consumer = consumer
        self._settings = settings
        self._is_master = is_master
        self._call_ledger = call_ledger
        self._outcome_times = outcome_times
        self._wall = wall
        self._stopped = False
        self._unable_since: float | None = None  # monotonic: the head batch's first attempt, until one succeeds
        self._marked = False  # q:stalled is set (by us)
        self.state = DeciderState()

    def stop(self) -> None:
        self._stopped = True

    async def run(self) -> None:
        carry: list[Entry] = []
        reclaimed_at = 0.0
        failures = 0
        while not self._stopped:
            if not self._is_master():
                self.state.role, carry, reclaimed_at = "standby", [], 0.0
                self._unable_since, self._marked, self.state.stalled_seconds = None, False, 0.0
                await asyncio.sleep(0.1)
                continue
            try:
                if not reclaimed_at:
                    await self._store.prepare()  # the group exists before the first read of a term
                if time.monotonic() - reclaimed_at > RECLAIM_EVERY_SECONDS:
                    carry = _merge(carry, await self._reclaim())
                    reclaimed_at = time.monotonic()
                size = self._settings().batch_size
                if not carry:
                    carry = await self._read_new(size)
                batch = carry[:size]
                if not batch:
                    self.state.role = "idle"
                    continue
                self.state.role = "deciding"
                await self._decide(batch)
                carry = carry[len(batch) :]
                failures = 0
                self.state.last_error = ""
                await self._decided_again()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.state.role, self.state.last_error = "retrying", f"{type(exc).__name__}: {exc}"
                if failures == 1 or failures % 20 == 0:
                    log.warning("deciding a batch failed; retrying", extra={"error": self.state.last_error})
                await self._check_stall()
                quick = failures <= self._settings().max_retries
                await asyncio.sleep(
                    min(0.05 * 2 ** (failures - 1), MAX_BACKOFF_SECONDS) if quick else MAX_BACKOFF_SECONDS
                )
                reclaimed_at = 0.0  # start the next turn afresh: group, then every unacknowledged entry
            finally:
                self.state.carried = len(carry)

    async def _reclaim(self) -> list[Entry]:
        """Take over every entry read but not acknowledged (by a dead master, or by us before)."""
        return _merge([], await self._store.reclaim(self._consumer))

    async def _read_new(self, size: int) -> list[Entry]:
        return _merge([], await self._store.read_new(self._consumer, size, READ_BLOCK_MS))

    async def _decide(self, batch: Sequence[Entry]) -> None:
        started = time.monotonic()
        todo = await self._store.claim(batch)
        answer = None
        if todo:
            if self._unable_since is None:
                self._unable_since = started
            answer = await self._watched(self._call_ledger({"requests": [e.for_ledger() for e in todo]}))
        decided_at = self._wall()
        await self._store.finish(answer, batch, decided_at, self._settings().full_course_cache_seconds)
        if self._outcome_times is not None and todo:  # every request claimed has its decision now
            self._outcome_times.record(decided_at - float(e.request["admitted_at"]) for e in todo)
        self.state.batches += 1
        self.state.decided += len(todo)
        self.state.last_batch_size = len(batch)
        self.state.last_batch_seconds = round(time.monotonic() - started, 4)

    async def _watched(self, call: Awaitable[bytes]) -> bytes:
        """The ledger's answer; while it is awaited, the stall is checked every WATCH_SECONDS."""
        task = asyncio.ensure_future(call)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=WATCH_SECONDS)
                if done:
                    return task.result()
                await self._check_stall()
        finally:
            task.cancel()

    async def _check_stall(self) -> None:
        """Mark the queue stalled (admission answers 503) once the ledger has been unable to decide
        the head batch for `decision_timeout_seconds`; keep the mark alive while that lasts."""
        if self._unable_since is None:
            return
        unable = time.monotonic() - self._unable_since
        self.state.stalled_seconds = round(unable, 3)
        if unable < self._settings().decision_timeout_seconds:
            return
        reason = f"the ledger has been unable to decide for {unable:.0f} s"
        try:
            await self._store.mark_stalled(reason, STALL_MARK_SECONDS)
        except Exception as exc:  # Redis is down too: admission refuses anyway
            log.debug("could not mark the queue stalled", extra={"error": f"{type(exc).__name__}: {exc}"})
            return
        if not self._marked:
            log.warning("queue stalled: admission refuses new requests", extra={"reason": reason})
        self._marked = True

    async def _decided_again(self) -> None:
        self._unable_since, self.state.stalled_seconds = None, 0.0
        if self._marked:
            await self._store.clear_stalled()
            self._marked = False
            log.warning("queue decides again: admission takes new requests")


def _entry_order(e: Entry) -> tuple[int, int, int]:
    millis, _, seq = e.entry_id.partition("-")
    return STREAMS.index(e.stream), int(millis), int(seq or 0)


def _merge(first: list[Entry], more: list[Entry]) -> list[Entry]:
    """Both lists, without repeats, in the order of decision: priority, then admission."""
    seen: dict[str, Entry] = {e.entry_id + e.stream: e for e in first}
    for e in more:
        seen.setdefault(e.entry_id + e.stream, e)
    return sorted(seen.values(), key=_entry_order)
