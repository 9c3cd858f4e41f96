"""The ledger's write path: enroll, drop, swap and waitlist promotion.

Every function here runs inside the caller's write transaction (fenced by the master's
epoch): it reads the facts, decides with `rules`, and writes the outcome, so a check
and its write can never be separated. The seat rule is enforced twice: by the decision,
and by the one seat guard of every path (`seats.take_seats`, the same rule as the
database's CHECK constraint).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Select, and_, delete, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cluster.settings import CourseSettings
from services.common.outbox import notify
from services.common.registration import RegistrationWindow, Standing, applicable
from services.course_data.audit import outcome_of, record
from services.course_data.group_seats import SeatTaken, end_enrollment, take_group
from services.course_data.rules import (
    CourseFacts,
    Decision,
    Meeting,
    Permit,
    StudentFacts,
    decide_drop,
    decide_enroll,
    decide_group,
    eligibility,
    part_left_refusal,
    reject,
    window_decision,
)
from services.course_data.seats import Seats, lock_courses, take_seats
from services.course_data.sections import group_of, offerings_ids, sections_dropped_with
from storage.dialects import among, among_written, select_many
from storage.locks import lock_keys
from storage.schemas.course_data import (
    completed_courses,
    consent_courses,
    corequisites,
    course_restrictions,
    courses,
    enrollments,
    holds,
    meetings,
    permits,
    prerequisites,
    terms,
    waitlist,
    windows,
)

_STUDENT_LOCKS = 1  # the key lock namespace of student ids


@dataclass(frozen=True)
class Desk:
    """A registrar acting for a student (services/course_data/desk.py): the rules they named to
    skip (`rules.Override`) and the reason they gave, both written in the audit record."""

    reason: str
    overrides: frozenset[str] = frozenset()


def _skipped(desk: Desk | None) -> frozenset[str]:
    return desk.overrides if desk else frozenset()


def _with_term(query: Select[Any]) -> Select[Any]:
    """`query` over courses, with each course's term's drop deadline (`term_drop_deadline`)."""
    return query.add_columns(terms.c.drop_deadline.label("term_drop_deadline")).join(
        terms, terms.c.id == courses.c.term_id
    )


def _course_columns() -> list[Column[Any]]:
    """A course's columns but its description (text of any length that no rule reads)."""
    return [c for c in courses.c if c.key != "description"]


def _meetings_of(rows: Iterable[Any]) -> dict[int, tuple[Meeting, ...]]:
    found: dict[int, list[Meeting]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.id):
        found[r.course_id].append(Meeting(r.weekday, r.start_minute, r.end_minute))
    return {cid: tuple(times) for cid, times in found.items()}


def _course_queries(dialect: Dialect, ids: list[int]) -> list[Select[Any]]:
    """The queries of `_courses`, in its order: the courses with their term's drop deadline,
    prerequisites, corequisites, restrictions, consent, waitlist lengths, the sections of their
    offerings, meetings."""
    asked = courses.alias("asked")
    return [
        _with_term(select(*_course_columns())).where(among(dialect, courses.c.id, ids)),
        select(prerequisites).where(among(dialect, prerequisites.c.course_id, ids)),
        select(corequisites).where(among(dialect, corequisites.c.course_id, ids)),
        select(course_restrictions).where(among(dialect, course_restrictions.c.course_id, ids)),
        select(consent_courses.c.course_id).where(among(dialect, consent_courses.c.course_id, ids)),
        select(waitlist.c.course_id, func.count().label("waiting"))
        .where(among(dialect, waitlist.c.course_id, ids))
        .group_by(waitlist.c.course_id),
        select(courses.c.id, courses.c.term_id, courses.c.code, courses.c.section, courses.c.kind)
        .join(asked, and_(asked.c.term_id == courses.c.term_id, asked.c.code == courses.c.code))
        .where(among(dialect, asked.c.id, ids, "_asked"))
        .distinct(),
        select(meetings).where(among(dialect, meetings.c.course_id, ids)),
    ]


def _courses(
    rows: list[Any],
    required_rows: list[Any],
    together_rows: list[Any],
    restriction_rows: list[Any],
    consent_rows: list[Any],
    waiting_rows: list[Any],
    section_rows: list[Any],
    meeting_rows: list[Any],
) -> dict[int, CourseFacts]:
    required: dict[int, set[str]] = defaultdict(set)
    for p in required_rows:
        required[p.course_id].add(p.required_code)
    together: dict[int, set[str]] = defaultdict(set)
    for p in together_rows:
        together[p.course_id].add(p.required_code)
    allowed: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for p in restriction_rows:
        allowed[p.course_id][p.kind].add(p.value)
    consent = {c.course_id for c in consent_rows}
    waiting = {w.course_id: w.waiting for w in waiting_rows}
    sections: dict[tuple[int, str], list[tuple[int, str, str]]] = defaultdict(list)
    for s in sorted(section_rows, key=lambda s: s.id):  # (every section of an offering, in id order)
        sections[(s.term_id, s.code)].append((s.id, s.section, s.kind))
    times = _meetings_of(meeting_rows)
    return {
        r.id: CourseFacts(
            r.id,
            r.code,
            r.credits,
            r.capacity,
            r.taken,
            times.get(r.id, ()),
            frozenset(required[r.id]),
            waiting.get(r.id, 0),
            term_id=r.term_id,
            drop_deadline=r.term_drop_deadline,
            corequisites=frozenset(together[r.id]),
            restrictions=tuple((kind, frozenset(values)) for kind, values in sorted(allowed[r.id].items())),
            consent_required=r.id in consent,
            teacher_name=r.teacher_name or "",
            section=r.section,
            kind=r.kind,
            linked_to=r.linked_to,
            offering_sections=tuple(sections.get((r.term_id, r.code), ())),
        )
        for r in rows
    }


def _student_queries(dialect: Dialect, ids: list[int]) -> list[Select[Any]]:
    """The queries of `_students`, in its order: the courses each holds, their meetings, waitlist
    places, completed courses, holds, every window."""
    held = select(enrollments.c.course_id).where(among(dialect, enrollments.c.student_id, ids, "_held"))
    return [
        _with_term(select(*_course_columns(), enrollments.c.student_id.label("enrolled_student")))
        .join(enrollments, enrollments.c.course_id == courses.c.id)
        .where(among(dialect, enrollments.c.student_id, ids)),
        select(meetings).where(meetings.c.course_id.in_(held)),
        select(waitlist.c.student_id, waitlist.c.course_id).where(among(dialect, waitlist.c.student_id, ids)),
        select(completed_courses).where(among(dialect, completed_courses.c.student_id, ids)),
        select(holds).where(among(dialect, holds.c.student_id, ids)),
        select(windows),
    ]


def _students(
    standings: dict[int, Standing],
    enrolled_rows: list[Any],
    meeting_rows: list[Any],
    waiting_rows: list[Any],
    done_rows: list[Any],
    hold_rows: list[Any],
    all_windows: list[Any],
) -> dict[int, StudentFacts]:
    enrolled: dict[int, list[Any]] = defaultdict(list)
    for r in enrolled_rows:
        enrolled[r.enrolled_student].append(r)
    times = _meetings_of(meeting_rows)
    waiting: dict[int, set[int]] = defaultdict(set)
    for w in waiting_rows:
        waiting[w.student_id].add(w.course_id)
    done: dict[int, set[str]] = defaultdict(set)
    for c in done_rows:
        done[c.student_id].add(c.course_code)
    reasons: dict[int, list[str]] = defaultdict(list)
    for h in sorted(hold_rows, key=lambda h: h.id):
        reasons[h.student_id].append(h.reason)
    known = [
        RegistrationWindow(
            w.opens_at,
            w.closes_at,
            w.drop_deadline,
            w.cohort,
            student_id=w.student_id,
            priority_group=w.priority_group,
            term_id=w.term_id,
        )
        for w in all_windows
    ]
    ticketed = {w.student_id for w in known if w.student_id is not None}
    by_audience: dict[tuple[int | None, str | None], tuple[RegistrationWindow, ...]] = {}

    def windows_of(sid: int) -> tuple[RegistrationWindow, ...]:
        who = standings[sid]
        if sid in ticketed:
            return applicable(known, who.cohort, sid, who.priority_group)
        audience = (who.cohort, who.priority_group)
        if audience not in by_audience:  # (a batch has thousands of students and a few cohorts)
            by_audience[audience] = applicable(known, who.cohort, None, who.priority_group)
        return by_audience[audience]

    return {
        sid: StudentFacts(
            sid,
            tuple(
                CourseFacts(
                    r.id,
                    r.code,
                    r.credits,
                    r.capacity,
                    r.taken,
                    times.get(r.id, ()),
                    term_id=r.term_id,
                    drop_deadline=r.term_drop_deadline,
                    section=r.section,
                    kind=r.kind,
                    linked_to=r.linked_to,
                )
                for r in enrolled[sid]
            ),
            frozenset(waiting[sid]),
            frozenset(done[sid]),
            tuple(reasons[sid]),
            windows_of(sid),
            standings[sid],
        )
        for sid in sorted(standings)
    }


class Ledger:
    def __init__(self, rules: Callable[[], CourseSettings]) -> None:
        self.rules = rules

    # facts

    async def course(self, conn: AsyncConnection, course_id: int) -> CourseFacts | None:
        return (await self.courses(conn, [course_id])).get(course_id)

    async def courses(self, conn: AsyncConnection, course_ids: Collection[int]) -> dict[int, CourseFacts]:
        """The facts of the courses that exist among `course_ids` (eight queries whatever their
        number, one round trip on a server: `facts`)."""
        found, _, _ = await self.facts(conn, course_ids, {})
        return found

    async def student(self, conn: AsyncConnection, student_id: int, cohort: Standing | int | None) -> StudentFacts:
        return (await self.students(conn, {student_id: cohort}))[student_id]

    async def students(
        self, conn: AsyncConnection, cohorts: Mapping[int, Standing | int | None]
    ) -> dict[int, StudentFacts]:
        """The facts of each student (id -> their standing, or a bare cohort), in six queries
        whatever their number (one round trip on a server: `facts`)."""
        _, found, _ = await self.facts(conn, (), cohorts)
        return found

    async def facts(
        self,
        conn: AsyncConnection,
        course_ids: Collection[int],
        cohorts: Mapping[int, Standing | int | None],
        *also: Select[Any],
    ) -> tuple[dict[int, CourseFacts], dict[int, StudentFacts], list[list[Any]]]:
        """The facts of the courses among `course_ids` that exist and of each student (id -> their
        standing, or a bare cohort), and the rows of each query in `also`: on PostgreSQL and
        MariaDB every query in one round trip (`select_many`; measured, issue 14: a batch's
        facts were 15 round trips, each a wait for the server on a loaded machine)."""
        ids = sorted(set(course_ids))
        sids = sorted(cohorts)
        course_queries = _course_queries(conn.dialect, ids) if ids else []
        student_queries = _student_queries(conn.dialect, sids) if sids else []
        rows = await select_many(conn, [*course_queries, *student_queries, *also])
        n, m = len(course_queries), len(course_queries) + len(student_queries)
        found = _courses(*rows[:n]) if ids else {}
        students = _students({sid: Standing.of(cohorts[sid]) for sid in sids}, *rows[n:m]) if sids else {}
        return found, students, rows[m:]

    async def permit(self, conn: AsyncConnection, course_id: int, student_id: int) -> Permit:
        row = (
            await conn.execute(
                select(permits).where(permits.c.course_id == course_id, permits.c.student_id == student_id)
            )
        ).first()
        return Permit(row.capacity, row.prerequisites, bool(row.consent)) if row else Permit()

    # writes

    async def _lock_student(self, conn: AsyncConnection, student_id: int) -> None:
        await self.lock_students(conn, [student_id])

    async def lock_students(self, conn: AsyncConnection, student_ids: Collection[int]) -> None:
        """SQLite's BEGIN IMMEDIATE already serializes writers; PostgreSQL and MySQL need a lock so
        two requests of one student (credit limit, time conflicts) cannot interleave. All of them
        in one statement, in id order, so two transactions locking several students cannot deadlock."""
        await lock_keys(conn, _STUDENT_LOCKS, student_ids)

    async def _audit(
        self,
        conn: AsyncConnection,
        actor: str,
        action: str,
        student_id: int,
        course_id: int,
        d: Decision,
        now: float,
        desk: Desk | None = None,
    ) -> None:
        await record(
            conn,
            actor,
            action,
            now,
            student_id=student_id,
            course_id=course_id,
            outcome=outcome_of(d),
            reason=desk.reason if desk else d.reason,
            overrides=",".join(sorted(desk.overrides)) if desk else "",
        )

    async def _take_seat(
        self, conn: AsyncConnection, course_id: int, student_id: int, via_permit: bool, now: float
    ) -> bool:
        seat = Seats(permitted=1) if via_permit else Seats(regular=1)
        if not await take_seats(conn, {course_id: seat}):
            return False
        await conn.execute(
            enrollments.insert().values(
                course_id=course_id, student_id=student_id, via_permit=via_permit, created_at=now
            )
        )
        await conn.execute(
            delete(waitlist).where(waitlist.c.course_id == course_id, waitlist.c.student_id == student_id)
        )
        return True

    async def enroll(
        self,
        conn: AsyncConnection,
        student_id: int,
        cohort: Standing | int | None,
        course_id: int,
        actor: str,
        now: float,
        desk: Desk | None = None,
    ) -> Decision:
        await self._lock_student(conn, student_id)
        student = await self.student(conn, student_id, cohort)
        course = await self.course(conn, course_id)
        if course is None:  # (the window is checked first, as admission checks it)
            return window_decision(student, "enroll", now, overrides=_skipped(desk)) or reject(
                "no-such-course", f"there is no course {course_id}"
            )
        permit = await self.permit(conn, course_id, student_id)
        decision = decide_enroll(student, course, permit, self.rules(), now, overrides=_skipped(desk))
        if decision.outcome == "accepted" and not await self._take_seat(
            conn, course_id, student_id, decision.via_permit, now
        ):
            decision = reject("course-full", f"{course.code} is full")  # the guard caught what the check missed
        elif decision.outcome == "waitlisted":
            await conn.execute(waitlist.insert().values(course_id=course_id, student_id=student_id, created_at=now))
        await self._audit(conn, actor, "enroll", student_id, course_id, decision, now, desk)
        return decision

    async def drop(
        self,
        conn: AsyncConnection,
        student_id: int,
        cohort: Standing | int | None,
        course_id: int,
        actor: str,
        now: float,
        desk: Desk | None = None,
    ) -> Decision:
        await self._lock_student(conn, student_id)
        student = await self.student(conn, student_id, cohort)
        decision = decide_drop(student, course_id, now, _skipped(desk))
        if decision.ok:
            await self.lock_releasing(conn, student_id, [course_id])
            given_up = [course_id, *sections_dropped_with(student.enrolled, course_id)]  # (its offering's sections)
            for section_id in given_up:
                await self._release(conn, student, section_id, now, actor, promote=False)
                if section_id != course_id:
                    await self._audit(conn, actor, "drop", student_id, section_id, decision, now, desk)
            if any(c.id == course_id for c in student.enrolled):
                await self.promote_many(conn, given_up, actor, now)  # (once every seat given up is free)
            await self.promote_waiting(conn, student_id, actor, now)
        await self._audit(conn, actor, "drop", student_id, course_id, decision, now, desk)
        return decision

    async def remove(
        self, conn: AsyncConnection, student_id: int, course_id: int, actor: str, reason: str, now: float
    ) -> bool:
        """Take a student out of a course whatever the deadlines (a teacher or an admin)."""
        await self._lock_student(conn, student_id)  # (the waitlists `lock_releasing` reads stay as read)
        student = await self.student(conn, student_id, None)
        if not any(c.id == course_id for c in student.enrolled):
            return False
        code = next(c.code for c in student.enrolled if c.id == course_id)
        await self.lock_releasing(conn, student_id, [course_id])
        await self._release(conn, student, course_id, now, actor)
        await self.promote_waiting(conn, student_id, actor, now)
        await self._audit(conn, actor, "remove", student_id, course_id, Decision("accepted", reason=reason), now)
        await notify(
            conn,
            student_id,
            "removal",
            f"You were removed from {code}",
            f"{actor} removed you from {code}. The reason given: {reason}",
            now,
        )
        return True

    async def _release(
        self, conn: AsyncConnection, student: StudentFacts, course_id: int, now: float, actor: str, promote: bool = True
    ) -> None:
        if any(c.id == course_id for c in student.enrolled):
            await self._end_enrollment(conn, course_id, student.id)
            if promote:
                await self.promote(conn, course_id, actor, now)
        else:  # leaving a waitlist: a section group's rows go together
            mine = (waitlist.c.course_id == course_id) & (waitlist.c.student_id == student.id)
            others = group_of((await conn.execute(select(waitlist.c.group_sections).where(mine))).scalar() or "")
            await conn.execute(
                delete(waitlist).where(
                    waitlist.c.student_id == student.id,
                    among_written(conn.dialect, waitlist.c.course_id, [course_id, *others]),
                )
            )

    async def _end_enrollment(self, conn: AsyncConnection, course_id: int, student_id: int) -> None:
        await end_enrollment(conn, course_id, student_id)

    async def swap(
        self,
        conn: AsyncConnection,
        student_id: int,
        cohort: Standing | int | None,
        drop_id: int,
        add_id: int,
        actor: str,
        now: float,
        desk: Desk | None = None,
    ) -> Decision:
        """Drop `drop_id` only if `add_id` is accepted, both in this one transaction."""
        await self._lock_student(conn, student_id)
        student = await self.student(conn, student_id, cohort)
        add = await self.course(conn, add_id)
        term = add.term_id if add else None
        if (closed := window_decision(student, "swap", now, None, _skipped(desk), term)) is not None:
            decision = closed  # before any other rule, as admission checks it
        elif add is None:
            decision = reject("no-such-course", f"there is no course {add_id}")
        elif drop_id == add_id:
            decision = reject("invalid-swap", "the two courses must differ")
        elif not any(c.id == drop_id for c in student.enrolled):
            decision = reject("not-enrolled", "you are not enrolled in the course to drop")
        elif not (dropping := decide_drop(student, drop_id, now, _skipped(desk))).ok:
            decision = dropping
        elif (partly := part_left_refusal(student, frozenset({drop_id}), (add,))) is not None:
            decision = partly  # (a section of an offering given up for another course)
        else:
            permit = await self.permit(conn, add_id, student_id)
            decision = decide_enroll(student, add, permit, self.rules(), now, frozenset({drop_id}), _skipped(desk))
            if decision.outcome == "waitlisted":
                decision = reject("course-full", f"{add.code} is full: nothing was changed")
            if decision.outcome == "accepted":
                await self.lock_releasing(conn, student_id, [add_id, drop_id])
                await self._end_enrollment(conn, drop_id, student_id)
                if not await self._take_seat(conn, add_id, student_id, decision.via_permit, now):
                    raise RuntimeError("seat guard refused a checked swap")  # rolls the drop back too
                await self.promote(conn, drop_id, actor, now)
                await self.promote_waiting(conn, student_id, actor, now)
        await self._audit(conn, actor, "swap", student_id, add_id, decision, now, desk)
        return decision

    async def lock_releasing(self, conn: AsyncConnection, student_id: int, course_ids: Iterable[int]) -> None:
        """Lock, before any seat moves, every course row a release of `course_ids` by the student
        (a drop, a swap, a removal) may change: their offerings' sections (promotion may take a
        waiting group whole) and those of every course the student waits for (`promote_waiting`
        may then take a seat there). Taken in one statement, in id order: two releases reaching
        each other's offerings (each student waiting for what the other gives up) cannot deadlock."""
        waited = (await conn.execute(select(waitlist.c.course_id).where(waitlist.c.student_id == student_id))).scalars()
        await lock_courses(conn, await offerings_ids(conn, {*course_ids, *waited}))

    async def promote_waiting(self, conn: AsyncConnection, student_id: int, actor: str, now: float) -> None:
        """After a student gave something up, they may now fit a course they wait for that has a free
        seat: serve those waitlists again (in order, so nobody ahead of them is skipped)."""
        waiting = (
            (await conn.execute(select(waitlist.c.course_id).where(waitlist.c.student_id == student_id)))
            .scalars()
            .all()
        )
        for course_id in waiting:
            await self.promote(conn, course_id, actor, now)

    async def promote(self, conn: AsyncConnection, course_id: int, actor: str, now: float) -> list[int]:
        """Fill free seats from the waitlists of `course_id`'s offering (`promote_many`)."""
        return await self.promote_many(conn, [course_id], actor, now)

    async def promote_many(
        self, conn: AsyncConnection, course_ids: Collection[int], actor: str, now: float
    ) -> list[int]:
        """Fill the free seats of `course_ids` and of the other sections of their offerings (a
        group waiting on one of them may have needed this seat) from their waitlists, with the
        students still eligible; the students promoted are returned, in order.

        Every waitlist of those sections is served in one order, the order students joined them
        (waitlist id): when a drop frees a lecture and its lab at once, a group that waited
        earlier for the lab alone is served before a later group waiting for both, so each
        section stays first come, first served."""
        sections = list(dict.fromkeys([*course_ids, *await offerings_ids(conn, course_ids)]))
        promoted: list[int] = []
        refused: set[tuple[int, int]] = set()
        while (student_id := await self._promote_next(conn, sections, refused, actor, now)) is not None:
            promoted.append(student_id)
        return promoted

    async def _promote_next(
        self, conn: AsyncConnection, sections: list[int], refused: set[tuple[int, int]], actor: str, now: float
    ) -> int | None:
        """Promote the earliest waiting student of `sections` who can take a free seat now, and
        answer who; None when nobody can (every free seat's candidates are refused or wait on
        another, full, section). `refused` (course, student) keeps the candidates already refused
        in this promotion, who are not tried again: a promotion only takes seats, so one refused
        stays refused until it ends (the work stays linear in the waitlists' length)."""
        found = await self.courses(conn, sections)
        free = [i for i in sections if i in found and found[i].taken < found[i].capacity]
        if not free:
            return None
        queue = (
            await conn.execute(
                select(waitlist.c.course_id, waitlist.c.student_id, waitlist.c.group_sections)
                .where(among(conn.dialect, waitlist.c.course_id, free))
                .order_by(waitlist.c.id)
            )
        ).all()
        tried: set[int] = set()  # (a group waiting on two free sections is tried once)
        for course_id, student_id, group_sections in queue:
            course = found[course_id]
            if (course_id, student_id) in refused:
                continue
            if group_sections:  # a section group: taken whole, or it keeps waiting
                if student_id not in tried:
                    tried.add(student_id)
                    if await self._promote_group(conn, course, student_id, group_of(group_sections), actor, now):
                        return int(student_id)
                refused.add((course_id, student_id))
                continue
            student = await self.student(conn, student_id, None)
            permit = await self.permit(conn, course_id, student_id)
            # The window and the restrictions were checked when the student joined the waitlist
            # (a waiting student's standing is not at hand here: it travels with requests).
            met = frozenset({"restrictions"})
            if eligibility(
                student, course, permit, self.rules(), now, check_window=False, overrides=met
            ) is None and await self._take_seat(conn, course_id, student_id, False, now):
                await self._promoted(conn, actor, student_id, [course], now)
                return int(student_id)
            refused.add((course_id, student_id))
        return None

    async def _promote_group(
        self, conn: AsyncConnection, course: CourseFacts, student_id: int, others: list[int], actor: str, now: float
    ) -> bool:
        """Take the waiting group (`course` and `others`) whole, through the same rule
        (`decide_group`, promoting) and the same guarded write (`take_group`) as an enrollment,
        inside a savepoint; False, nothing changed, while a section is full or a rule refuses."""
        ids = [course.id, *others]
        found = await self.courses(conn, ids)
        if len(found) != len(ids):
            return False  # (a section of it was deleted: it cannot be taken)
        student = await self.student(conn, student_id, None)
        group = tuple(found[i] for i in ids)
        permits = {i: await self.permit(conn, i, student_id) for i in ids}
        decided = decide_group(student, group, permits, self.rules(), now, promoting=True)
        if decided.decision.outcome != "accepted":
            return False
        offering = [sid for sid, _, _ in course.offering_sections]
        try:
            async with conn.begin_nested():
                await take_group(conn, student_id, decided.seats, (), now, offering)
        except (SeatTaken, IntegrityError):  # (a concurrent, unfenced promotion took it first)
            return False
        await self._promoted(conn, actor, student_id, list(group), now)
        return True

    async def _promoted(
        self, conn: AsyncConnection, actor: str, student_id: int, taken: list[CourseFacts], now: float
    ) -> None:
        """Audit each course taken from the waitlist and tell the student once."""
        for course in taken:
            await self._audit(
                conn, actor, "promote", student_id, course.id, Decision("accepted", reason="from the waitlist"), now
            )
        labels = " + ".join(c.label for c in taken)
        await notify(
            conn,
            student_id,
            "waitlist-promotion",
            f"You are enrolled in {labels}",
            f"A seat in {labels} became free and you were next on its waitlist: "
            "you are now enrolled. Drop it before the deadline if you no longer want it.",
            now,
        )
