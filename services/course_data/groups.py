"""A section group: one section of each kind of an offering, enrolled (or swapped into)
together in the caller's write transaction, all or nothing.

The group is decided by `rules.decide_group` on facts read under the student's lock, and
its seats are taken in one statement through the seat guard (`group_seats.take_group`),
inside a savepoint: if a concurrent transaction took the last seat of one section in
between, the guard refuses, the savepoint undoes every seat the statement moved, and the
group is refused as full (never a seat taken in one section without the others).

A group whose only obstacle is full sections waits: one waitlist row on each full section,
each naming the group's other sections (`waitlist.group_sections`); `Ledger.promote` takes
the whole group when a seat frees and every section has one, through the same path.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.registration import Standing
from services.course_data.group_seats import SeatTaken, take_group
from services.course_data.ledger import Desk, Ledger
from services.course_data.rules import (
    Decision,
    decide_drop,
    decide_group,
    group_refusal,
    part_left_refusal,
    reject,
)
from services.course_data.sections import group_text
from storage.schemas.course_data import waitlist


async def enroll_group(
    ledger: Ledger,
    conn: AsyncConnection,
    student_id: int,
    standing: Standing | int | None,
    section_ids: Sequence[int],
    actor: str,
    now: float,
    desk: Desk | None = None,
    drop_ids: Sequence[int] = (),
) -> Decision:
    """Enroll in every section of `section_ids`, or in none, or wait for the whole group on the
    waitlists of its full sections; with `drop_ids`, a swap: those are given up only if the
    whole group is taken (never waitlisted). Audited per section."""
    skipped = desk.overrides if desk else frozenset()
    action = "swap" if drop_ids else "enroll"
    await ledger.lock_students(conn, [student_id])
    student = await ledger.student(conn, student_id, standing)
    found = await ledger.courses(conn, section_ids)
    held = {c.id for c in student.enrolled}
    decision = group_refusal(student, section_ids, found, action, now, skipped)
    if decision is None and set(drop_ids) & set(section_ids):
        decision = reject("invalid-swap", "a swap cannot give up a section it takes")
    for drop_id in drop_ids:
        if decision is None and drop_id not in held:
            decision = reject("not-enrolled", "you are not enrolled in the section to drop")
        if decision is None and not (dropping := decide_drop(student, drop_id, now, skipped)).ok:
            decision = dropping
    if decision is None and drop_ids:
        decision = part_left_refusal(student, frozenset(drop_ids), tuple(found[i] for i in section_ids))
    if decision is None:
        group = tuple(found[i] for i in section_ids)
        permits = {i: await ledger.permit(conn, i, student_id) for i in section_ids}
        decided = decide_group(student, group, permits, ledger.rules(), now, frozenset(drop_ids), skipped)
        decision = decided.decision
        if decision.outcome == "waitlisted":
            for sid in decided.waiting:
                row = {"course_id": sid, "student_id": student_id, "created_at": now}
                others = group_text([i for i in section_ids if i != sid])
                await conn.execute(waitlist.insert().values(**row, group_sections=others))
        if decision.outcome == "accepted":
            if drop_ids:  # (the promotions after it may reach other offerings: see `lock_releasing`)
                await ledger.lock_releasing(conn, student_id, [*drop_ids, *section_ids])
            try:
                async with conn.begin_nested():
                    offering = [sid for sid, _, _ in group[0].offering_sections]
                    await take_group(conn, student_id, decided.seats, drop_ids, now, offering)
            except SeatTaken:
                decision = reject("section-full", "a section of the group just filled up: nothing was changed")
            else:
                for drop_id in drop_ids:
                    await ledger.promote(conn, drop_id, actor, now)
                if drop_ids:
                    await ledger.promote_waiting(conn, student_id, actor, now)
    for section_id in section_ids:
        await ledger._audit(conn, actor, action, student_id, section_id, decision, now, desk)
    return decision
