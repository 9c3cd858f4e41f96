"""Concurrent enrollments through the real ledger, each in its own write transaction, on every database.

On SQLite `BEGIN IMMEDIATE` serializes them; on PostgreSQL and MariaDB they really run at
once (READ COMMITTED), so the seat guard and the students' key locks must hold.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.course_data.groups import enroll_group
from services.course_data.rules import Decision
from storage.schemas.course_data import courses, enrollments, waitlist
from tests.databases import KINDS, new_database
from tests.unit.test_ledger_stateful import LedgerMachine


@pytest.fixture(params=KINDS)
def machine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerMachine]:
    made = LedgerMachine()
    made.open_ledger_at(asyncio.run(new_database(request, request.param, tmp_path)))
    yield made
    made.teardown()


def enroll_all(machine: LedgerMachine, wanted: list[tuple[int, int]]) -> list[Decision]:
    """Every (student, course) enrollment at once; each one its own transaction."""

    async def one(student: int, course: int) -> Decision:
        async with machine.db.write() as conn:
            return await machine.ledger.enroll(conn, student, None, course, "test", machine.now)

    async def run() -> list[Decision]:
        return list(await asyncio.gather(*(one(s, c) for s, c in wanted)))

    result = machine.run(run())
    assert isinstance(result, list)
    return result


def rows(machine: LedgerMachine, statement: Any) -> list[Any]:
    async def read() -> list[Any]:
        async with machine.db.read() as conn:
            return list((await conn.execute(statement)).all())

    result = machine.run(read())
    assert isinstance(result, list)
    return result


def test_many_students_into_few_seats_never_oversell(machine: LedgerMachine) -> None:
    """40 students want C1 (2 seats) at once: exactly 2 get a seat, the others wait or are refused.

    (How many wait is not guarded in the data: unfenced writes at once may pass the waitlist's
    length on PostgreSQL and MariaDB. The services' writes are fenced, which serializes them.)
    """
    decisions = enroll_all(machine, [(student, 1) for student in range(10, 50)])
    assert [d.outcome for d in decisions].count("accepted") == 2
    assert {d.outcome for d in decisions} == {"accepted", "waitlisted", "rejected"}
    assert rows(machine, select(courses.c.taken).where(courses.c.id == 1)) == [(2,)]
    assert len(rows(machine, select(enrollments).where(enrollments.c.course_id == 1))) == 2


def test_one_students_requests_at_once_are_decided_one_after_the_other(machine: LedgerMachine) -> None:
    """Each of three students asks for C1, C2 (clashes with C1) and C4, each twice, all at once.

    Decided together on the same facts, both clashing courses (or one course twice) would be
    granted: the student's lock makes each request see the ones before it.
    """
    wanted = [(student, course) for _ in range(2) for student in (1, 2, 3) for course in (1, 2, 4)]
    decisions = enroll_all(machine, wanted)
    held = rows(machine, select(enrollments.c.student_id, enrollments.c.course_id))
    for student in (1, 2, 3):
        mine = sorted(c for s, c in held if s == student)
        assert len(mine) == len(set(mine))
        assert not {1, 2} <= set(mine), f"student {student} holds two clashing courses"
    assert sum(d.outcome == "accepted" for d in decisions) == len(held)
    for course_id, capacity in ((1, 2), (2, 1), (4, 1)):
        taken = rows(machine, select(courses.c.taken).where(courses.c.id == course_id))[0][0]
        assert taken == sum(c == course_id for _, c in held) <= capacity


def test_many_section_groups_at_once_never_oversell_a_section(machine: LedgerMachine) -> None:
    """30 students each want S1's lecture L01 or L02 with lab B01 or B02, all at once; then the
    first holders drop while more students ask for groups (a drop promotes waiting groups), all
    at once again: no section is oversold, every student holds a whole group (a lecture and a
    lab) or nothing, and no one both holds a section of S1 and waits for one."""
    groups = [(student, [7 + student % 2, 9 + (student // 2) % 2]) for student in range(10, 40)]

    async def one(student: int, sections: list[int]) -> Decision:
        async with machine.db.write() as conn:
            return await enroll_group(machine.ledger, conn, student, None, sections, "test", machine.now)

    async def drop(student: int, section: int) -> Decision:
        async with machine.db.write() as conn:
            return await machine.ledger.drop(conn, student, None, section, "test", machine.now)

    async def run() -> list[Decision]:
        return list(await asyncio.gather(*(one(s, g) for s, g in groups)))

    decisions = machine.run(run())
    assert isinstance(decisions, list)
    held = rows(machine, select(enrollments.c.student_id, enrollments.c.course_id))
    for (student, wanted), decision in zip(groups, decisions, strict=True):
        mine = sorted(c for s, c in held if s == student)
        assert mine == (sorted(wanted) if decision.outcome == "accepted" else []), (student, decision)
    assert sum(d.outcome == "accepted" for d in decisions) >= 1
    assert any(d.outcome == "waitlisted" for d in decisions)  # (groups wait for the full sections)

    holders = sorted({s for s, _ in held})
    more = [(student, [7 + student % 2, 9 + (student // 2) % 2]) for student in range(40, 50)]

    async def churn() -> None:  # (a drop of one section gives up the holder's whole group)
        await asyncio.gather(*(drop(s, 9 + (s // 2) % 2) for s in holders), *(one(s, g) for s, g in more))

    machine.run(churn())
    held = rows(machine, select(enrollments.c.student_id, enrollments.c.course_id))
    for section, capacity in ((7, 2), (8, 1), (9, 1), (10, 2)):
        taken = rows(machine, select(courses.c.taken).where(courses.c.id == section))[0][0]
        assert taken == sum(c == section for _, c in held) <= capacity
    waiting = {s for (s,) in rows(machine, select(waitlist.c.student_id))}
    for student in {s for s, _ in held}:
        assert sorted(c for s, c in held if s == student) in ([7, 9], [7, 10], [8, 9], [8, 10]), student
        assert student not in waiting, student


def test_a_swap_and_a_drop_of_one_offering_at_once_do_not_deadlock(machine: LedgerMachine) -> None:
    """S1: L01 7, L02 8, B01 9, B02 10. Student 21's group (7, 9) waits on B01 only. The first
    transaction swaps B01 -> B02 and, before its promotion takes that group (rows 7 and 9), the
    second drops L02 + B02 (its offering's rows locked in id order, from 7). Without the swap
    locking its offering first, each held a row the other wanted: PostgreSQL's deadlock."""

    async def group(student: int, sections: list[int]) -> Decision:
        async with machine.db.write() as conn:
            return await enroll_group(machine.ledger, conn, student, None, sections, "test", machine.now)

    before = [machine.run(group(s, sections)).outcome for s, sections in [(20, [7, 9]), (21, [7, 9]), (23, [8, 10])]]
    assert before == ["accepted", "waitlisted", "accepted"]
    promote, swapped = machine.ledger.promote, asyncio.Event()

    async def promote_after_the_drop_began(conn: Any, course_id: int, actor: str, now: float) -> list[int]:
        swapped.set()
        await asyncio.sleep(0.5)  # (the drop's transaction starts and takes its locks meanwhile)
        return await promote(conn, course_id, actor, now)

    async def swap() -> Decision:
        async with machine.db.write() as conn:
            machine.ledger.promote = promote_after_the_drop_began  # type: ignore[method-assign]
            try:
                return await machine.ledger.swap(conn, 20, None, 9, 10, "test", machine.now)
            finally:
                machine.ledger.promote = promote  # type: ignore[method-assign]

    async def drop() -> Decision:
        await asyncio.wait_for(swapped.wait(), 30)
        async with machine.db.write() as conn:
            return await machine.ledger.drop(conn, 23, None, 8, "test", machine.now)

    async def both() -> list[Any]:
        return list(await asyncio.gather(swap(), drop(), return_exceptions=True))

    answers = machine.run(both())
    assert not [a for a in answers if isinstance(a, Exception)], answers  # (a deadlock: StorageUnavailableError)


def test_two_drops_each_freeing_what_the_other_waits_for_do_not_deadlock(machine: LedgerMachine) -> None:
    """Student 20 holds C1 and waits for C2; student 21 holds C2 and waits for C1. Each course
    has a free seat the waiting student cannot take (C1 and C2 clash). Both drop at once: each
    drop frees its course's row, then `promote_waiting` takes a seat in the other's course. Both
    transactions reach that point holding their own row (the barrier) unless the first drop
    locked both rows before freeing its own: without it, PostgreSQL and MariaDB deadlock."""

    async def arrange() -> None:
        async with machine.db.write() as conn:
            await conn.execute(courses.update().where(courses.c.id == 2).values(capacity=2))
            for student, held, wanted in ((20, 1, 2), (21, 2, 1)):
                await conn.execute(courses.update().where(courses.c.id == held).values(taken=1))
                row = {"student_id": student, "created_at": machine.now}
                await conn.execute(enrollments.insert().values(course_id=held, via_permit=False, **row))
                await conn.execute(waitlist.insert().values(course_id=wanted, **row))

    machine.run(arrange())
    promote_waiting, both_released = machine.ledger.promote_waiting, asyncio.Barrier(2)

    async def after_both_released(conn: Any, student_id: int, actor: str, now: float) -> None:
        with contextlib.suppress(TimeoutError):  # (the other drop waits for this one's locks)
            await asyncio.wait_for(both_released.wait(), 1)  # (under its 3 s lock timeout)
        await promote_waiting(conn, student_id, actor, now)

    async def drop(student: int, course: int) -> Decision:
        async with machine.db.write() as conn:
            return await machine.ledger.drop(conn, student, None, course, "test", machine.now)

    async def both() -> list[Any]:
        machine.ledger.promote_waiting = after_both_released  # type: ignore[method-assign]
        try:
            return list(await asyncio.gather(drop(20, 1), drop(21, 2), return_exceptions=True))
        finally:
            machine.ledger.promote_waiting = promote_waiting  # type: ignore[method-assign]

    answers = machine.run(both())
    assert not [a for a in answers if isinstance(a, Exception)], answers  # (a deadlock: StorageUnavailableError)
    assert [a.outcome for a in answers] == ["accepted", "accepted"]
    held = rows(machine, select(enrollments.c.student_id, enrollments.c.course_id).order_by(enrollments.c.student_id))
    assert held == [(20, 2), (21, 1)]  # each promoted into what the other gave up
    assert rows(machine, select(waitlist)) == []
