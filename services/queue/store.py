"""The queue's data in Redis: streams of admitted requests, each request's record, counters.

Keys (one Redis, append-only file on):
- `q:s:<priority>` a stream per priority (0 first), entries carry the whole request
  (`enrollment_contract.ENTRY_FIELDS`, as JSON); consumer group `deciders`;
- `q:r:<queue request id>` a hash, the request's record (`enrollment_contract.RECORD_FIELDS`):
  the request, `status` (pending, deciding, accepted, waitlisted, rejected, cancelled),
  `type`, `reason`, times, decision order, details;
- `q:k:<student>:<idempotency key>` the request id a key already admitted;
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
from string import Template
from typing import Any

import orjson
from redis.asyncio import Redis

from services.common.enrollment_contract import (
    ADMISSION_FIELDS,
    ENTRY_FIELDS,
    RECORD_FIELDS,
    RECORDED_DECISION_FIELDS,
    BatchAnswer,
    Refusal,
    ledger_request_of,
)

STREAMS = ("q:s:0", "q:s:1", "q:s:2")  # by priority, highest first
GROUP = "deciders"
ADMITTED, DECIDED, REFUSED, TIMES = "q:admitted", "q:decided", "q:refused", "q:times"
STALLED = "q:stalled"  # set by the master while the ledger cannot decide: admission refuses new requests
DONE_CHANNEL = "q:done"
RECORD_TTL_SECONDS = 7 * 24 * 3600


def _lua_list(names: Sequence[str]) -> str:
    return "{" + ", ".join(f"'{name}'" for name in names) + "}"


# Every field name a script writes or reads, from the contract: `$name` in a script is the
# name (an unknown one fails here, at import), `$admission_fields` and
# `$recorded_decision_fields` are the contract's lists as Lua tables.
SCRIPT_NAMES: dict[str, str] = {
    **{
        name: name
        for name in (
            *RECORD_FIELDS,
            *ADMISSION_FIELDS,
            *ENTRY_FIELDS,
            *RECORDED_DECISION_FIELDS,
            *BatchAnswer.model_fields,
            *Refusal.model_fields,
        )
    },
    "admission_fields": _lua_list(ADMISSION_FIELDS),
    "recorded_decision_fields": _lua_list(RECORDED_DECISION_FIELDS),
}


def _lua(source: str) -> str:
    return Template(source).substitute(SCRIPT_NAMES)


# Admit a burst: ARGV = now, record TTL, the burst as one JSON array of admissions, each
# [id, student, cohort, action, course, drop, actor, priority, idempotency key] (strings),
# the most requests a student may have open.
# Per admission: the idempotency key seen before answers the request it admitted; while the
# queue is stalled (KEYS[8] set: the ledger cannot decide) nothing new is admitted; a student
# with ARGV[4] requests open (pending or being decided; `q:o:<student>`; 0: no cap) gets no
# more until one is decided or cancelled; an enrollment in a course reported full, with no
# drop or swap out of it waiting, is refused (nothing written but the count); otherwise the
# key, the stream entry and the record are written, and a drop or swap counts as waiting to
# free its course.
_ADMIT = _lua("""
local now, ttl, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local decided = tonumber(redis.call('GET', KEYS[2]) or '0')
local stalled = redis.call('GET', KEYS[8])
local out = {}
local ADMISSION_FIELDS = $admission_fields
for _, a in ipairs(cjson.decode(ARGV[3])) do
  local r = {}
  for i, name in ipairs(ADMISSION_FIELDS) do r[name] = a[i] end
  local key = 'q:k:' .. r.$student_id .. ':' .. r.$idempotency_key
  r.$idempotency_key = nil
  local existing = redis.call('GET', key)
  local full = false
  if not existing and r.$action == 'enroll' then
    full = redis.call('GET', 'q:full:' .. r.$course_id)
    if full and tonumber(redis.call('GET', 'q:f:' .. r.$course_id) or '0') > 0 then full = false end
  end
  if existing then
    local status = redis.call('HGET', 'q:r:' .. existing, '$status')
    out[#out + 1] = {0, existing, status or 'pending', 0}
  elseif stalled then
    out[#out + 1] = {3, '', stalled, 0}
  elseif full then
    redis.call('HINCRBY', KEYS[6], r.$course_id, 1)
    out[#out + 1] = {2, '', full, 0}
  elseif cap > 0 and tonumber(redis.call('GET', 'q:o:' .. r.$student_id) or '0') >= cap then
    out[#out + 1] = {4, '', redis.call('GET', 'q:o:' .. r.$student_id), 0}
  else
    redis.call('INCR', 'q:o:' .. r.$student_id)
    redis.call('EXPIRE', 'q:o:' .. r.$student_id, ttl)
    redis.call('SET', key, r.$queue_request_id, 'EX', ttl)
    r.$admitted_at = now
    local entry = redis.call('XADD', KEYS[3 + tonumber(r.$priority)], '*', 'r', cjson.encode(r))
    local n = redis.call('INCR', KEYS[1])
    local record = 'q:r:' .. r.$queue_request_id
    redis.call('HSET', record, '$student_id', r.$student_id, '$action', r.$action, '$course_id', r.$course_id,
      '$drop_course_id', r.$drop_course_id, '$admitted_at', now, '$priority', r.$priority, '$entry', entry, '$n', n,
      '$status', 'pending')
    redis.call('EXPIRE', record, ttl)
    local frees = (r.$action == 'drop' and r.$course_id) or (r.$action == 'swap' and r.$drop_course_id) or ''
    if frees ~= '' then
      redis.call('INCR', 'q:f:' .. frees)
      redis.call('EXPIRE', 'q:f:' .. frees, ttl)
    end
    out[#out + 1] = {1, r.$queue_request_id, 'pending', n - decided}
  end
end
redis.call('HSETNX', KEYS[7], 'first', now)
redis.call('HSET', KEYS[7], 'last', now)
return out
""")

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
_FINISH = _lua(
    _LEFT_QUEUE
    + """
local plain = {}
for _, name in ipairs($recorded_decision_fields) do plain[name] = true end
local answer = cjson.decode(ARGV[2])
local ids = {}
for _, d in ipairs(answer.$decisions) do
  local record = 'q:r:' .. d.$queue_request_id
  local was = redis.call('HMGET', record, '$status', '$action', '$course_id', '$drop_course_id', '$student_id')
  if was[1] == 'pending' or was[1] == 'deciding' then
    local details, extra = {}, false
    for k, v in pairs(d) do
      if not plain[k] then details[k] = v; extra = true end
    end
    left_queue(was[2], was[3], was[4], was[5])
    redis.call('HSET', record, '$status', d.$outcome, '$type', d.$type, '$reason', d.$reason, '$seq', d.$seq,
      '$decided_at', ARGV[1])
    if extra then redis.call('HSET', record, '$details', cjson.encode(details)) end
    ids[#ids + 1] = d.$queue_request_id
  end
end
local hold = tonumber(ARGV[3])
for course, refusal in pairs(answer.$full_courses or {}) do
  if hold > 0 then
    redis.call('SET', 'q:full:' .. course, cjson.encode({$type = refusal.$type, $reason = refusal.$reason}), 'PX', hold)
  end
end
for _, course in ipairs(answer.$open_courses or {}) do redis.call('DEL', 'q:full:' .. course) end
if #ids > 0 then
  redis.call('INCRBY', KEYS[1], #ids)
  redis.call('PUBLISH', KEYS[2], cjson.encode(ids))
end
return #ids
"""
)

# Take the requests that are still to be decided (pending, or deciding after a failover);
# answer which were taken. Cancelled and decided ones are left out (their entries are acked).
_CLAIM = _lua("""
local taken = {}
for i, id in ipairs(ARGV) do
  local key = 'q:r:' .. id
  local status = redis.call('HGET', key, '$status')
  if status == 'pending' or status == 'deciding' then
    redis.call('HSET', key, '$status', 'deciding')
    table.insert(taken, i)
  end
end
return taken
""")

_CANCEL = _lua(
    _LEFT_QUEUE
    + """
local was = redis.call('HMGET', KEYS[1], '$status', '$action', '$course_id', '$drop_course_id', '$student_id')
local status = was[1]
if not status then return 'missing' end
if status ~= 'pending' then return status end
left_queue(was[2], was[3], was[4], was[5])
redis.call('HSET', KEYS[1], '$status', 'cancelled', '$type', 'cancelled', '$reason', 'cancelled by the student',
  '$decided_at', ARGV[1])
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], cjson.encode({ARGV[2]}))
return 'cancelled'
"""
)


@dataclass(slots=True)
class Admission:
    """A request to admit; its fields are the contract's `ADMISSION_FIELDS`, in that order."""

    queue_request_id: str
    student_id: int
    cohort: int | None
    action: str
    course_id: int
    drop_course_id: int | None
    actor: str
    priority: int
    idempotency_key: str


@dataclass(slots=True)
class Admitted:
    queue_request_id: str
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
    request: dict[str, Any]  # ENTRY_FIELDS (all strings)

    @property
    def request_id(self) -> str:
        return str(self.request["queue_request_id"])

    @classmethod
    def of(cls, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> Entry:
        return cls(stream, entry_id, json.loads(fields[b"r"]))

    def for_ledger(self) -> dict[str, Any]:
        return ledger_request_of(self.request)


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


def _arg(value: object) -> str:
    return "" if value is None else str(value)


def record_key(request_id: str) -> str:
    return f"q:r:{request_id}"


class QueueStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
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
        burst = orjson.dumps([[_arg(getattr(a, name)) for name in ADMISSION_FIELDS] for a in admissions])
        replies: Any = await self._admit(
            keys=[ADMITTED, DECIDED, *STREAMS, REFUSED, TIMES, STALLED],
            args=[f"{now:.6f}", RECORD_TTL_SECONDS, burst, max_open],
        )
        return [self._replies.of(r) for r in replies]

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
        taken: Any = await self._claim(args=[e.request_id for e in entries])
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
