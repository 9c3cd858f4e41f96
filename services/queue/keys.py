"""The queue's key schema in Redis: every key name, in one place.

Keys (one Redis, append-only file on):
- `q:s:<priority>` a stream per priority (0 first), entries carry the whole request
  (`enrollment_contract.ENTRY_FIELDS`, as JSON); consumer group `deciders`;
- `q:r:<queue request id>` a hash, the request's record (`enrollment_contract.RECORD_FIELDS`):
  the request, `status` (pending, deciding, accepted, waitlisted, rejected, cancelled),
  `type`, `reason`, times, decision order, details;
- `q:k:<student>:<idempotency key>` the request id a key already admitted, or `!` and the
  refusal (type, reason) it was answered at once: the same key always gets the same answer;
- `q:pk:<student>:<idempotency key>` a plan submitted with that key: its items as admitted
  (JSON: each item's request id, or its refusal at once), or `!` and the refusal;
- `q:u:<student>` the student's requests, scored by admission number (`GET /queue/requests`);
- `q:o:<student>` how many of the student's requests are open (pending or being decided):
  admission refuses more than `queue.max_open_requests`;
- `q:full:<course>` the refusal (type, reason) the ledger last reported for a full course
  (seats and waitlist), kept `queue.full_course_cache_seconds`: while it is there and no
  admitted drop or swap out of the course waits (`q:f:<course>` counts them), an
  enrollment in it is refused at once instead of queued, since the ledger would refuse it;
- `q:admitted`, `q:decided` counters, `q:plans` the plans answered (admitted or refused),
  `q:refused` a count per course; `q:times` the first and
  last admission's time (admitted or refused); `q:done` the channel announcing decisions.

One Redis server, not Redis Cluster: the scripts build the per-student and per-course
names themselves, from the prefixes here (`scripts.py` templates them in).
"""

from __future__ import annotations

STREAMS = ("q:s:0", "q:s:1", "q:s:2")  # by priority, highest first
GROUP = "deciders"
ADMITTED, DECIDED, REFUSED, TIMES = "q:admitted", "q:decided", "q:refused", "q:times"
PLANS = "q:plans"  # plans answered for good (admitted or refused, each key once)
STALLED = "q:stalled"  # set by the master while the ledger cannot decide: admission refuses new requests
DONE_CHANNEL = "q:done"
RECORD_TTL_SECONDS = 7 * 24 * 3600

RECORD_PREFIX = "q:r:"  # + the queue request id: its record
KEY_PREFIX = "q:k:"  # + student + ":" + idempotency key: the request id it admitted
OPEN_PREFIX = "q:o:"  # + student: how many of their requests are open
FULL_PREFIX = "q:full:"  # + course: the refusal the ledger reported
FREES_PREFIX = "q:f:"  # + course: the admitted drops and swaps out of it that wait
STUDENT_REQUESTS_PREFIX = "q:u:"  # + student: their requests, scored by admission number
PLAN_KEY_PREFIX = "q:pk:"  # + student + ":" + idempotency key: the plan it admitted (its items), or "!" + refusal
PREFIXES = {
    "plan_key_prefix": PLAN_KEY_PREFIX,
    "student_requests_prefix": STUDENT_REQUESTS_PREFIX,
    "record_prefix": RECORD_PREFIX,
    "key_prefix": KEY_PREFIX,
    "open_prefix": OPEN_PREFIX,
    "full_prefix": FULL_PREFIX,
    "frees_prefix": FREES_PREFIX,
}
RECORD_PATTERN = RECORD_PREFIX + "*"  # (SCAN: every record)


def record_key(queue_request_id: str) -> str:
    return RECORD_PREFIX + queue_request_id


def full_key(course_id: int | str) -> str:
    return f"{FULL_PREFIX}{course_id}"


def request_id_of(key: bytes | str) -> str:
    """The queue request id of a record's key."""
    text = key.decode() if isinstance(key, bytes) else key
    return text.removeprefix(RECORD_PREFIX)
