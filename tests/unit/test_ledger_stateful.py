"""The ledger under random operations, with its invariants checked after every step.

Real SQLite transactions through the real `Ledger`; the operations are what students,
teachers and admins do: enroll, drop, swap, capacity change, permit, window change. The
catalogue spans two terms (C6, which meets with C1, is the next term's), so a student holds
courses of both and the limits are checked per term. S1 is an offering of four sections (two
lectures, two labs, lab B01 linked to lecture L01): it is taken one lecture and one lab
together (a section group), swapped section to section, and dropped whole; a group with a
full section waits on the full sections' waitlists and is promoted whole, or not at all.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import itertools
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cluster.settings import CourseSettings
from services.course_data.groups import enroll_group
from services.course_data.ledger import Ledger
from services.course_data.rules import decide_group, eligibility
from services.course_data.sections import group_of
from storage.database import Database
from storage.migrations import migrate
from storage.schemas.core import MIGRATIONS as CORE
from storage.schemas.core import outbox
from storage.schemas.course_data import (
    MIGRATIONS,
    completed_courses,
    courses,
    enrollments,
    meetings,
    permits,
    prerequisites,
    terms,
    waitlist,
    windows,
)
from storage.schemas.course_data import (
    metadata as course_metadata,
)

RULES = CourseSettings(max_credits=8, max_courses=3, waitlist_max_length=2)
STUDENTS = st.integers(min_value=1, max_value=3)  # few students: they meet in the same courses
TERMS = (1, 2)  # the default term and the next one
# (code, credits, capacity, meetings (weekday, start, end), prerequisites, term)
CATALOGUE = [
    ("C1", 3, 2, [(0, 540, 600)], [], 1),
    ("C2", 3, 1, [(0, 570, 630)], [], 1),  # clashes with C1
    ("C3", 2, 2, [(1, 540, 600)], ["C9"], 1),  # needs a course only students 1 and 2 completed
    ("C4", 4, 1, [(2, 540, 600), (3, 540, 600)], [], 1),
    ("C5", 1, 0, [(4, 540, 600)], [], 1),  # no seats at all: waitlist or permit only
    ("C6", 3, 2, [(0, 540, 600)], [], 2),  # the next term's: meets with C1, and both may be held
    ("S1", 3, 2, [(1, 780, 840)], [], 1),  # 7: S1's lecture L01
    ("S1", 3, 1, [(2, 780, 840)], [], 1),  # 8: lecture L02
    ("S1", 3, 1, [(3, 780, 840)], [], 1),  # 9: lab B01, taken only with L01
    ("S1", 3, 2, [(0, 570, 630)], [], 1),  # 10: lab B02 (clashes with C1)
]
# Course id -> (section, kind, linked_to); the other courses are single sections (lectures).
SECTIONS = {7: ("L01", "lecture", None), 8: ("L02", "lecture", None), 9: ("B01", "lab", 7), 10: ("B02", "lab", None)}
LECTURES, LABS = st.sampled_from([7, 8]), st.sampled_from([9, 10])
COURSES = st.integers(min_value=1, max_value=len(CATALOGUE))


async def empty(conn: AsyncConnection) -> None:
    """Delete every row of the ledger's tables (children first)."""
    for table in (*reversed(course_metadata.sorted_tables), outbox):
        await conn.execute(table.delete())


@functools.cache
def migrated_sqlite() -> Path:
    """A SQLite file with every migration of the ledger applied and its tables emptied, made once
    per test process and copied by each machine: migrating a new file costs ~0.1 s, a copy ~1 ms
    (the machines' `_setup` still runs `migrate` on it, which finds nothing to do)."""
    folder = Path(tempfile.mkdtemp(prefix="ledger-template-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "ledger.db"

    async def make() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate(db, (*CORE, *MIGRATIONS))
            async with db.write() as conn:
                await empty(conn)
        finally:
            await db.close()

    asyncio.run(make())
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file (each copy is WAL again when opened)
    return path


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def open_ledger(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="ledger-"))
        shutil.copyfile(migrated_sqlite(), folder / "ledger.db")
        self.open_ledger_at(f"sqlite+aiosqlite:///{folder / 'ledger.db'}", folder, emptied=True)

    def open_ledger_at(self, url: str, folder: Path | None = None, emptied: bool = False) -> None:
        """The catalogue in the database at `url`, emptied first (a server's database is reused)
        unless `emptied` says it is (a copy of `migrated_sqlite`)."""
        self.loop = asyncio.new_event_loop()
        self.folder = folder
        self.db = Database(url)
        self.ledger = Ledger(lambda: RULES)
        self.now = time.time()
        self.run(self._setup(emptied))

    async def _setup(self, emptied: bool = False) -> None:
        await migrate(self.db, (*CORE, *MIGRATIONS))
        now = self.now
        rows: dict[Table, list[dict[str, object]]] = {
            terms: [
                {"id": t, "code": f"term-{t}", "is_current": t == 1, "created_at": now, "updated_at": now}
                for t in TERMS
            ],
            courses: [],
            meetings: [],
            prerequisites: [],
            completed_courses: [{"student_id": student, "course_code": "C9"} for student in (1, 2)],
            windows: [
                {"term_id": t, "opens_at": now - 60, "closes_at": now + 3600, "drop_deadline": now + 3600}
                for t in TERMS
            ],
        }
        for course_id, (code, credits, capacity, times, needs, term) in enumerate(CATALOGUE, start=1):
            section, kind, linked_to = SECTIONS.get(course_id, ("", "lecture", None))
            rows[courses].append(
                {
                    "id": course_id,
                    "term_id": term,
                    "code": code,
                    "title": code,
                    "credits": credits,
                    "capacity": capacity,
                    "taken": 0,
                    "updated_at": now,
                    "section": section,
                    "kind": kind,
                    "linked_to": linked_to,
                }
            )
            rows[meetings] += [
                {"course_id": course_id, "weekday": day, "start_minute": start, "end_minute": end}
                for day, start, end in times
            ]
            rows[prerequisites] += [{"course_id": course_id, "required_code": needed} for needed in needs]
        async with self.db.write() as conn:
            if not emptied:
                await empty(conn)
            for table, values in rows.items():  # (one statement per table: parents first)
                await conn.execute(table.insert(), values)

    def run(self, coroutine: object) -> object:
        return self.loop.run_until_complete(coroutine)  # type: ignore[arg-type]

    def teardown(self) -> None:
        if hasattr(self, "db"):
            self.run(self.db.close())
            self.loop.close()
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)

    async def _write(self, action: str, *args: int) -> None:
        async with self.db.write() as conn:
            if action == "enroll":
                await self.ledger.enroll(conn, args[0], None, args[1], "test", self.now)
            elif action == "drop":
                await self.ledger.drop(conn, args[0], None, args[1], "test", self.now)
            else:
                await self.ledger.swap(conn, args[0], None, args[1], args[2], "test", self.now)

    @rule(student=STUDENTS, wanted=st.lists(COURSES, min_size=1, max_size=4))
    def enroll(self, student: int, wanted: list[int]) -> None:
        for course in wanted:
            self.run(self._write("enroll", student, course))

    async def _group(self, student: int, sections: list[int], drop: tuple[int, ...] = ()) -> None:
        async with self.db.write() as conn:
            await enroll_group(self.ledger, conn, student, None, sections, "test", self.now, drop_ids=drop)

    @rule(student=STUDENTS, lecture=LECTURES, lab=LABS, alone=st.booleans())
    def enroll_sections(self, student: int, lecture: int, lab: int, alone: bool) -> None:
        """A lecture with a lab, together (or, refused, one section alone)."""
        self.run(self._group(student, [lecture] if alone else [lecture, lab]))

    @rule(student=STUDENTS, lecture=LECTURES, lab=LABS)
    def swap_sections(self, student: int, lecture: int, lab: int) -> None:
        """Give up whatever sections of S1 the student holds for another lecture and lab."""

        async def held() -> list[int]:
            async with self.db.read() as conn:
                query = select(enrollments.c.course_id).where(
                    enrollments.c.student_id == student, enrollments.c.course_id.in_(SECTIONS)
                )
                return list((await conn.execute(query)).scalars())

        mine = self.run(held())
        assert isinstance(mine, list)
        if mine:
            self.run(self._group(student, [lecture, lab], tuple(sorted(mine))))

    @rule(holder=STUDENTS, other=STUDENTS, lecture=LECTURES, lab=LABS, give_up=st.sampled_from(["lecture", "lab"]))
    def compete_for_a_group(self, holder: int, other: int, lecture: int, lab: int, give_up: str) -> None:
        """Two students want one group, then the first gives up one of its sections (so the
        whole group): the second, waiting for it, must get the whole group or keep waiting."""
        self.run(self._group(holder, [lecture, lab]))
        self.run(self._group(other, [lecture, lab]))
        self.run(self._write("drop", holder, lecture if give_up == "lecture" else lab))

    @rule(student=STUDENTS, which=st.integers(min_value=0, max_value=1))
    def leave_a_waiting_group(self, student: int, which: int) -> None:
        """Leave the waitlist of one section a group waits on: the group's rows go together."""
        waiting = [w for w in self._waiting_rows() if w.student_id == student and w.course_id in SECTIONS]
        if waiting:
            self.run(self._write("drop", student, waiting[which % len(waiting)].course_id))
            assert not [w for w in self._waiting_rows() if w.student_id == student and w.course_id in SECTIONS]

    def _waiting_rows(self) -> list[Any]:
        state = self.run(self._state())
        assert isinstance(state, dict)
        return list(state["waitlist"])

    @rule(student=STUDENTS, course=COURSES)
    def drop(self, student: int, course: int) -> None:
        self.run(self._write("drop", student, course))

    @rule(course=COURSES, holder=STUDENTS, other=STUDENTS)
    def compete_for_a_seat(self, course: int, holder: int, other: int) -> None:
        """Two students want one course, then the first gives it up: the waitlist must move."""
        self.run(self._write("enroll", holder, course))
        self.run(self._write("enroll", other, course))
        self.run(self._write("drop", holder, course))

    @rule(student=STUDENTS, which=st.integers(min_value=0, max_value=3))
    def drop_one_of_mine(self, student: int, which: int) -> None:
        """Drop a course the student really holds: frees seats, so the waitlist moves."""

        async def mine() -> list[int]:
            async with self.db.read() as conn:
                rows = await conn.execute(
                    select(enrollments.c.course_id)
                    .where(enrollments.c.student_id == student)
                    .order_by(enrollments.c.id)
                )
                return list(rows.scalars())

        held = self.run(mine())
        assert isinstance(held, list)
        if held:
            self.run(self._write("drop", student, held[which % len(held)]))

    @rule(student=STUDENTS, give=COURSES, take=COURSES)
    def swap(self, student: int, give: int, take: int) -> None:
        self.run(self._write("swap", student, give, take))

    @rule(course=COURSES, capacity=st.integers(min_value=0, max_value=4))
    def change_capacity(self, course: int, capacity: int) -> None:
        async def change() -> None:
            async with self.db.write() as conn:
                taken = (await conn.execute(select(courses.c.taken).where(courses.c.id == course))).scalar_one()
                if capacity < taken:
                    return  # refused: never below seats taken
                await conn.execute(update(courses).where(courses.c.id == course).values(capacity=capacity))
                await self.ledger.promote(conn, course, "test", self.now)

        self.run(change())

    @rule(course=COURSES, student=STUDENTS, capacity=st.booleans(), prereq=st.booleans())
    def grant_permit(self, course: int, student: int, capacity: bool, prereq: bool) -> None:
        async def grant() -> None:
            async with self.db.write() as conn:
                await conn.execute(
                    permits.delete().where(permits.c.course_id == course, permits.c.student_id == student)
                )
                await conn.execute(
                    permits.insert().values(
                        course_id=course,
                        student_id=student,
                        capacity=capacity,
                        prerequisites=prereq,
                        created_by="teacher",
                        created_at=self.now,
                    )
                )
                await self.ledger.promote(conn, course, "teacher", self.now)  # as the permit endpoint does

        self.run(grant())

    @rule(open_=st.sampled_from([True, True, True, False]))  # mostly open: closed, nothing moves
    def change_window(self, open_: bool) -> None:
        async def change() -> None:
            async with self.db.write() as conn:
                closes = self.now + 3600 if open_ else self.now - 1
                await conn.execute(update(windows).values(closes_at=closes, drop_deadline=closes))

        self.run(change())

    async def _state(self) -> dict[str, object]:
        async with self.db.read() as conn:
            return {
                "courses": (await conn.execute(select(courses))).all(),
                "enrollments": (await conn.execute(select(enrollments))).all(),
                "waitlist": (await conn.execute(select(waitlist).order_by(waitlist.c.id))).all(),
            }

    @invariant()
    def seats_add_up_and_nothing_is_oversold(self) -> None:
        state = self.run(self._state())
        assert isinstance(state, dict)
        counts = Counter(e.course_id for e in state["enrollments"])
        via_permit = Counter(e.course_id for e in state["enrollments"] if e.via_permit)
        for course in state["courses"]:
            assert course.taken == counts[course.id], course.code
            assert course.taken - via_permit[course.id] <= course.capacity, course.code
        pairs = [(e.course_id, e.student_id) for e in state["enrollments"]]
        assert len(pairs) == len(set(pairs))
        waiting = {(w.course_id, w.student_id) for w in state["waitlist"]}
        assert not waiting & set(pairs)  # never both enrolled and waiting
        assert all(c <= RULES.waitlist_max_length for c in Counter(w.course_id for w in state["waitlist"]).values())

    @invariant()
    def every_student_keeps_within_the_rules(self) -> None:
        async def check() -> None:
            async with self.db.read() as conn:
                facts = await self.ledger.students(conn, dict.fromkeys(range(1, 4)))  # (each as `student` says)
                for student_id, term in itertools.product(range(1, 4), TERMS):
                    held = facts[student_id].enrolled_in_term(term)
                    offerings = {c.code: c.credits for c in held}  # (an offering counts once)
                    assert len(offerings) <= RULES.max_courses
                    assert sum(offerings.values()) <= RULES.max_credits
                    sections = sorted(c.id for c in held if c.id in SECTIONS)
                    kinds = [SECTIONS[i][1] for i in sections]
                    assert not sections or sorted(kinds) == ["lab", "lecture"], (student_id, sections)
                    assert 9 not in sections or 7 in sections, (student_id, sections)  # B01 only with L01
                    for i, a in enumerate(held):
                        for b in held[i + 1 :]:
                            assert not any(m.overlaps(n) for m in a.meetings for n in b.meetings), (a.code, b.code)

        self.run(check())

    @invariant()
    def no_free_seat_while_an_eligible_student_waits(self) -> None:
        """Promotion happened wherever it could: the waitlist is served in order of the eligible."""

        async def check() -> None:
            async with self.db.read() as conn:
                catalogue = await self.ledger.courses(conn, range(1, len(CATALOGUE) + 1))  # (each as `course` says)
                for course_id in range(1, len(CATALOGUE) + 1):
                    course = catalogue.get(course_id)
                    assert course is not None
                    if course.taken >= course.capacity:
                        continue
                    waiting = (
                        await conn.execute(select(waitlist.c.student_id).where(waitlist.c.course_id == course_id))
                    ).scalars()
                    for student_id in waiting:
                        student = await self.ledger.student(conn, student_id, None)
                        permit = await self.ledger.permit(conn, course_id, student_id)
                        refused = eligibility(student, course, permit, RULES, self.now, check_window=False)
                        assert refused is not None, f"student {student_id} waits for {course.code} with a seat free"

        self.run(check())

    @invariant()
    def a_waiting_group_is_taken_whole_or_keeps_waiting(self) -> None:
        """A group waits only while it cannot be taken: its student holds no section of the
        offering, its rows name one group, and not every section of it has a seat it may take."""

        async def check() -> None:
            async with self.db.read() as conn:
                rows = (await conn.execute(select(waitlist).where(waitlist.c.course_id.in_(SECTIONS)))).all()
                groups: dict[int, set[frozenset[int]]] = {}
                for row in rows:
                    group = frozenset([row.course_id, *group_of(row.group_sections)])
                    groups.setdefault(row.student_id, set()).add(group)
                for student_id, named in groups.items():
                    assert len(named) == 1, (student_id, named)  # one group per offering, all its rows
                    student = await self.ledger.student(conn, student_id, None)
                    assert not {c.id for c in student.enrolled} & set(SECTIONS), student_id  # whole or nothing
                    [ids] = named
                    found = await self.ledger.courses(conn, ids)
                    permits = {i: await self.ledger.permit(conn, i, student_id) for i in ids}
                    wanted = tuple(found[i] for i in sorted(ids))
                    decided = decide_group(student, wanted, permits, RULES, self.now, promoting=True)
                    assert decided.decision.outcome != "accepted", f"student {student_id} waits for {sorted(ids)}"

        self.run(check())


# 15 runs of 25 steps per CI run (each run draws new ones).
LedgerMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=25, deadline=None)
TestLedger = LedgerMachine.TestCase
