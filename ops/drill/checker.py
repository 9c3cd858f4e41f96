"""The independent checker: what the clients were told, against Redis and the ledger's database.

A drill's own clients record every answer they got (`Told`); the checker then reads the
truth where it lives, every request's record in Redis and the ledger's tables (SQLite or
PostgreSQL, by the service's database URL), and counts what must never happen:

- lost: a request a client was told was taken that Redis does not know, or that never
  reached a final outcome, or whose final outcome the ledger does not hold;
- duplicated: one request taken twice, one seat or waitlist place held twice, a decision
  the ledger made for a request nobody sent;
- oversold: more enrollments than seats, or a seat count that disagrees with the rows;
- sections held in part: a student holding some kinds of an offering's sections and not the
  others (a lab without its lecture), or a linked section without the one it is linked to;
  an accepted section group not held whole;
- order: first come, first served per course (decisions in admission order, and no
  later request served while an earlier one for the course ended `rejected: timeout`,
  nor a timeout while the course still had places);
- told differently: a client told an outcome (when it read one) that Redis or the
  ledger does not hold.

Each check is a count that must be 0. The timing figures beside them are for reports.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cluster.settings import CourseSettings
from services.common.enrollment_contract import FINAL
from services.queue import keys


@dataclass
class Told:
    """What the queue told the clients: idempotency key -> request id for the requests it took
    (202), idempotency key -> the rule's type for those it refused at once (409, course full),
    and request id -> final status for the outcomes the clients read back (if they did)."""

    taken: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    duplicate_ids: int = 0  # a request id answered for two different keys


def records(redis_url: str) -> list[dict[str, str]]:
    """Every request record the queue keeps in Redis (`keys.RECORD_PREFIX` + id), with its id."""
    client = redis.Redis.from_url(redis_url)
    try:
        found_keys = list(client.scan_iter(keys.RECORD_PATTERN, count=1000))
        with client.pipeline(transaction=False) as pipe:
            for key in found_keys:
                pipe.hgetall(key)
            found = pipe.execute()
    finally:
        client.close()
    return [
        {"queue_request_id": keys.request_id_of(k), **{a.decode(): b.decode() for a, b in r.items()}}
        for k, r in zip(found_keys, found, strict=True)
        if r
    ]


def counters(redis_url: str) -> tuple[int, int, int]:
    """(admitted, decided, refused at once) so far."""
    client = redis.Redis.from_url(redis_url)
    try:
        admitted, decided = client.mget(keys.ADMITTED, keys.DECIDED)
        refused = sum(int(n) for n in client.hvals(keys.REFUSED))
    finally:
        client.close()
    return int(admitted or 0), int(decided or 0), refused


@dataclass(frozen=True)
class Ledger:
    """The ledger's tables as the checker needs them."""

    seats: list[tuple[int, int, int, int]]  # course id, capacity, taken, enrollment rows
    duplicate_enrollments: int
    duplicate_waitlist: int
    decisions: dict[str, str]  # request id -> outcome
    waiting: dict[int, int]  # course id -> waitlist length
    enrolled: set[tuple[int, int]]  # (student, course)
    waitlisted: set[tuple[int, int]]
    sections: dict[int, tuple[str, str, int | None]] = field(
        default_factory=dict
    )  # course -> offering, kind, linked_to

    def held_in_part(self) -> int:
        """(student, offering) pairs held in part: some of its kinds of section and not the others,
        or a linked section without the section it is linked to."""
        kinds: dict[str, set[str]] = defaultdict(set)
        for offering, kind, _ in self.sections.values():
            kinds[offering].add(kind)
        held: dict[tuple[int, str], set[str]] = defaultdict(set)
        unlinked = set()
        for student, course in self.enrolled:
            offering, kind, linked_to = self.sections[course]
            held[(student, offering)].add(kind)
            if linked_to is not None and (student, linked_to) not in self.enrolled:
                unlinked.add((student, offering))
        return len(unlinked | {k for k, got in held.items() if got != kinds[k[1]]})


def read_ledger(database_url: str) -> Ledger:
    """Read the ledger's tables from its database (any URL the service accepts)."""
    return asyncio.run(_read_ledger(database_url))


async def _read_ledger(database_url: str) -> Ledger:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as db:

            async def rows(sql: str) -> list[Any]:
                return list((await db.execute(text(sql))).all())

            seats = await rows(
                "SELECT c.id, c.capacity, c.taken, (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id)"
                " FROM courses c"
            )
            dup_enrolled = await rows(
                "SELECT count(*) FROM (SELECT 1 FROM enrollments GROUP BY course_id, student_id HAVING count(*) > 1) d"
            )
            dup_waiting = await rows(
                "SELECT count(*) FROM (SELECT 1 FROM waitlist GROUP BY course_id, student_id HAVING count(*) > 1) d"
            )
            decisions = await rows("SELECT request_id, outcome FROM queue_decisions")
            waiting = await rows("SELECT course_id, count(*) FROM waitlist GROUP BY course_id")
            enrolled = await rows("SELECT student_id, course_id FROM enrollments")
            waitlisted = await rows("SELECT student_id, course_id FROM waitlist")
            sections = await rows("SELECT id, code, term_id, kind, linked_to FROM courses")
    finally:
        await engine.dispose()
    return Ledger(
        seats=[(int(a), int(b), int(c), int(d)) for a, b, c, d in seats],
        duplicate_enrollments=int(dup_enrolled[0][0]),
        duplicate_waitlist=int(dup_waiting[0][0]),
        decisions={str(r): str(o) for r, o in decisions},
        waiting={int(c): int(n) for c, n in waiting},
        enrolled={(int(s), int(c)) for s, c in enrolled},
        waitlisted={(int(s), int(c)) for s, c in waitlisted},
        sections={int(c): (f"{code}@{term}", str(kind), linked) for c, code, term, kind, linked in sections},
    )


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _entry_order(entry: str) -> tuple[int, int]:
    millis, _, seq = entry.partition("-")
    return int(millis), int(seq or 0)


def _arrival(r: dict[str, str]) -> tuple[int, int, int]:
    return int(r.get("priority", 2)), *_entry_order(r["entry"])


def order_checks(finals: list[dict[str, str]]) -> dict[str, int]:
    """First come, first served per course, from the decided enrollments' records.

    `fcfs_violations`: a request decided (given a ledger sequence number) before one that
    arrived earlier. `timed_out_before_a_later_place`: requests that ended `rejected:
    timeout` although one that arrived later for the same course got a seat or a waitlist
    place (each such timeout counted once)."""
    by_course: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in finals:
        if r["action"] == "enroll" and "entry" in r:
            by_course[r["course_id"]].append(r)
    fcfs = timed_out_before_a_place = 0
    for decided in by_course.values():
        highest, timeouts = -1, 0
        for r in sorted(decided, key=_arrival):
            if r.get("seq"):
                seq = int(r["seq"])
                fcfs += seq < highest
                highest = max(highest, seq)
            if r["status"] == "rejected" and r.get("type") == "timeout":
                timeouts += 1
            elif r["status"] in ("accepted", "waitlisted"):
                timed_out_before_a_place += timeouts  # earlier requests timed out, this later one got a place
                timeouts = 0
    return {"fcfs_violations": fcfs, "timed_out_before_a_later_place": timed_out_before_a_place}


def report(
    redis_url: str, ledger_url: str, told: Told | None = None, waitlist_max: int | None = None
) -> dict[str, Any]:
    """Timing figures and the checks (each a count that must be 0).

    The rush has no drops, so a course full at one moment stays full: a refusal at once for
    a course left with a seat or a waitlist place (the rush keeps the default waitlist
    length, or `waitlist_max`) is wrong. With `told`, the clients' view is compared too."""
    waitlist_max = CourseSettings().waitlist_max_length if waitlist_max is None else waitlist_max
    found = records(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        refused = {int(k): int(v) for k, v in client.hgetall(keys.REFUSED).items()}
        times = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in client.hgetall(keys.TIMES).items()}
    finally:
        client.close()
    ledger = read_ledger(ledger_url)
    by_id = {r["queue_request_id"]: r for r in found}
    admitted_at = [float(r["admitted_at"]) for r in found]
    finals = [r for r in found if r["status"] in FINAL and "decided_at" in r]
    decided_at = [float(r["decided_at"]) for r in finals]
    latencies = [float(r["decided_at"]) - float(r["admitted_at"]) for r in finals]
    outcomes: dict[str, int] = defaultdict(int)
    for r in found:
        outcomes[r["status"] if r["status"] != "rejected" else f"rejected:{r.get('type', '')}"] += 1
    answered = len(found) + sum(refused.values())
    span = times.get("last", 0.0) - times.get("first", 0.0)
    places_left = {
        cid for cid, capacity, taken, _ in ledger.seats if taken < capacity or ledger.waiting.get(cid, 0) < waitlist_max
    }

    def holds(r: dict[str, str]) -> bool:  # the ledger holds what this record says (a group: whole)
        student = int(r["student_id"])
        group = [int(c) for c in r.get("section_ids", "").split(",") if c] or [int(r["course_id"])]
        whole = all((student, c) in ledger.enrolled for c in group)
        if r["status"] == "accepted":
            return whole
        if r["status"] == "waitlisted":  # (a group waits on each full section; promoted later: whole)
            return whole or any((student, c) in ledger.waitlisted for c in group)
        return True

    checks = {
        "oversold_seats": sum(max(0, count - capacity) for _, capacity, _, count in ledger.seats),
        "duplicate_enrollments": ledger.duplicate_enrollments,
        "duplicate_waitlist_places": ledger.duplicate_waitlist,
        "admitted_without_final_outcome": len(found) - len(finals),
        **order_checks(finals),
        "sections_held_in_part": ledger.held_in_part(),
        "taken_differs_from_enrollments": sum(taken != count for _, _, taken, count in ledger.seats),
        "outcome_differs_from_ledger": sum(
            r["status"] != ledger.decisions.get(r["queue_request_id"]) for r in finals if r["status"] != "cancelled"
        ),
        "outcome_missing_in_ledger_tables": sum(
            not holds(r) for r in finals if r["action"] == "enroll" and r["status"] != "cancelled"
        ),
        "ledger_decisions_without_request": len(set(ledger.decisions) - set(by_id)),
        "refused_with_places_left": sum(n for cid, n in refused.items() if cid in places_left),
        "timed_out_with_places_left": sum(
            r["status"] == "rejected" and r.get("type") == "timeout" and int(r["course_id"]) in places_left
            for r in finals
        ),
    }
    if told is not None:
        checks.update(
            {
                "told_taken_but_lost": sum(rid not in by_id for rid in told.taken.values()),
                "taken_twice": told.duplicate_ids + len(told.taken) - len(set(told.taken.values())),
                "taken_and_refused": len(set(told.taken) & set(told.refused)),
                "admitted_but_never_told": len(set(by_id) - set(told.taken.values())),
                "told_outcome_differs": sum(
                    by_id.get(rid, {}).get("status") != status for rid, status in told.outcomes.items()
                ),
                "refused_count_differs": abs(sum(refused.values()) - len(told.refused)),
            }
        )
    return {
        "admitted": len(found),
        "refused_at_once": sum(refused.values()),
        "outcomes": dict(sorted(outcomes.items())),
        "answered_per_s": round(answered / max(1e-6, span), 1) if answered else 0.0,
        "admitted_per_s": round(len(found) / max(1e-6, max(admitted_at) - min(admitted_at)), 1) if found else 0.0,
        "decided_per_s": round(len(finals) / max(1e-6, max(decided_at) - min(admitted_at)), 1) if finals else 0.0,
        "outcome_p50_s": round(_percentile(latencies, 0.50), 4),
        "outcome_p99_s": round(_percentile(latencies, 0.99), 4),
        "drained_after_last_admission_s": round(max(decided_at) - max(admitted_at), 4) if finals else 0.0,
        "checks": checks,
    }


def failed(checks: dict[str, int]) -> dict[str, int]:
    """The checks that did not hold."""
    return {k: v for k, v in checks.items() if v}
