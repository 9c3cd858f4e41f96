"""The seat rule, one guard for every path that takes or gives back seats.

A course's `taken` counts its enrollments; `permit_seats` counts those granted past the
capacity through a capacity permit. The rule: seats taken without a permit never exceed
the capacity, `taken <= capacity + permit_seats`. The database holds it as a CHECK
constraint (`ck_courses_seats`, course_data migration 102), and every change of the counts
goes through `take_seats` or `give_back_seat`, whose UPDATE carries the same condition: the
one-at-a-time ledger (one seat) and the batch (every course's seats of a run at once) alike.
A refused guard changes nothing; a write that got past it would fail on the constraint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialects import among, among_written
from storage.schemas.course_data import courses


@dataclass(frozen=True)
class Seats:
    """Seats to take in one course: within the capacity, and past it through a capacity permit."""

    regular: int = 0
    permitted: int = 0


def _per_course(values: Mapping[int, int]) -> ColumnElement[int]:
    return case(values, value=courses.c.id, else_=0)


async def lock_courses(conn: AsyncConnection, course_ids: Iterable[int]) -> None:
    """Lock the courses' rows in id order (PostgreSQL, MariaDB; SQLite has one writer at a time).

    One UPDATE of several rows locks them in the order it meets them, so two transactions
    each taking several courses' seats (two section groups, a group and a batch) could each
    hold a row the other waits for: PostgreSQL found that deadlock between concurrent section
    groups. Taken first and in one order, the locks cannot form a cycle."""
    ids = sorted(set(course_ids))
    if len(ids) > 1 and conn.dialect.name != "sqlite":
        rows = select(courses.c.id).where(among(conn.dialect, courses.c.id, ids))
        await conn.execute(rows.order_by(courses.c.id).with_for_update())


async def take_seats(conn: AsyncConnection, wanted: Mapping[int, Seats], read: Mapping[int, int] | None = None) -> bool:
    """Take every course's seats in one statement, all or nothing: True if each course took them.

    The guard is the seat rule on the counts as they are when the row is written (so two
    transactions taking the last seat cannot both have it). `read` (course id -> taken, as
    the caller decided on) also requires that no other transaction changed a count meanwhile:
    the batch then fails and is retried on fresh counts instead of deciding on stale ones.
    """
    wanted = {cid: s for cid, s in wanted.items() if s.regular or s.permitted}
    if not wanted:
        return True
    await lock_courses(conn, wanted)
    regular = _per_course({cid: s.regular for cid, s in wanted.items()})
    permitted = _per_course({cid: s.permitted for cid, s in wanted.items()})
    guard = courses.c.taken + regular <= courses.c.capacity + courses.c.permit_seats
    if read is not None:
        guard = guard & (courses.c.taken == _per_course({cid: read[cid] for cid in wanted}))
    moved = await conn.execute(
        update(courses)
        .where(among_written(conn.dialect, courses.c.id, sorted(wanted)), guard)
        .values(taken=courses.c.taken + regular + permitted, permit_seats=courses.c.permit_seats + permitted)
    )
    if moved.rowcount == len(wanted):
        return True
    if moved.rowcount and len(wanted) > 1:
        raise RuntimeError(f"seats of courses {sorted(wanted)} taken in part; roll the transaction back")
    return False


async def give_back_seat(conn: AsyncConnection, course_id: int, via_permit: bool) -> None:
    """An enrollment ended (drop, swap, removal): its seat is free again."""
    await conn.execute(
        update(courses)
        .where(courses.c.id == course_id)
        .values(taken=courses.c.taken - 1, permit_seats=courses.c.permit_seats - int(via_permit))
    )
