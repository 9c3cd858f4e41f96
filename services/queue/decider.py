"""The queue master's loop: read admitted requests in order, have the ledger decide them in batches.

Only the master decides. Entries left pending by a master that died (read, not
acknowledged) are claimed first (XAUTOCLAIM), before anything newer, so an earlier
request is never decided after a later one of the same priority. Streams are read
highest priority first (drops before enrollments by default). A batch the ledger cannot
take is retried with backoff (`queue.max_retries` quick attempts, then on every turn)
and nothing newer is decided meanwhile; the ledger applies a request id once, so a batch
sent twice is harmless. Deadlines (`queue.decision_timeout_seconds` after admission) are
enforced by the ledger, where the outcome is recorded: a request is never decided twice,
nor dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cluster.settings import QueueSettings
from services.queue.store import GROUP, STREAMS, Entry, QueueStore

log = logging.getLogger("course_selection.queue")

CallLedger = Callable[[dict[str, Any]], Awaitable[bytes]]  # the batch -> the ledger's answer (JSON)
RECLAIM_EVERY_SECONDS = 1.0
READ_BLOCK_MS = 50
MAX_BACKOFF_SECONDS = 1.0


@dataclass
class DeciderState:
    role: str = "standby"  # standby (not the master), idle, deciding, retrying
    batches: int = 0
    decided: int = 0
    last_batch_size: int = 0
    last_batch_seconds: float = 0.0
    last_error: str = ""
    carried: int = 0  # entries read and not decided yet

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Decider:
    def __init__(
        self,
        store: QueueStore,
        consumer: str,
        settings: Callable[[], QueueSettings],
        is_master: Callable[[], bool],
        call_ledger: CallLedger,
    ) -> None:
        self._store = store
        self._consumer = consumer
        self._settings = settings
        self._is_master = is_master
        self._call_ledger = call_ledger
        self._stopped = False
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
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.state.role, self.state.last_error = "retrying", f"{type(exc).__name__}: {exc}"
                if failures == 1 or failures % 20 == 0:
                    log.warning("deciding a batch failed; retrying", extra={"error": self.state.last_error})
                quick = failures <= self._settings().max_retries
                await asyncio.sleep(
                    min(0.05 * 2 ** (failures - 1), MAX_BACKOFF_SECONDS) if quick else MAX_BACKOFF_SECONDS
                )
                reclaimed_at = 0.0  # start the next turn afresh: group, then every unacknowledged entry
            finally:
                self.state.carried = len(carry)

    async def _reclaim(self) -> list[Entry]:
        """Take over every entry read but not acknowledged (by a dead master, or by us before)."""
        found: list[Entry] = []
        for stream in STREAMS:
            start = "0-0"
            while True:
                reply = await self._store.redis.xautoclaim(
                    stream, GROUP, self._consumer, min_idle_time=0, start_id=start, count=1000
                )
                start, items = reply[0], reply[1]
                found += [Entry.of(stream, _text(i), f) for i, f in items if f]
                if _text(start) == "0-0" or not items:
                    break
        return found

    async def _read_new(self, size: int) -> list[Entry]:
        reply: Any = await self._store.redis.xreadgroup(
            GROUP, self._consumer, dict.fromkeys(STREAMS, ">"), count=size, block=READ_BLOCK_MS
        )
        entries = [Entry.of(_text(stream), _text(i), f) for stream, items in reply or [] for i, f in items if f]
        return _merge([], entries)

    async def _decide(self, batch: Sequence[Entry]) -> None:
        started = time.monotonic()
        todo = await self._store.claim(batch)
        answer = None
        if todo:
            timeout = self._settings().decision_timeout_seconds
            answer = await self._call_ledger({"timeout_seconds": timeout, "requests": [e.for_ledger() for e in todo]})
        await self._store.finish(answer, batch, time.time(), self._settings().full_course_cache_seconds)
        self.state.batches += 1
        self.state.decided += len(todo)
        self.state.last_batch_size = len(batch)
        self.state.last_batch_seconds = round(time.monotonic() - started, 4)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry_order(e: Entry) -> tuple[int, int, int]:
    millis, _, seq = e.entry_id.partition("-")
    return STREAMS.index(e.stream), int(millis), int(seq or 0)


def _merge(first: list[Entry], more: list[Entry]) -> list[Entry]:
    """Both lists, without repeats, in the order of decision: priority, then admission."""
    seen: dict[str, Entry] = {e.entry_id + e.stream: e for e in first}
    for e in more:
        seen.setdefault(e.entry_id + e.stream, e)
    return sorted(seen.values(), key=_entry_order)
