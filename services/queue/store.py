"""The queue's data in Redis: streams of admitted requests, each request's record, counters.

Keys (one Redis, append-only file on):
- `q:s:<priority>` a stream per priority (0 first), entries carry the whole request;
  consumer group `deciders`;
- `q:r:<request id>` a hash: the request, `status` (pending, deciding, accepted,
  waitlisted, rejected, cancelled), `type`, `reason`, times, decision order;
- `q:k:<student>:<idempotency key>` the request id a key already admitted;
- `q:admitted`, `q:decided` counters; `q:done` the channel announcing decisions.

Every change of a request's state is one Lua script, so admission (key check, stream
append, record) and cancellation (only while pending) are atomic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

STREAMS = ("q:s:0", "q:s:1", "q:s:2")  # by priority, highest first
GROUP = "deciders"
ADMITTED, DECIDED, DONE_CHANNEL, CONSUMER = "q:admitted", "q:decided", "q:done", "q:consumer"
RECORD_TTL_SECONDS = 7 * 24 * 3600
FINAL = ("accepted", "waitlisted", "rejected", "cancelled")

_ADMIT = """
local existing = redis.call('GET', KEYS[1])
if existing then
  local status = redis.call('HGET', 'q:r:' .. existing, 'status')
  return {0, existing, status or 'pending', 0}
end
local ttl = tonumber(ARGV[10])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
local entry = redis.call('XADD', KEYS[3], '*', 'id', ARGV[1], 'student', ARGV[2], 'cohort', ARGV[3],
  'action', ARGV[4], 'course', ARGV[5], 'drop', ARGV[6], 'at', ARGV[7], 'actor', ARGV[8])
local n = redis.call('INCR', KEYS[4])
local decided = tonumber(redis.call('GET', KEYS[5]) or '0')
redis.call('HSET', KEYS[2], 'student', ARGV[2], 'action', ARGV[4], 'course', ARGV[5], 'drop', ARGV[6],
  'at', ARGV[7], 'priority', ARGV[9], 'entry', entry, 'n', n, 'status', 'pending')
redis.call('EXPIRE', KEYS[2], ttl)
return {1, ARGV[1], 'pending', n - decided}
"""

# Take the requests that are still to be decided (pending, or deciding after a failover);
# answer which were taken. Cancelled and decided ones are left out (their entries are acked).
_CLAIM = """
local taken = {}
for i, key in ipairs(KEYS) do
  local status = redis.call('HGET', key, 'status')
  if status == 'pending' or status == 'deciding' then
    redis.call('HSET', key, 'status', 'deciding')
    table.insert(taken, i)
  end
end
return taken
"""

_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'pending' then return status end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'type', 'cancelled', 'reason', 'cancelled by the student',
  'decided_at', ARGV[1])
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], cjson.encode({ARGV[2]}))
return 'cancelled'
"""


@dataclass(frozen=True)
class Admission:
    request_id: str
    student_id: int
    cohort: int | None
    action: str
    course_id: int
    drop_course_id: int | None
    actor: str
    priority: int
    idempotency_key: str


@dataclass(frozen=True)
class Admitted:
    request_id: str
    new: bool  # False: the idempotency key had admitted this request before
    status: str
    position: int


@dataclass(frozen=True)
class Entry:
    """A stream entry: one admitted request, as the decider reads it."""

    stream: str
    entry_id: str
    request_id: str
    student_id: int
    cohort: int | None
    action: str
    course_id: int
    drop_course_id: int | None
    actor: str
    admitted_at: float

    @classmethod
    def of(cls, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> Entry:
        f = {k.decode(): v.decode() for k, v in fields.items()}
        return cls(
            stream,
            entry_id,
            f["id"],
            int(f["student"]),
            int(f["cohort"]) if f["cohort"] else None,
            f["action"],
            int(f["course"]),
            int(f["drop"]) if f["drop"] else None,
            f["actor"],
            float(f["at"]),
        )


def record_key(request_id: str) -> str:
    return f"q:r:{request_id}"


class QueueStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._admit = redis.register_script(_ADMIT)
        self._claim = redis.register_script(_CLAIM)
        self._cancel = redis.register_script(_CANCEL)

    async def prepare(self) -> None:
        """Create the streams' consumer group (idempotent)."""
        for stream in STREAMS:
            try:
                await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except Exception as exc:  # BUSYGROUP: it exists
                if "BUSYGROUP" not in str(exc):
                    raise

    async def admit(self, admissions: Sequence[Admission], now: float) -> list[Admitted]:
        """Record admissions, all in one round trip (one script call each, pipelined)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for a in admissions:
                await self._admit(
                    keys=[
                        f"q:k:{a.student_id}:{a.idempotency_key}",
                        record_key(a.request_id),
                        STREAMS[a.priority],
                        ADMITTED,
                        DECIDED,
                    ],
                    args=[
                        a.request_id,
                        a.student_id,
                        "" if a.cohort is None else a.cohort,
                        a.action,
                        a.course_id,
                        "" if a.drop_course_id is None else a.drop_course_id,
                        f"{now:.6f}",
                        a.actor,
                        a.priority,
                        RECORD_TTL_SECONDS,
                    ],
                    client=pipe,
                )
            replies = await pipe.execute()
        return [Admitted(r[1].decode(), bool(r[0]), r[2].decode(), int(r[3])) for r in replies]

    async def record(self, request_id: str) -> dict[str, str] | None:
        raw: Any = await self.redis.hgetall(record_key(request_id))
        return {k.decode(): v.decode() for k, v in raw.items()} if raw else None

    async def cancel(self, request_id: str) -> str:
        """Cancel a pending request: 'cancelled', or the status that prevented it ('missing' if none)."""
        keys = [record_key(request_id), DECIDED, DONE_CHANNEL]
        answer: Any = await self._cancel(keys=keys, args=[time.time(), request_id])
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    async def claim(self, entries: Sequence[Entry]) -> list[Entry]:
        if not entries:
            return []
        taken = await self._claim(keys=[record_key(e.request_id) for e in entries])
        return [entries[int(i) - 1] for i in taken]

    async def finish(
        self, results: Sequence[tuple[Entry, dict[str, str | int | float]]], acked: Sequence[Entry]
    ) -> None:
        """Record decisions, count them, announce them, and acknowledge their entries: one round trip."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry, fields in results:
                pipe.hset(record_key(entry.request_id), mapping=dict(fields))  # type: ignore[arg-type]
            if results:
                pipe.incrby(DECIDED, len(results))
            for stream in STREAMS:
                ids = [e.entry_id for e in acked if e.stream == stream]
                if ids:
                    pipe.xack(stream, GROUP, *ids)
            if results:
                pipe.publish(DONE_CHANNEL, json.dumps([e.request_id for e, _ in results]))
            await pipe.execute()
