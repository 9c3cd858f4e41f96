"""The queue's data in Redis: streams of admitted requests, each request's record, counters.

Keys (one Redis, append-only file on):
- `q:s:<priority>` a stream per priority (0 first), entries carry the whole request;
  consumer group `deciders`;
- `q:r:<request id>` a hash: the request, `status` (pending, deciding, accepted,
  waitlisted, rejected, cancelled), `type`, `reason`, times, decision order;
- `q:k:<student>:<idempotency key>` the request id a key already admitted, or `!` and the
  refusal (type, reason) it was answered at once: the same key always gets the same answer;
- `q:u:<student>` the student's requests, scored by admission number (`GET /queue/requests`);
- `q:o:<student>` how many of the student's requests are open (pending or being decided):
  admission refuses more than `queue.max_open_requests`;
- `q:full:<course>` the refusal (type, reason) the ledger last reported for a full course
  (seats and waitlist), kept `queue.full_course_cache_seconds`: while it is there and no
  admitted drop or swap out of the course waits (`q:f:<course>` counts them), an
  enrollment in it is refused at once instead of queued, since the ledger would refuse it;
- `q:admitted`, `q:decided` counters, `q:refused` a count per course; `q:times` the first and
  last admission's time (admitted or refused); `q:done` the channel announcing decisions.

Every change of a request's state is one Lua script, so admission (key check, stream
append, record) and cancellation (only while pending) are atomic. The scripts build
some key names themselves: one Redis server, not Redis Cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

STREAMS = ("q:s:0", "q:s:1", "q:s:2")  # by priority, highest first
GROUP = "deciders"
ADMITTED, DECIDED, REFUSED, TIMES = "q:admitted", "q:decided", "q:refused", "q:times"
STALLED = "q:stalled"  # set by the master while the ledger cannot decide: admission refuses new requests
DONE_CHANNEL = "q:done"
RECORD_TTL_SECONDS = 7 * 24 * 3600
FINAL = ("accepted", "waitlisted", "rejected", "cancelled")

# Admit a burst: ARGV = now, record TTL, the burst as one JSON array of admissions, each
# [id, student, cohort, action, course, drop, actor, priority, idempotency key, refusal] (strings;
# refusal: the JSON {type, reason} admission refuses it with, e.g. its window closed, or ''),
# the most requests a student may have open.
# Per admission: the idempotency key seen before answers the request it admitted, or the
# refusal it was answered with (`!` and the JSON), whatever has changed since; a refusal
# given by admission or for a full course is recorded under the key in the same step; while the
# queue is stalled (KEYS[8] set: the ledger cannot decide) nothing new is admitted; a student
# with ARGV[4] requests open (pending or being decided; `q:o:<student>`; 0: no cap) gets no
# more until one is decided or cancelled; an enrollment in a course reported full, with no
# drop or swap out of it waiting, is refused (nothing written but the count); otherwise the
# key, the stream entry and the record are written, and a drop or swap counts as waiting to
# free its course.
_ADMIT = """
local now, ttl, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local decided = tonumber(redis.call('GET', KEYS[2]) or '0')
local stalled = redis.call('GET', KEYS[8])
local out = {}
for _, a in ipairs(cjson.decode(ARGV[3])) do
  local r = {id = a[1], student = a[2], cohort = a[3], action = a[4], course = a[5], drop = a[6], actor = a[7],
    priority = a[8]}
  local key = 'q:k:' .. r.student .. ':' .. a[9]
  local existing = redis.call('GET', key)
  local full = false
  if not existing and r.action == 'enroll' then
    full = redis.call('GET', 'q:full:' .. r.course)
    if full and tonumber(redis.call('GET', 'q:f:' .. r.course) or '0') > 0 then full = false end
  end
  if existing and string.sub(existing, 1, 1) == '!' then
    out[#out + 1] = {2, '', string.sub(existing, 2), 0}
  elseif existing then
    local status = redis.call('HGET', 'q:r:' .. existing, 'status')
    out[#out + 1] = {0, existing, status or 'pending', 0}
  elseif a[10] and a[10] ~= '' then
    redis.call('SET', key, '!' .. a[10], 'EX', ttl)
    out[#out + 1] = {2, '', a[10], 0}
  elseif stalled then
    out[#out + 1] = {3, '', stalled, 0}
  elseif full then
    redis.call('HINCRBY', KEYS[6], r.course, 1)
    redis.call('SET', key, '!' .. full, 'EX', ttl)
    out[#out + 1] = {2, '', full, 0}
  elseif cap > 0 and tonumber(redis.call('GET', 'q:o:' .. r.student) or '0') >= cap then
    out[#out + 1] = {4, '', redis.call('GET', 'q:o:' .. r.student), 0}
  else
    redis.call('INCR', 'q:o:' .. r.student)
    redis.call('EXPIRE', 'q:o:' .. r.student, ttl)
    redis.call('SET', key, r.id, 'EX', ttl)
    r.at = now
    local entry = redis.call('XADD', KEYS[3 + tonumber(r.priority)], '*', 'r', cjson.encode(r))
    local n = redis.call('INCR', KEYS[1])
    local record = 'q:r:' .. r.id
    redis.call('HSET', record, 'student', r.student, 'action', r.action, 'course', r.course, 'drop', r.drop,
      'at', now, 'priority', r.priority, 'entry', entry, 'n', n, 'status', 'pending')
    redis.call('EXPIRE', record, ttl)
    redis.call('ZADD', 'q:u:' .. r.student, n, r.id)
    redis.call('EXPIRE', 'q:u:' .. r.student, ttl)
    local frees = (r.action == 'drop' and r.course) or (r.action == 'swap' and r.drop) or ''
    if frees ~= '' then
      redis.call('INCR', 'q:f:' .. frees)
      redis.call('EXPIRE', 'q:f:' .. frees, ttl)
    end
    out[#out + 1] = {1, r.id, 'pending', n - decided}
  end
end
redis.call('HSETNX', KEYS[7], 'first', now)
redis.call('HSET', KEYS[7], 'last', now)
return out
"""

# A request leaving pending/deciding for good: the drop or swap no longer waits to free its
# course, and the student has one open request less.
_LEFT_QUEUE = """
local function left_queue(action, course, drop, student)
  local frees = (action == 'drop' and course) or (action == 'swap' and drop) or ''
  if frees ~= '' then redis.call('DECR', 'q:f:' .. frees) end
  if student and tonumber(redis.call('GET', 'q:o:' .. student) or '0') > 0 then
    redis.call('DECR', 'q:o:' .. student)
  end
end
"""

# Record decisions: ARGV[1] = the time, ARGV[2] = the ledger's answer as it came
# ({"decisions": [{request_id, outcome, type, reason, seq, ...details}], "full_courses":
# {course: {type, reason}}, "open_courses": [course]}), ARGV[3] = how long a full course
# refuses at once (ms, 0: never); count the decisions and announce their ids on the channel.
# Only a request still pending or deciding takes its decision: one decided before (a batch
# redelivered after a failover or a lost answer) keeps it and is not counted again, and a
# record gone (expired) is not made again half-empty. So `q:decided` counts each request once.
_FINISH = (
    _LEFT_QUEUE
    + """
local plain = {request_id = true, outcome = true, type = true, reason = true, seq = true, via_permit = true}
local answer = cjson.decode(ARGV[2])
local ids = {}
for _, d in ipairs(answer.decisions) do
  local record = 'q:r:' .. d.request_id
  local was = redis.call('HMGET', record, 'status', 'action', 'course', 'drop', 'student')
  if was[1] == 'pending' or was[1] == 'deciding' then
    local details, extra = {}, false
    for k, v in pairs(d) do
      if not plain[k] then details[k] = v; extra = true end
    end
    left_queue(was[2], was[3], was[4], was[5])
    redis.call('HSET', record, 'status', d.outcome, 'type', d.type, 'reason', d.reason, 'seq', d.seq,
      'decided_at', ARGV[1])
    if extra then redis.call('HSET', record, 'details', cjson.encode(details)) end
    ids[#ids + 1] = d.request_id
  end
end
local hold = tonumber(ARGV[3])
for course, refusal in pairs(answer.full_courses or {}) do
  if hold > 0 then
    redis.call('SET', 'q:full:' .. course, cjson.encode({type = refusal.type, reason = refusal.reason}), 'PX', hold)
  end
end
for _, course in ipairs(answer.open_courses or {}) do redis.call('DEL', 'q:full:' .. course) end
if #ids > 0 then
  redis.call('INCRBY', KEYS[1], #ids)
  redis.call('PUBLISH', KEYS[2], cjson.encode(ids))
end
return #ids
"""
)

# Take the requests that are still to be decided (pending, or deciding after a failover);
# answer which were taken. Cancelled and decided ones are left out (their entries are acked).
_CLAIM = """
local taken = {}
for i, id in ipairs(ARGV) do
  local key = 'q:r:' .. id
  local status = redis.call('HGET', key, 'status')
  if status == 'pending' or status == 'deciding' then
    redis.call('HSET', key, 'status', 'deciding')
    table.insert(taken, i)
  end
end
return taken
"""

_CANCEL = (
    _LEFT_QUEUE
    + """
local was = redis.call('HMGET', KEYS[1], 'status', 'action', 'course', 'drop', 'student')
local status = was[1]
if not status then return 'missing' end
if status ~= 'pending' then return status end
left_queue(was[2], was[3], was[4], was[5])
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'type', 'cancelled', 'reason', 'cancelled by the student',
  'decided_at', ARGV[1])
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], cjson.encode({ARGV[2]}))
return 'cancelled'
"""
)


@dataclass(slots=True)
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
    refusal: str = ""  # JSON {type, reason}: admission refuses it (recorded under the key), e.g. its window closed


@dataclass(slots=True)
class Admitted:
    request_id: str
    new: bool  # False: the idempotency key had admitted this request before
    status: str
    position: int


@dataclass(slots=True)
class Refused:
    """An enrollment refused at once: its course was reported full (seats and waitlist)."""

    type: str
    reason: str


@dataclass(slots=True)
class Stalled:
    """Not admitted: the ledger has been unable to decide for too long (retry later)."""

    reason: str


@dataclass(slots=True)
class TooManyOpen:
    """Not admitted: the student has this many requests open (the cap, `queue.max_open_requests`)."""

    open: int


@dataclass(frozen=True)
class Entry:
    """A stream entry: one admitted request, as the decider reads it."""

    stream: str
    entry_id: str
    request: dict[str, Any]  # id, student, cohort, action, course, drop, actor, priority, at (all strings)

    @property
    def request_id(self) -> str:
        return str(self.request["id"])

    @classmethod
    def of(cls, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> Entry:
        return cls(stream, entry_id, json.loads(fields[b"r"]))

    def for_ledger(self) -> dict[str, Any]:
        r = self.request
        return {
            "request_id": r["id"],
            "action": r["action"],
            "student_id": int(r["student"]),
            "cohort": int(r["cohort"]) if r["cohort"] else None,
            "course_id": int(r["course"]),
            "drop_course_id": int(r["drop"]) if r["drop"] else None,
            "actor": r["actor"],
            "admitted_at": float(r["at"]),
        }


class _Replies:
    """The admit script's answers as objects; a course's refusal (the same few bytes for every
    student refused from it) is parsed once."""

    def __init__(self) -> None:
        self._refusals: dict[bytes, Refused] = {}

    def of(self, r: list[Any]) -> Admitted | Refused | Stalled | TooManyOpen:
        if int(r[0]) == 3:
            return Stalled(r[2].decode())
        if int(r[0]) == 4:
            return TooManyOpen(int(r[2]))
        if int(r[0]) != 2:
            return Admitted(r[1].decode(), bool(r[0]), r[2].decode(), int(r[3]))
        refused = self._refusals.get(r[2])
        if refused is None:
            if len(self._refusals) > 10_000:
                self._refusals.clear()
            refusal = json.loads(r[2])
            refused = self._refusals[r[2]] = Refused(str(refusal["type"]), str(refusal["reason"]))
        return refused


def record_key(request_id: str) -> str:
    return f"q:r:{request_id}"


class NotReplicated(Exception):
    """No replica acknowledged an admission in time: it may or may not survive a failover."""


class QueueStore:
    def __init__(self, redis: Redis, replicas: int = 0, replica_wait_seconds: float = 1.0) -> None:
        """`replicas` (with Redis Sentinel: 1): an admission counts only once that many replicas have it."""
        self.redis = redis
        self.replicas = replicas
        self.replica_wait_ms = max(1, round(replica_wait_seconds * 1000))
        self._admit = redis.register_script(_ADMIT)
        self._claim = redis.register_script(_CLAIM)
        self._cancel = redis.register_script(_CANCEL)
        self._finish = redis.register_script(_FINISH)
        self._replies = _Replies()

    async def prepare(self) -> None:
        """Create the streams' consumer group (idempotent)."""
        for stream in STREAMS:
            try:
                await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except Exception as exc:  # BUSYGROUP: it exists
                if "BUSYGROUP" not in str(exc):
                    raise

    async def admit(
        self, admissions: Sequence[Admission], now: float, max_open: int = 0
    ) -> list[Admitted | Refused | Stalled | TooManyOpen]:
        """Record a burst of admissions in one script call (one round trip, one JSON argument)."""
        burst = orjson.dumps(
            [
                [
                    a.request_id,
                    str(a.student_id),
                    "" if a.cohort is None else str(a.cohort),
                    a.action,
                    str(a.course_id),
                    "" if a.drop_course_id is None else str(a.drop_course_id),
                    a.actor,
                    str(a.priority),
                    a.idempotency_key,
                    a.refusal,
                ]
                for a in admissions
            ]
        )
        keys = [ADMITTED, DECIDED, *STREAMS, REFUSED, TIMES, STALLED]
        args: list[Any] = [f"{now:.6f}", RECORD_TTL_SECONDS, burst, max_open]
        if self.replicas:
            replies = await self._admit_replicated(keys, args)
        else:
            replies = await self._admit(keys=keys, args=args)
        return [self._replies.of(r) for r in replies]

    async def _admit_replicated(self, keys: list[str], args: list[Any]) -> Any:
        """The admit script, then WAIT on the same connection (one round trip): its writes are
        answered only once `replicas` replicas (all of them) acknowledge them, so whichever
        replica a failover promotes has every admission answered 202. A primary being demoted
        has lost the promoted replica, so it cannot gather them: its admissions are refused.
        Raises NotReplicated after `replica_wait_ms` without them."""
        async with self.redis.pipeline(transaction=False) as pipe:
            await self._admit(keys=keys, args=args, client=pipe)
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

    async def cancel(self, request_id: str) -> str:
        """Cancel a pending request: 'cancelled', or the status that prevented it ('missing' if none)."""
        keys = [record_key(request_id), DECIDED, DONE_CHANNEL]
        answer: Any = await self._cancel(keys=keys, args=[time.time(), request_id])
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    async def claim(self, entries: Sequence[Entry]) -> list[Entry]:
        if not entries:
            return []
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
        round trip, no per-decision work here."""
        async with self.redis.pipeline(transaction=True) as pipe:
            if answer is not None:
                args: list[bytes | str | int] = [f"{now:.6f}", answer, round(full_for * 1000)]
                await self._finish(keys=[DECIDED, DONE_CHANNEL], args=args, client=pipe)
            for stream in STREAMS:
                ids = [e.entry_id for e in acked if e.stream == stream]
                if ids:
                    pipe.xack(stream, GROUP, *ids)
            await pipe.execute()
