"""The queue's Lua scripts: every change of a request's state is one script call, so admission
(key check, stream append, record) and cancellation (only while pending) are atomic.

The scripts read and write the contract's field names (`enrollment_contract`) and the
key schema's prefixes (`keys.py`): `$name` in a script is one of them, templated in at
import, and a name neither knows fails then.
"""

from __future__ import annotations

from collections.abc import Sequence
from string import Template

from services.common.enrollment_contract import (
    ADMISSION_FIELDS,
    ENTRY_FIELDS,
    RECORD_FIELDS,
    RECORDED_DECISION_FIELDS,
    BatchAnswer,
    Refusal,
)
from services.queue.keys import PREFIXES


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
    **PREFIXES,
    "admission_fields": _lua_list(ADMISSION_FIELDS),
    "recorded_decision_fields": _lua_list(RECORDED_DECISION_FIELDS),
}


def lua(source: str) -> str:
    return Template(source).substitute(SCRIPT_NAMES)


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
ADMIT = lua("""
local now, ttl, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local decided = tonumber(redis.call('GET', KEYS[2]) or '0')
local stalled = redis.call('GET', KEYS[8])
local out = {}
local ADMISSION_FIELDS = $admission_fields
for _, a in ipairs(cjson.decode(ARGV[3])) do
  local r = {}
  for i, name in ipairs(ADMISSION_FIELDS) do r[name] = a[i] end
  local key = '$key_prefix' .. r.$student_id .. ':' .. r.$idempotency_key
  local refusal = r.$refusal
  r.$idempotency_key, r.$refusal = nil, nil
  local existing = redis.call('GET', key)
  local full = false
  if not existing and r.$action == 'enroll' then
    full = redis.call('GET', '$full_prefix' .. r.$course_id)
    if full and tonumber(redis.call('GET', '$frees_prefix' .. r.$course_id) or '0') > 0 then full = false end
  end
  if existing and string.sub(existing, 1, 1) == '!' then
    out[#out + 1] = {2, '', string.sub(existing, 2), 0}
  elseif existing then
    local status = redis.call('HGET', '$record_prefix' .. existing, '$status')
    out[#out + 1] = {0, existing, status or 'pending', 0}
  elseif refusal and refusal ~= '' then
    redis.call('SET', key, '!' .. refusal, 'EX', ttl)
    out[#out + 1] = {2, '', refusal, 0}
  elseif stalled then
    out[#out + 1] = {3, '', stalled, 0}
  elseif full then
    redis.call('HINCRBY', KEYS[6], r.$course_id, 1)
    redis.call('SET', key, '!' .. full, 'EX', ttl)
    out[#out + 1] = {2, '', full, 0}
  elseif cap > 0 and tonumber(redis.call('GET', '$open_prefix' .. r.$student_id) or '0') >= cap then
    out[#out + 1] = {4, '', redis.call('GET', '$open_prefix' .. r.$student_id), 0}
  else
    redis.call('INCR', '$open_prefix' .. r.$student_id)
    redis.call('EXPIRE', '$open_prefix' .. r.$student_id, ttl)
    redis.call('SET', key, r.$queue_request_id, 'EX', ttl)
    r.$admitted_at = now
    local entry = redis.call('XADD', KEYS[3 + tonumber(r.$priority)], '*', 'r', cjson.encode(r))
    local n = redis.call('INCR', KEYS[1])
    local record = '$record_prefix' .. r.$queue_request_id
    redis.call('HSET', record, '$student_id', r.$student_id, '$action', r.$action, '$course_id', r.$course_id,
      '$drop_course_id', r.$drop_course_id, '$admitted_at', now, '$priority', r.$priority, '$entry', entry, '$n', n,
      '$status', 'pending')
    redis.call('EXPIRE', record, ttl)
    redis.call('ZADD', '$student_requests_prefix' .. r.$student_id, n, r.$queue_request_id)
    redis.call('EXPIRE', '$student_requests_prefix' .. r.$student_id, ttl)
    local frees = (r.$action == 'drop' and r.$course_id) or (r.$action == 'swap' and r.$drop_course_id) or ''
    if frees ~= '' then
      redis.call('INCR', '$frees_prefix' .. frees)
      redis.call('EXPIRE', '$frees_prefix' .. frees, ttl)
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
  if frees ~= '' then redis.call('DECR', '$frees_prefix' .. frees) end
  if student and tonumber(redis.call('GET', '$open_prefix' .. student) or '0') > 0 then
    redis.call('DECR', '$open_prefix' .. student)
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
FINISH = lua(
    _LEFT_QUEUE
    + """
local plain = {}
for _, name in ipairs($recorded_decision_fields) do plain[name] = true end
local answer = cjson.decode(ARGV[2])
local ids = {}
for _, d in ipairs(answer.$decisions) do
  local record = '$record_prefix' .. d.$queue_request_id
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
    local kept = cjson.encode({$type = refusal.$type, $reason = refusal.$reason})
    redis.call('SET', '$full_prefix' .. course, kept, 'PX', hold)
  end
end
for _, course in ipairs(answer.$open_courses or {}) do redis.call('DEL', '$full_prefix' .. course) end
if #ids > 0 then
  redis.call('INCRBY', KEYS[1], #ids)
  redis.call('PUBLISH', KEYS[2], cjson.encode(ids))
end
return #ids
"""
)

# Take the requests that are still to be decided (pending, or deciding after a failover);
# answer which were taken. Cancelled and decided ones are left out (their entries are acked).
CLAIM = lua("""
local taken = {}
for i, id in ipairs(ARGV) do
  local key = '$record_prefix' .. id
  local status = redis.call('HGET', key, '$status')
  if status == 'pending' or status == 'deciding' then
    redis.call('HSET', key, '$status', 'deciding')
    table.insert(taken, i)
  end
end
return taken
""")

CANCEL = lua(
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
