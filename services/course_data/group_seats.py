"""A section group's seats taken in one guarded statement: the one write path of a group,
whether enrolled at once (`groups.enroll_group`) or promoted whole from a waitlist
(`Ledger.promote`).

The caller runs it inside a savepoint: when the seat guard refuses a section (a concurrent
transaction took its last seat), `SeatTaken` is raised and the savepoint undoes every seat
and row the statement moved, so a section is never held without the rest of its group.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.course_data.seats import Seats, give_back_seat, lock_courses, take_seats
from services.course_data.sections import group_of, offering_ids
from storage.dialects import among, among_written
from storage.schemas.course_data import enrollments, waitlist


class SeatTaken(Exception):
    """The seat guard refused a section of the group (a concurrent enrollment took it)."""


async def end_enrollment(conn: AsyncConnection, course_id: int, student_id: int) -> None:
    """The student's enrollment in `course_id` ends: the row goes and its seat is free again."""
    mine = (enrollments.c.course_id == course_id) & (enrollments.c.student_id == student_id)
    via_permit = (await conn.execute(select(enrollments.c.via_permit).where(mine))).scalar_one()
    await conn.execute(delete(enrollments).where(mine))
    await give_back_seat(conn, course_id, bool(via_permit))


async def take_group(
    conn: AsyncConnection,
    student_id: int,
    seats: dict[int, bool],
    drop_ids: Sequence[int],
    now: float,
    offering: Collection[int] = (),
) -> None:
    """Give up `drop_ids` and take each section's seat (section id -> via a capacity permit) in
    one guarded statement; raise `SeatTaken` if the guard refused any. The student leaves every
    waitlist of `offering` (the ids of the group's offering: a group of it is held now). Every
    row it changes is locked first, in id order (`lock_courses`); with `drop_ids`, the whole
    offering's (the promotion after a swap may take a waiting group of its other sections)."""
    await lock_courses(conn, [*drop_ids, *seats, *(offering if drop_ids else ())])
    for drop_id in drop_ids:
        await end_enrollment(conn, drop_id, student_id)
    wanted = {sid: Seats(permitted=1) if via else Seats(regular=1) for sid, via in seats.items()}
    try:
        taken = await take_seats(conn, wanted)
    except RuntimeError:  # (taken in part: the savepoint undoes it)
        taken = False
    if not taken:
        raise SeatTaken
    for sid, via in seats.items():
        await conn.execute(
            enrollments.insert().values(course_id=sid, student_id=student_id, via_permit=via, created_at=now)
        )
    leaving = sorted({*seats, *offering})
    await conn.execute(
        delete(waitlist).where(
            waitlist.c.student_id == student_id, among_written(conn.dialect, waitlist.c.course_id, leaving)
        )
    )


async def forget_section(conn: AsyncConnection, course_id: int) -> list[int]:
    """`course_id` is about to be deleted: every group waiting for it leaves its waitlists
    (rows on it, and rows on its offering's other sections naming it), since it can never be
    taken whole. The students who waited are returned."""
    ids = await offering_ids(conn, course_id)
    rows = (
        await conn.execute(
            select(waitlist.c.id, waitlist.c.student_id, waitlist.c.course_id, waitlist.c.group_sections).where(
                among(conn.dialect, waitlist.c.course_id, ids)
            )
        )
    ).all()
    gone = [
        r for r in rows if r.group_sections and (r.course_id == course_id or course_id in group_of(r.group_sections))
    ]
    if gone:
        await conn.execute(delete(waitlist).where(among_written(conn.dialect, waitlist.c.id, [r.id for r in gone])))
    return sorted({r.student_id for r in gone})
