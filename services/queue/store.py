"""The queue's store: the Redis operations on the queue's keys (`keys.py`), through its
scripts (`scripts.py`), in the records' terms (`records.py`).

Everything the queue does to Redis goes through here (admission, the decider, the
waiters, the statistics), so `tests/kit/queue_store.MemoryStore`, a twin of this class,
can stand in for it in unit tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis

from services.common.enrollment_contract import ADMISSION_FIELDS
from services.queue.keys import (
    ADMITTED,
    DECIDED,
    DONE_CHANNEL,
    GROUP,
    OPEN_PREFIX,
    PLANS,
    RECORD_TTL_SECONDS,
    REFUSED,
    STALLED,
    STREAMS,
    STUDENT_REQUESTS_PREFIX,
    TIMES,
    record_key,
)
from services.queue.records import (
    Admission,
    Admitted,
    Entry,
    PlanAdmission,
    PlanAdmitted,
    Refused,
    Replies,
    Stalled,
    TooManyOpen,
    plan_reply,
)
from services.queue.scripts import ADMIT, ADMIT_PLAN, CANCEL, CLAIM, FINISH

AdmitAnswer = Admitted | Refused | Stalled | TooManyOpen
PlanAnswer = PlanAdmitted | Refused | Stalled | TooManyOpen


class QueueStorage(Protocol):
    """What the queue's parts ask of its store: `QueueStore` (Redis) and its in-memory twin."""

    async def prepare(self) -> None: ...
    async def admit(self, admissions: Sequence[Admission], now: float, max_open: int = 0) -> list[AdmitAnswer]: ...
    async def admit_plan(self, plan: PlanAdmission, now: float, max_open: int = 0) -> PlanAnswer: ...
    async def record(self, request_id: str) -> dict[str, str] | None: ...
    async def student_requests(
        self, student_id: int, offset: int, size: int
    ) -> tuple[list[tuple[str, dict[str, str]]], int]: ...
    async def open_requests(self, student_id: int) -> int: ...
    async def cancel(self, request_id: str) -> str: ...
    async def claim(self, entries: Sequence[Entry]) -> list[Entry]: ...
    async def finish(self, answer: bytes | None, acked: Sequence[Entry], now: float, full_for: float = 0.0) -> None: ...
    async def reclaim(self, consumer: str) -> list[Entry]: ...
    async def read_new(self, consumer: str, count: int, block_ms: int) -> list[Entry]: ...
    async def mark_stalled(self, reason: str, seconds: float) -> None: ...
    async def clear_stalled(self) -> None: ...
    def announcements(self, stopped: Callable[[], bool]) -> AsyncIterator[list[str]]: ...
    async def figures(self) -> Figures: ...


def _arg(value: object) -> str:
    return "" if value is None else str(value)


class NotReplicated(Exception):
    """No replica acknowledged an admission in time: it may or may not survive a failover."""


class QueueStore:
    def __init__(self, redis: Redis, replicas: int = 0, replica_wait_seconds: float = 1.0) -> None:
        """`replicas` (with Redis Sentinel: every replica): an admission, and the decider's claim,
        count only once that many replicas have them."""
        self.redis = redis
        self.replicas = replicas
        self.replica_wait_ms = max(1, round(replica_wait_seconds * 1000))
        self._admit = redis.register_script(ADMIT)
        self._admit_plan = redis.register_script(ADMIT_PLAN)
        self._claim = redis.register_script(CLAIM)
        self._cancel = redis.register_script(CANCEL)
        self._finish = redis.register_script(FINISH)
        self._replies = Replies()

    async def prepare(self) -> None:
        """Create the streams' consumer group (idempotent)."""
        for stream in STREAMS:
            try:
                await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except Exception as exc:  # BUSYGROUP: it exists
                if "BUSYGROUP" not in str(exc):
                    raise

    async def admit(self, admissions: Sequence[Admission], now: float, max_open: int = 0) -> list[AdmitAnswer]:
        """Record a burst of admissions in one script call (one round trip, one JSON argument)."""
        burst = orjson.dumps([[_arg(getattr(a, name)) for name in ADMISSION_FIELDS] for a in admissions])
        keys = [ADMITTED, DECIDED, *STREAMS, REFUSED, TIMES, STALLED]
        args: list[Any] = [f"{now:.6f}", RECORD_TTL_SECONDS, burst, max_open]
        replies: Any
        if self.replicas:
            replies = await self._admit_replicated(keys, args)
        else:
            replies = await self._admit(keys=keys, args=args)
        return [self._replies.of(r) for r in replies]

    async def admit_plan(self, plan: PlanAdmission, now: float, max_open: int = 0) -> PlanAnswer:
        """Admit a plan whole in one script call (`scripts.ADMIT_PLAN`): its items, in order, or nothing."""
        body: dict[str, Any] = {"student_id": str(plan.student_id), "key": plan.idempotency_key}
        body.update(refusal=plan.refusal, items=plan.script_items())
        keys = [ADMITTED, DECIDED, *STREAMS, REFUSED, TIMES, STALLED, PLANS]
        args: list[Any] = [f"{now:.6f}", RECORD_TTL_SECONDS, orjson.dumps(body), max_open]
        reply: Any
        if self.replicas:
            reply = await self._admit_replicated(keys, args, self._admit_plan)
        else:
            reply = await self._admit_plan(keys=keys, args=args)
        return plan_reply(reply)

    async def _admit_replicated(self, keys: list[str], args: list[Any], script: Any = None) -> Any:
        """The admit script, then WAIT on the same connection (one round trip): its writes are
        answered only once `replicas` replicas (all of them) acknowledge them, so whichever
        replica a failover promotes has every admission answered 202. A primary being demoted
        has lost the promoted replica, so it cannot gather them: its admissions are refused.
        Raises NotReplicated after `replica_wait_ms` without them."""
        async with self.redis.pipeline(transaction=False) as pipe:
            await (script or self._admit)(keys=keys, args=args, client=pipe)
            pipe.execute_command("WAIT", self.replicas, self.replica_wait_ms)
            replies, acknowledged = await pipe.execute()
        self._check_acknowledged(acknowledged)
        return replies

    def _check_acknowledged(self, acknowledged: Any) -> None:
        if int(acknowledged) < self.replicas:
            raise NotReplicated(
                f"{acknowledged} of {self.replicas} Redis replicas acknowledged within {self.replica_wait_ms} ms"
            )

    async def record(self, request_id: str) -> dict[str, str] | None:
        raw: Any = await self.redis.hgetall(record_key(request_id))
        return {k.decode(): v.decode() for k, v in raw.items()} if raw else None

    async def student_requests(
        self, student_id: int, offset: int, size: int
    ) -> tuple[list[tuple[str, dict[str, str]]], int]:
        """(id, record) of the student's requests from `offset`, newest first, and how many there
        are. The admit script indexes each request it queues under the student, scored by its
        admission number; a record that has expired (a week on) leaves the index when met."""
        key = f"{STUDENT_REQUESTS_PREFIX}{student_id}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(key)
            pipe.zrevrange(key, offset, offset + size - 1)
            total, raw_ids = await pipe.execute()
        ids = [i.decode() for i in raw_ids]
        if not ids:
            return [], int(total)
        async with self.redis.pipeline(transaction=False) as pipe:
            for request_id in ids:
                pipe.hgetall(record_key(request_id))
            records = await pipe.execute()
        found, gone = [], []
        for request_id, raw in zip(ids, records, strict=True):
            if raw:
                found.append((request_id, {k.decode(): v.decode() for k, v in raw.items()}))
            else:
                gone.append(request_id)
        if gone:
            await self.redis.zrem(key, *gone)
        return found, int(total) - len(gone)

    async def open_requests(self, student_id: int) -> int:
        """How many of the student's requests wait for a decision."""
        return max(0, int(await self.redis.get(f"{OPEN_PREFIX}{student_id}") or 0))

    async def cancel(self, request_id: str) -> str:
        """Cancel a pending request: 'cancelled', or the status that prevented it ('missing' if none)."""
        keys = [record_key(request_id), DECIDED, DONE_CHANNEL]
        answer: Any = await self._cancel(keys=keys, args=[time.time(), request_id])
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    async def claim(self, entries: Sequence[Entry]) -> list[Entry]:
        if not entries:
            return []
        taken: Any
        if self.replicas:  # decide only what every replica has: WAIT covers the entries read before
            async with self.redis.pipeline(transaction=False) as pipe:
                await self._claim(args=[e.request_id for e in entries], client=pipe)
                pipe.execute_command("WAIT", self.replicas, self.replica_wait_ms)
                taken, acknowledged = await pipe.execute()
            self._check_acknowledged(acknowledged)
        else:
            taken = await self._claim(args=[e.request_id for e in entries])
        return [entries[int(i) - 1] for i in taken]

    async def finish(self, answer: bytes | None, acked: Sequence[Entry], now: float, full_for: float = 0.0) -> None:
        """Record the ledger's decisions (its answer as it came), count and announce them, keep
        the courses it reported full for `full_for` seconds, and acknowledge the entries: one
        round trip, no per-decision work here. A plan's item refused has its next alternative
        queued in the same transaction (`scripts.FINISH`)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            if answer is not None:
                args: list[bytes | str | int] = [f"{now:.6f}", answer, round(full_for * 1000), RECORD_TTL_SECONDS]
                await self._finish(keys=[DECIDED, DONE_CHANNEL, ADMITTED, *STREAMS], args=args, client=pipe)
            for stream in STREAMS:
                ids = [e.entry_id for e in acked if e.stream == stream]
                if ids:
                    pipe.xack(stream, GROUP, *ids)
            await pipe.execute()

    # the decider's reads

    async def reclaim(self, consumer: str) -> list[Entry]:
        """Take over every entry read but not acknowledged (by a dead master, or by `consumer` before)."""
        found: list[Entry] = []
        for stream in STREAMS:
            start = "0-0"
            while True:
                reply = await self.redis.xautoclaim(
                    stream, GROUP, consumer, min_idle_time=0, start_id=start, count=1000
                )
                start, items = reply[0], reply[1]
                found += [Entry.of(stream, _text(i), f) for i, f in items if f]
                if _text(start) == "0-0" or not items:
                    break
        return found

    async def read_new(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """Entries never delivered, up to `count` per stream, waiting up to `block_ms` for one."""
        reply: Any = await self.redis.xreadgroup(
            GROUP, consumer, dict.fromkeys(STREAMS, ">"), count=count, block=block_ms
        )
        return [Entry.of(_text(stream), _text(i), f) for stream, items in reply or [] for i, f in items if f]

    async def mark_stalled(self, reason: str, seconds: float) -> None:
        """Admission refuses new requests for `seconds` (the mark is refreshed while the stall lasts)."""
        await self.redis.set(STALLED, reason, px=round(seconds * 1000))

    async def clear_stalled(self) -> None:
        await self.redis.delete(STALLED)

    # the waiters' announcements

    async def announcements(self, stopped: Callable[[], bool]) -> AsyncIterator[list[str]]:
        """The ids of each batch of decisions announced, until `stopped()` (Redis errors propagate)."""
        async with self.redis.pubsub() as pubsub:
            await pubsub.subscribe(DONE_CHANNEL)
            while not stopped():
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                if message is not None:
                    yield [str(i) for i in json.loads(message["data"])]

    # what operators see

    async def figures(self) -> Figures:
        admitted, decided = (int(v or 0) for v in await self.redis.mget(ADMITTED, DECIDED))
        memory: Any = await self.redis.info("memory")
        refused = sum(int(v) for v in await self.redis.hvals(REFUSED))
        figures = Figures(
            admitted, decided, refused, int(memory.get("used_memory", 0)), int(memory.get("maxmemory", 0))
        )
        for stream in STREAMS:
            groups = {_text(g["name"]): g for g in await self.redis.xinfo_groups(stream)}
            group = groups.get(GROUP)
            length = await self.redis.xlen(stream)
            if group is None:
                continue
            figure = StreamFigures(length, int(group["pending"]), int(group.get("lag") or 0))
            if figure.pending:
                summary: Any = await self.redis.xpending(stream, GROUP)
                figure.oldest_pending = _millis(summary["min"])
            if figure.undelivered:
                after = _text(group["last-delivered-id"])
                nxt = await self.redis.xrange(stream, min=f"({after}", count=1)
                if nxt:
                    figure.oldest_undelivered = _millis(nxt[0][0])
            figures.streams[stream] = figure
        return figures

    async def times(self) -> dict[str, float]:
        """The first and last admission's time (`first`, `last`; admitted or refused)."""
        raw: Any = await self.redis.hgetall(TIMES)
        return {_text(k): float(v) for k, v in raw.items()}


@dataclass
class StreamFigures:
    length: int
    pending: int  # read by a decider, not acknowledged
    undelivered: int
    oldest_pending: float | None = None  # Unix time the oldest of them was admitted
    oldest_undelivered: float | None = None


@dataclass
class Figures:
    admitted: int
    decided: int
    refused: int  # refused at once, all courses
    memory_used: int
    memory_limit: int  # 0: none
    streams: dict[str, StreamFigures] = field(default_factory=dict)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _millis(entry_id: Any) -> float:
    return int(_text(entry_id).split("-")[0]) / 1000
