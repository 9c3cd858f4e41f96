"""Deciding a batch of queued requests in one transaction, in order (the rush path's ledger side).

Each request carries its id: one already decided gets its recorded outcome again, so
applying a batch twice has the effect of applying it once. A request past its deadline
is rejected with reason "timeout" (here, where it is recorded, never elsewhere).

Runs of enrollments are decided on facts loaded once for the whole run, with the same
`rules.decide_enroll` as the one-at-a-time path, and written with a few statements per
run; drops and swaps go through the one-at-a-time ledger (they free seats and promote
from waitlists), and section groups through `groups.enroll_group`, the one-at-a-time path of a
group (all or nothing, its rules `rules.decide_group`), each where it stands. The order of
requests is the order of decisions, so for one course an earlier request is never decided
after a later one.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cluster.settings import Action, CourseSettings
from services.common.outbox import outbox_rows
from services.common.registration import Standing
from services.course_data.audit import audit_row, outcome_of
from services.course_data.groups import enroll_group
from services.course_data.ledger import Ledger
from services.course_data.rules import (
    CourseFacts,
    Decision,
    Permit,
    StudentFacts,
    decide_enroll,
    decide_group,
    full_refusal,
    group_refusal,
    reject,
    window_decision,
)
from services.course_data.seats import Seats, take_seats
from services.course_data.sections import group_text
from storage.dialects import Inserts, Returning, among, select_many
from storage.schemas.core import outbox
from storage.schemas.course_data import courses, enrollments, ledger_audit, permits, queue_decisions, waitlist

log = logging.getLogger("course_selection.ledger")


@dataclass(frozen=True)
class Queued:
    request_id: str
    action: Action
    student_id: int
    cohort: int | None
    course_id: int
    drop_course_id: int | None
    actor: str
    deadline: float  # Unix time: not decided by then, it is rejected with "timeout"
    program: str | None = None  # the rest of the student's standing (`registration.Standing`)
    year: int | None = None
    priority_group: str | None = None
    section_ids: tuple[int, ...] = ()  # a section group (course_id: its first section), taken whole or not at all
    drop_ids: tuple[int, ...] = ()  # a swap into the section group: the sections it gives up

    @property
    def standing(self) -> Standing:
        return Standing(self.cohort, self.program, self.year, self.priority_group)


@dataclass(frozen=True)
class Decided:
    request_id: str
    decision: Decision
    seq: int  # order of decision in the ledger (recorded)


TIMEOUT = reject("timeout", "the request could not be decided in time; nothing was changed")


async def decide_batch(conn: AsyncConnection, ledger: Ledger, batch: Sequence[Queued], now: float) -> list[Decided]:
    """Decide `batch` in the caller's (fenced) transaction; return one outcome per request, in order."""
    ids = [r.request_id for r in batch]
    recorded, named = await select_many(
        conn,
        [
            select(queue_decisions).where(among(conn.dialect, queue_decisions.c.request_id, ids)),
            select(courses.c.id, courses.c.code).where(among(conn.dialect, courses.c.id, {r.course_id for r in batch})),
        ],
    )
    known: dict[str, Decided] = {}
    for row in recorded:
        decision = Decision(row.outcome, row.type, row.reason)
        known[row.request_id] = Decided(row.request_id, decision, row.seq)
    codes: dict[int, str] = {row.id: row.code for row in named}
    fresh: dict[str, Decision] = {}
    run: list[Queued] = []
    seen: set[str] = set(known)
    pending = Inserts()  # the runs' rows so far, sent together (before a drop, a swap or a group reads them)

    async def finish_run() -> None:
        if run:
            fresh.update(await _enroll_run(conn, ledger, run, now, pending))
            run.clear()

    for request in batch:
        if request.request_id in seen:
            continue
        seen.add(request.request_id)
        if now > request.deadline:
            await finish_run()
            fresh[request.request_id] = TIMEOUT
        elif request.action == "enroll" and not request.drop_ids:
            run.append(request)  # (a single course or a section group)
        else:
            await finish_run()
            await pending.send(conn)
            fresh[request.request_id] = await _one(conn, ledger, request, now)
    await finish_run()
    seqs = await _record(conn, [r for r in batch if r.request_id in fresh], fresh, now, codes, pending)
    answers = []
    for request in batch:
        if request.request_id in known:
            answers.append(await _places_again(conn, request, known[request.request_id]))
        else:
            answers.append(Decided(request.request_id, fresh[request.request_id], seqs[request.request_id]))
    return answers


async def _places_again(conn: AsyncConnection, request: Queued, decided: Decided) -> Decided:
    """A waitlisted request redelivered: its recorded row keeps no places, so they are read from
    the waitlist as it stands (the first answer's places, or better ones since), and a
    redelivered answer has the shape of the first (`waitlist_position`, and for a group
    `waitlist_positions`, one per section it waits on)."""
    if decided.decision.outcome != "waitlisted":
        return decided
    wanted = list(request.section_ids or (request.course_id,))
    mine = waitlist.alias("mine")
    ahead = (
        select(waitlist.c.course_id, func.count())
        .join(mine, (mine.c.course_id == waitlist.c.course_id) & (mine.c.id >= waitlist.c.id))
        .where(mine.c.student_id == request.student_id, among(conn.dialect, waitlist.c.course_id, wanted))
        .group_by(waitlist.c.course_id)
    )
    position: dict[int, int] = {int(row[0]): int(row[1]) for row in await conn.execute(ahead)}
    places = [{"section_id": i, "position": position[i]} for i in wanted if i in position]
    details: dict[str, Any] = {"waitlist_position": places[0]["position"]} if places else {}
    if request.section_ids:
        details["waitlist_positions"] = places
    return dataclasses.replace(decided, decision=dataclasses.replace(decided.decision, details=details))


async def _one(conn: AsyncConnection, ledger: Ledger, r: Queued, now: float) -> Decision:
    """A drop, a swap or a swap into a section group through the one-at-a-time ledger, isolated by a
    savepoint."""
    try:
        async with conn.begin_nested():
            if r.section_ids:
                who, sections = r.standing, r.section_ids
                return await enroll_group(ledger, conn, r.student_id, who, sections, r.actor, now, drop_ids=r.drop_ids)
            if r.action == "drop":
                return await ledger.drop(conn, r.student_id, r.standing, r.course_id, r.actor, now)
            if r.drop_course_id is None:
                return reject("invalid-swap", "a swap needs drop_course_id")
            return await ledger.swap(conn, r.student_id, r.standing, r.drop_course_id, r.course_id, r.actor, now)
    except IntegrityError as exc:
        return _failed(r, exc)
    except DBAPIError:
        raise  # the database itself failed: the whole batch is retried
    except Exception as exc:
        return _failed(r, exc)


def _failed(r: Queued, exc: Exception) -> Decision:
    """A bug must not block the queue: this request alone is refused, and the error logged."""
    log.exception("a queued request failed", extra={"request_id": r.request_id})
    return reject("ledger-error", f"the ledger could not apply this request ({type(exc).__name__})")


async def _enroll_run(
    conn: AsyncConnection, ledger: Ledger, run: list[Queued], now: float, pending: Inserts
) -> dict[str, Decision]:
    """Decide consecutive enrollments (single courses and section groups) on facts loaded once;
    take their seats, and add their rows to `pending` (the caller sends them)."""
    await pending.send(conn)  # (this run's facts must see the rows of the runs before it)
    rules = ledger.rules()
    await ledger.lock_students(conn, {r.student_id for r in run})
    cohorts: dict[int, Standing | int | None] = {}
    for r in run:
        cohorts.setdefault(r.student_id, r.standing)
    wanted = {course_id for r in run for course_id in _courses_of(r)}
    facts, students, [held] = await ledger.facts(conn, wanted, cohorts, _permits(conn, run))
    granted = {(p.course_id, p.student_id): Permit(p.capacity, p.prerequisites, bool(p.consent)) for p in held}
    current = dict(facts)  # each course as the decisions so far left it
    seats: list[dict[str, Any]] = []
    left_waitlist: list[dict[str, Any]] = []
    joined_waitlist: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    decided: dict[str, Decision] = {}
    for r in run:
        course = current.get(r.course_id)
        if r.section_ids:
            group = _Group(r, students, current, seats, left_waitlist, joined_waitlist)
            decision = group.decide({i: granted.get((i, r.student_id), Permit()) for i in r.section_ids}, rules, now)
        elif course is None:  # (the window first, as admission and the one-at-a-time ledger check it)
            closed = window_decision(students[r.student_id], "enroll", now)
            decision = closed or reject("no-such-course", f"there is no course {r.course_id}")
        else:
            student = students[r.student_id]
            decision = decide_enroll(student, course, granted.get((course.id, r.student_id), Permit()), rules, now)
            if decision.outcome == "accepted":
                seats.append({"course_id": course.id, "student_id": r.student_id, "via_permit": decision.via_permit})
                waiting = course.waitlist_length
                if course.id in student.waitlisted:
                    left_waitlist.append({"c": course.id, "s": r.student_id})
                    waiting -= 1
                current[course.id] = dataclasses.replace(course, taken=course.taken + 1, waitlist_length=waiting)
                students[r.student_id] = dataclasses.replace(
                    student,
                    enrolled=(*student.enrolled, course),
                    waitlisted=student.waitlisted - {course.id},
                )
            elif decision.outcome == "waitlisted":
                current[course.id] = dataclasses.replace(course, waitlist_length=course.waitlist_length + 1)
                joined = {"course_id": course.id, "student_id": r.student_id, "created_at": now, "group_sections": ""}
                joined_waitlist.append(joined)
                students[r.student_id] = dataclasses.replace(student, waitlisted=student.waitlisted | {course.id})
        decided[r.request_id] = decision
        if course is None and not r.section_ids:
            continue  # (no such course: nothing of the ledger's to audit, as one at a time)
        for course_id in _courses_of(r):  # (a group is audited per section, as one at a time)
            audit.append(
                audit_row(
                    r.actor,
                    "enroll",
                    now,
                    student_id=r.student_id,
                    course_id=course_id,
                    outcome=outcome_of(decision),
                    reason=decision.reason,
                )
            )
    await _take_seats(conn, facts, seats)
    pending.add(enrollments, [{**s, "created_at": now} for s in seats])
    if left_waitlist:  # (the rows of runs before it were sent as it began; its own are added after)
        gone = delete(waitlist).where(
            and_(waitlist.c.course_id == bindparam("c"), waitlist.c.student_id == bindparam("s"))
        )
        await conn.execute(gone, left_waitlist)
    pending.add(waitlist, joined_waitlist)
    pending.add(ledger_audit, audit)
    return decided


async def _take_seats(conn: AsyncConnection, facts: dict[int, CourseFacts], seats: list[dict[str, Any]]) -> None:
    """Take the run's seats in one statement, through the seat guard of every path, or fail the batch.

    The counts must still be what this run read: a concurrent change (PostgreSQL, MariaDB)
    rolls the batch back to be retried, instead of deciding on stale counts.
    """
    wanted: dict[int, Seats] = defaultdict(Seats)
    for s in seats:
        cid = s["course_id"]
        before = wanted[cid]
        wanted[cid] = Seats(before.regular + (not s["via_permit"]), before.permitted + s["via_permit"])
    if not await take_seats(conn, wanted, read={cid: facts[cid].taken for cid in wanted}):
        raise RuntimeError(f"seat counts of courses {sorted(wanted)} changed under the batch; retry it")


def _courses_of(r: Queued) -> tuple[int, ...]:
    """The courses an enrollment request names: its course, or each section of its group."""
    return r.section_ids or (r.course_id,)


@dataclass
class _Group:
    """A section group decided inside a run of enrollments: by `rules.decide_group` (as
    `groups.enroll_group` decides it one at a time) on the run's facts as the decisions before
    it left them, which it updates in turn, and whose rows it adds to the run's writes."""

    r: Queued
    students: dict[int, StudentFacts]
    current: dict[int, CourseFacts]
    seats: list[dict[str, Any]]
    left_waitlist: list[dict[str, Any]]
    joined_waitlist: list[dict[str, Any]]

    def decide(self, permits: dict[int, Permit], rules: CourseSettings, now: float) -> Decision:
        r, student = self.r, self.students[self.r.student_id]
        found = {i: self.current[i] for i in r.section_ids if i in self.current}
        if (refused := group_refusal(student, r.section_ids, found, "enroll", now)) is not None:
            return refused
        group = tuple(found[i] for i in r.section_ids)
        decided = decide_group(student, group, permits, rules, now)
        if decided.decision.outcome == "waitlisted":
            for sid in decided.waiting:
                others = group_text([i for i in r.section_ids if i != sid])
                row = {"course_id": sid, "student_id": r.student_id, "created_at": now, "group_sections": others}
                self.joined_waitlist.append(row)
                self._change(sid, waitlist=1)
            self.students[r.student_id] = dataclasses.replace(
                student, waitlisted=student.waitlisted | {*decided.waiting}
            )
        elif decided.decision.outcome == "accepted":  # (holding it, the student leaves the offering's waitlists)
            offering = {sid for sid, _, _ in group[0].offering_sections} | set(r.section_ids)
            for sid in sorted(offering & student.waitlisted):
                self._leave(sid, r.student_id)
            for sid, via_permit in decided.seats.items():
                self.seats.append({"course_id": sid, "student_id": r.student_id, "via_permit": via_permit})
                self._change(sid, taken=1)
            held = tuple(self.current[i] for i in r.section_ids)
            self.students[r.student_id] = dataclasses.replace(
                student, enrolled=(*student.enrolled, *held), waitlisted=student.waitlisted - offering
            )
        return decided.decision

    def _leave(self, course_id: int, student_id: int) -> None:
        """The student leaves a waitlist: a row joined earlier in this run is not written at all
        (the run deletes before it inserts), one from before the run is deleted."""
        joined = [w for w in self.joined_waitlist if (w["course_id"], w["student_id"]) == (course_id, student_id)]
        if joined:
            self.joined_waitlist.remove(joined[0])
        else:
            self.left_waitlist.append({"c": course_id, "s": student_id})
        if course_id in self.current:  # (a section no request of the run names is not loaded)
            self._change(course_id, waitlist=-1)

    def _change(self, course_id: int, taken: int = 0, waitlist: int = 0) -> None:
        course = self.current[course_id]
        self.current[course_id] = dataclasses.replace(
            course, taken=course.taken + taken, waitlist_length=course.waitlist_length + waitlist
        )


def _permits(conn: AsyncConnection, run: list[Queued]) -> Select[Any]:
    """The permits the run's students hold for the run's courses (read with the run's facts)."""
    course_ids = sorted({course_id for r in run for course_id in _courses_of(r)})
    student_ids = sorted({r.student_id for r in run})
    return select(permits).where(
        among(conn.dialect, permits.c.course_id, course_ids), among(conn.dialect, permits.c.student_id, student_ids)
    )


async def _record(
    conn: AsyncConnection,
    requests: list[Queued],
    fresh: dict[str, Decision],
    now: float,
    codes: dict[int, str],
    pending: Inserts,
) -> dict[str, int]:
    """Record each new decision (with its order) and queue each student's notification (one per
    batch); send them with the rows still `pending`, in one statement on PostgreSQL."""
    if not requests:
        await pending.send(conn)
        return {}
    rows = [
        {
            "request_id": r.request_id,
            "student_id": r.student_id,
            "action": r.action,
            "course_id": r.course_id,
            "drop_course_id": r.drop_course_id or (r.drop_ids[0] if r.drop_ids else None),
            "outcome": fresh[r.request_id].outcome,
            "type": fresh[r.request_id].type,
            "reason": fresh[r.request_id].reason[:500],
            "decided_at": now,
        }
        for r in requests
    ]
    pending.add(queue_decisions, rows)
    messages: dict[int, Counter[tuple[str, str]]] = defaultdict(Counter)
    for r in requests:
        d = fresh[r.request_id]
        code = codes.get(r.course_id, f"course {r.course_id}")
        verb = {"enroll": "Enrollment in", "drop": "Dropping", "swap": "Swapping into"}[r.action]
        result = {"accepted": "done", "waitlisted": "on the waitlist", "rejected": "refused"}[d.outcome]
        messages[r.student_id][(f"{verb} {code}: {result}", d.reason or result)] += 1
    pending.add(outbox, outbox_rows([(s, "queue-decision", *coalesced(items)) for s, items in messages.items()], now))
    order = (queue_decisions.c.request_id, queue_decisions.c.seq)
    returning = Returning(queue_decisions, order, queue_decisions.c.request_id, tuple(r.request_id for r in requests))
    return {row.request_id: row.seq for row in await pending.send(conn, returning)}


def coalesced(outcomes: Counter[tuple[str, str]]) -> tuple[str, str]:
    """One message (subject, body) for a student's decisions in a batch: each distinct outcome
    once, with how many requests had it. A student sending many requests gets one message per
    batch, not one per request."""
    if len(outcomes) == 1:
        [((subject, body), count)] = outcomes.items()
        return (subject if count == 1 else f"{subject} ({count} requests)"), body
    lines = [
        (subject if subject.endswith(f": {body}") else f"{subject}: {body}")
        + (f" ({count} requests)" if count > 1 else "")
        for (subject, body), count in outcomes.items()
    ]
    return f"{sum(outcomes.values())} registration requests decided", "\n".join(lines)


async def full_courses(
    conn: AsyncConnection, ledger: Ledger, course_ids: Collection[int]
) -> dict[int, Decision | None]:
    """Each course's refusal as the batch leaves it (None: a student may still get a seat or a
    waitlist place). The queue refuses enrollments at once on it for a moment; a course with
    any capacity permit is never reported full, since its holders may enroll past the limit.
    Three queries (seats, waitlist lengths, capacity permits: a refusal needs no more), in one
    round trip on a server (`select_many`)."""
    ids = sorted(set(course_ids))
    if not ids:
        return {}
    rows, counts, permitted = await select_many(
        conn,
        [
            select(courses.c.id, courses.c.code, courses.c.capacity, courses.c.taken).where(
                among(conn.dialect, courses.c.id, ids)
            ),
            select(waitlist.c.course_id, func.count().label("waiting"))
            .where(among(conn.dialect, waitlist.c.course_id, ids))
            .group_by(waitlist.c.course_id),
            select(permits.c.course_id).where(
                among(conn.dialect, permits.c.course_id, ids), permits.c.capacity.is_(True)
            ),
        ],
    )
    waiting = {w.course_id: w.waiting for w in counts}
    with_permits = {p.course_id for p in permitted}
    rules = ledger.rules()
    return {
        r.id: None
        if r.id in with_permits
        else full_refusal(
            CourseFacts(r.id, r.code, 0, r.capacity, r.taken, (), waitlist_length=waiting.get(r.id, 0)), rules
        )
        for r in rows
    }
