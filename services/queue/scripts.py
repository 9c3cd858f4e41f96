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
    PLAN_ITEM_FIELDS,
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
            *PLAN_ITEM_FIELDS,
            *RECORDED_DECISION_FIELDS,
            *BatchAnswer.model_fields,
            *Refusal.model_fields,
        )
    },
    **PREFIXES,
    "admission_fields": _lua_list(ADMISSION_FIELDS),
    "plan_item_fields": _lua_list(PLAN_ITEM_FIELDS),
    "recorded_decision_fields": _lua_list(RECORDED_DECISION_FIELDS),
}


def lua(source: str) -> str:
    return Template(source).substitute(SCRIPT_NAMES)


# Queue one request (`r`: the entry's fields, strings): the stream entry, the record, the
# student's index and open count, a drop or swap counted as waiting to free its course.
# A plan's item keeps the alternatives still to try (`alternatives`, comma-separated) and
# which of its courses it is (`alternative`, 0: its own), with the cohort and actor needed
# to queue the next one in its place. A section group keeps its sections (and a swap into it
# the sections it gives up, each counted as waiting to be freed). Answers the admission's number.
_ENQUEUE = """
local function each_id(csv, fn)
  for course in string.gmatch(csv or '', '[^,]+') do fn(course) end
end
local function enqueue(r, alternatives, alternative, now, ttl, streams, admitted)
  redis.call('INCR', '$open_prefix' .. r.$student_id)
  redis.call('EXPIRE', '$open_prefix' .. r.$student_id, ttl)
  r.$admitted_at = now
  local entry = redis.call('XADD', streams[1 + tonumber(r.$priority)], '*', 'r', cjson.encode(r))
  local n = redis.call('INCR', admitted)
  local record = '$record_prefix' .. r.$queue_request_id
  redis.call('HSET', record, '$student_id', r.$student_id, '$action', r.$action, '$course_id', r.$course_id,
    '$drop_course_id', r.$drop_course_id, '$admitted_at', now, '$priority', r.$priority, '$entry', entry, '$n', n,
    '$status', 'pending')
  if alternatives ~= '' then
    redis.call('HSET', record, '$alternatives', alternatives, '$cohort', r.$cohort, '$actor', r.$actor,
      '$program', r.$program or '', '$year', r.$year or '', '$priority_group', r.$priority_group or '')
  end
  if alternative > 0 then redis.call('HSET', record, '$alternative', alternative) end
  if (r.$section_ids or '') ~= '' then
    redis.call('HSET', record, '$section_ids', r.$section_ids, '$drop_course_ids', r.$drop_course_ids or '')
  end
  redis.call('EXPIRE', record, ttl)
  redis.call('ZADD', '$student_requests_prefix' .. r.$student_id, n, r.$queue_request_id)
  redis.call('EXPIRE', '$student_requests_prefix' .. r.$student_id, ttl)
  local frees = (r.$action == 'drop' and r.$course_id) or (r.$action == 'swap' and r.$drop_course_id) or ''
  local function free(course)
    redis.call('INCR', '$frees_prefix' .. course)
    redis.call('EXPIRE', '$frees_prefix' .. course, ttl)
  end
  if frees ~= '' then free(frees) end
  each_id(r.$drop_course_ids, free)
  return n
end
"""

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
ADMIT = lua(
    _ENQUEUE
    + """
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
  if not existing and r.$action == 'enroll' and r.$section_ids == '' then
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
    redis.call('SET', key, r.$queue_request_id, 'EX', ttl)
    local n = enqueue(r, '', 0, now, ttl, {KEYS[3], KEYS[4], KEYS[5]}, KEYS[1])
    out[#out + 1] = {1, r.$queue_request_id, 'pending', n - decided}
  end
end
redis.call('HSETNX', KEYS[7], 'first', now)
redis.call('HSET', KEYS[7], 'last', now)
return out
"""
)

# Admit a plan (issue 16) whole: KEYS as the admit script's, then the plans' count; ARGV =
# now, record TTL, the plan as JSON {student_id, key, refusal, items: [[id, student, cohort,
# action, course, drop, actor, priority, program, year, priority_group, alternatives], ...]},
# the most requests a student may have open. The plan's idempotency key
# (`q:pk:<student>:<key>`) seen before answers the same items (their requests' status now)
# or the same refusal; admission's refusal (a closed window) is recorded under it; while the
# queue is stalled nothing is admitted; a student whose open requests and the plan's items
# pass the cap gets nothing admitted. Otherwise each item, in order, queues its course, or
# when that course is reported full (no drop or swap out of it waiting), its first
# alternative that is not, the rest kept with the request; an item whose every course is
# full is refused at once. Answers {0 known, 1 new, 2 refused, 3 stalled, 4 too many open},
# then the items as JSON ({position, course_id, queue_request_id ('' refused at once),
# status, type, reason}) or the refusal, stall reason or open count.
ADMIT_PLAN = lua(
    _ENQUEUE
    + """
local now, ttl, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local plan = cjson.decode(ARGV[3])
local key = '$plan_key_prefix' .. plan.$student_id .. ':' .. plan.key
local existing = redis.call('GET', key)
redis.call('HSETNX', KEYS[7], 'first', now)
redis.call('HSET', KEYS[7], 'last', now)
if existing and string.sub(existing, 1, 1) == '!' then return {2, string.sub(existing, 2)} end
if existing then
  local items = cjson.decode(existing)
  for _, item in ipairs(items) do
    if item.$queue_request_id ~= '' then
      item.$status = redis.call('HGET', '$record_prefix' .. item.$queue_request_id, '$status') or item.$status
    end
  end
  return {0, cjson.encode(items)}
end
if plan.$refusal ~= '' then
  redis.call('SET', key, '!' .. plan.$refusal, 'EX', ttl)
  redis.call('INCR', KEYS[9])
  return {2, plan.$refusal}
end
local stalled = redis.call('GET', KEYS[8])
if stalled then return {3, stalled} end
local open = tonumber(redis.call('GET', '$open_prefix' .. plan.$student_id) or '0')
if cap > 0 and open + #plan.items > cap then return {4, tostring(open)} end
local PLAN_ITEM_FIELDS = $plan_item_fields
local items = {}
for position, a in ipairs(plan.items) do
  local r = {}
  for i, name in ipairs(PLAN_ITEM_FIELDS) do r[name] = a[i] end
  local choices = {r.$course_id}
  for course in string.gmatch(r.$alternatives, '[^,]+') do choices[#choices + 1] = course end
  r.$alternatives = nil
  local item = {position = position, $course_id = r.$course_id, $queue_request_id = '', $status = 'rejected',
    $type = '', $reason = ''}
  for i, course in ipairs(choices) do
    local full = redis.call('GET', '$full_prefix' .. course)
    if full and tonumber(redis.call('GET', '$frees_prefix' .. course) or '0') > 0 then full = false end
    if full then
      redis.call('HINCRBY', KEYS[6], course, 1)
      local refusal = cjson.decode(full)
      item.$type, item.$reason = refusal.$type, refusal.$reason
    else
      r.$course_id = course
      enqueue(r, table.concat(choices, ',', i + 1), i - 1, now, ttl, {KEYS[3], KEYS[4], KEYS[5]}, KEYS[1])
      item.$course_id, item.$queue_request_id, item.$status, item.$type, item.$reason =
        course, r.$queue_request_id, 'pending', '', ''
      break
    end
  end
  items[#items + 1] = item
end
local answer = cjson.encode(items)
redis.call('SET', key, answer, 'EX', ttl)
redis.call('INCR', KEYS[9])
return {1, answer}
"""
)


# A request leaving pending/deciding for good: the drop or swap no longer waits to free its
# course (a swap into a section group: each it gives up), and the student has one open request less.
_LEFT_QUEUE = """
local function left_queue(action, course, drop, student, drops)
  local frees = (action == 'drop' and course) or (action == 'swap' and drop) or ''
  if frees ~= '' then redis.call('DECR', '$frees_prefix' .. frees) end
  for given in string.gmatch(drops or '', '[^,]+') do redis.call('DECR', '$frees_prefix' .. given) end
  if student and tonumber(redis.call('GET', '$open_prefix' .. student) or '0') > 0 then
    redis.call('DECR', '$open_prefix' .. student)
  end
end
"""

# Record decisions: ARGV[1] = the time, ARGV[2] = the ledger's answer as it came
# ({"decisions": [{request_id, outcome, type, reason, seq, ...details}], "full_courses":
# {course: {type, reason}}, "open_courses": [course]}), ARGV[3] = how long a full course
# refuses at once (ms, 0: never), ARGV[4] = the record TTL; count the decisions and announce
# their ids on the channel. A plan's item refused (it has alternatives left) has its next
# alternative queued in its place in the same step (at the end of its stream: it is admitted
# now), the refused record naming it (`next`): a decision and its fallback are one write,
# so no crash can keep one without the other.
# Only a request still pending or deciding takes its decision: one decided before (a batch
# redelivered after a failover or a lost answer) keeps it and is not counted again, and a
# record gone (expired) is not made again half-empty. So `q:decided` counts each request once.
FINISH = lua(
    _LEFT_QUEUE
    + _ENQUEUE
    + """
local streams = {KEYS[4], KEYS[5], KEYS[6]}
local function fall_back(record, id, was)
  local more = redis.call('HMGET', record, '$alternatives', '$cohort', '$actor', '$priority', '$alternative',
    '$program', '$year', '$priority_group')
  if not more[1] or more[1] == '' then return end
  local course, rest = string.match(more[1], '^([^,]+),?(.*)')
  local alternative = tonumber(more[5] or '0') + 1
  local r = {$queue_request_id = string.match(id, '^[^-]+') .. '-' .. alternative, $student_id = was[5],
    $cohort = more[2], $action = 'enroll', $course_id = course, $drop_course_id = '', $actor = more[3],
    $priority = more[4], $program = more[6] or '', $year = more[7] or '', $priority_group = more[8] or ''}
  enqueue(r, rest, alternative, ARGV[1], tonumber(ARGV[4]), streams, KEYS[3])
  redis.call('HDEL', record, '$alternatives')
  redis.call('HSET', record, '$next', r.$queue_request_id)
end
local plain = {}
for _, name in ipairs($recorded_decision_fields) do plain[name] = true end
local answer = cjson.decode(ARGV[2])
local ids = {}
for _, d in ipairs(answer.$decisions) do
  local record = '$record_prefix' .. d.$queue_request_id
  local was = redis.call('HMGET', record, '$status', '$action', '$course_id', '$drop_course_id', '$student_id',
    '$drop_course_ids')
  if was[1] == 'pending' or was[1] == 'deciding' then
    local details, extra = {}, false
    for k, v in pairs(d) do
      if not plain[k] then details[k] = v; extra = true end
    end
    left_queue(was[2], was[3], was[4], was[5], was[6])
    redis.call('HSET', record, '$status', d.$outcome, '$type', d.$type, '$reason', d.$reason, '$seq', d.$seq,
      '$decided_at', ARGV[1])
    if extra then redis.call('HSET', record, '$details', cjson.encode(details)) end
    ids[#ids + 1] = d.$queue_request_id
    if d.$outcome == 'rejected' then fall_back(record, d.$queue_request_id, was) end
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
local was = redis.call('HMGET', KEYS[1], '$status', '$action', '$course_id', '$drop_course_id', '$student_id',
  '$drop_course_ids')
local status = was[1]
if not status then return 'missing' end
if status ~= 'pending' then return status end
left_queue(was[2], was[3], was[4], was[5], was[6])
redis.call('HSET', KEYS[1], '$status', 'cancelled', '$type', 'cancelled', '$reason', 'cancelled by the student',
  '$decided_at', ARGV[1])
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], cjson.encode({ARGV[2]}))
return 'cancelled'
"""
)
