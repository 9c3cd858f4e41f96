"""Sections: the rows of `courses` that share a term and a code are one offering.

A section is a course row like any other (its own capacity, seats, meetings, teacher,
location, waitlist and permits), so the seat machinery works per section unchanged; what
sections add is a rule over an offering's rows (`rules.section_refusal`): one section of
each kind the offering has, taken together, none twice, a linked section only with the
one it is linked to. This module loads what that rule needs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from services.course_data.rules import CourseFacts, section_refusal
from storage.dialects import among
from storage.schemas.course_data import courses, enrollments, waitlist

Offering = tuple[int, str]  # (term_id, code)


def group_text(section_ids: Collection[int]) -> str:
    """The `waitlist.group_sections` value of a group's other sections."""
    return ",".join(str(i) for i in sorted(section_ids))


def group_of(text: str) -> list[int]:
    """The section ids a `waitlist.group_sections` value names (none: a single course)."""
    return [int(part) for part in text.split(",") if part]


async def offering_ids(conn: AsyncConnection, course_id: int) -> list[int]:
    """The ids of every section of `course_id`'s offering, itself included, in id order (none
    when it does not exist)."""
    return await offerings_ids(conn, [course_id])


async def offerings_ids(conn: AsyncConnection, course_ids: Collection[int]) -> list[int]:
    """`offering_ids` of several courses in one query: every section of their offerings, in id order."""
    if not course_ids:
        return []
    mine = (
        select(courses.c.term_id, courses.c.code)
        .where(among(conn.dialect, courses.c.id, sorted(set(course_ids))))
        .distinct()
        .subquery()
    )
    query = (
        select(courses.c.id)
        .join(mine, (courses.c.term_id == mine.c.term_id) & (courses.c.code == mine.c.code))
        .order_by(courses.c.id)
    )
    return list((await conn.execute(query)).scalars())


def sections_dropped_with(enrolled: Sequence[Any], course_id: int) -> list[int]:
    """The other sections a drop of `course_id` gives up: every section of its offering the
    student holds (a lecture without its lab, or a lab without its lecture, is not a course)."""
    held = next((c for c in enrolled if c.id == course_id), None)
    if held is None:
        return []
    return [c.id for c in enrolled if c.offering == held.offering and c.id != course_id]


async def groups_broken_by(
    conn: AsyncConnection,
    course_id: int,
    section: str,
    kind: str,
    linked_to: int | None,
    created: Collection[int] = (),
) -> tuple[str, list[int]] | None:
    """Whether making `course_id` the section (`section`, `kind`, `linked_to`) would leave some
    student holding, or waiting for, sections of its offering the section rule
    (`rules.section_refusal`) refuses: the first such refusal's reason and every such student
    (None: no group breaks). `created`: the sections of the offering that are new (inserted,
    uncommitted), so before the change the offering did not have them (a new kind of section is
    one more every holder lacks). A waiter (a group, or one section asked for alone) that broke could never be
    promoted. A student whose sections the rule refused before the change is not counted."""
    row = (await conn.execute(select(courses).where(courses.c.id == course_id))).one()
    rows = (
        await conn.execute(
            select(courses).where(courses.c.term_id == row.term_id, courses.c.code == row.code).order_by(courses.c.id)
        )
    ).all()
    ids = [r.id for r in rows]
    held: dict[int, set[int]] = defaultdict(set)
    holding = select(enrollments.c.student_id, enrollments.c.course_id)
    for student_id, held_id in await conn.execute(holding.where(among(conn.dialect, enrollments.c.course_id, ids))):
        held[student_id].add(held_id)
    wanted: dict[int, set[int]] = defaultdict(set)
    waiting = select(waitlist.c.student_id, waitlist.c.course_id, waitlist.c.group_sections).where(
        among(conn.dialect, waitlist.c.course_id, ids)
    )
    for student_id, waited_id, others in await conn.execute(waiting):
        wanted[student_id] |= {waited_id, *group_of(others)}
    before = _facts([r for r in rows if r.id not in created], {})
    after = _facts(rows, {course_id: (section, kind, linked_to)})
    first = ""
    broken: set[int] = set()
    for student_id, mine in [*held.items(), *wanted.items()]:
        group = sorted(mine)
        if _refusal(before, group) is None and (reason := _refusal(after, group)) is not None:
            first, broken = first or reason, broken | {student_id}
    return (first, sorted(broken)) if broken else None


def _facts(rows: Sequence[Row[Any]], changed: dict[int, tuple[str, str, int | None]]) -> dict[int, CourseFacts]:
    shape = {r.id: changed.get(r.id, (r.section, r.kind, r.linked_to)) for r in rows}
    sections = tuple((i, name, kind) for i, (name, kind, _) in shape.items())
    return {
        r.id: CourseFacts(
            r.id,
            r.code,
            r.credits,
            r.capacity,
            r.taken,
            term_id=r.term_id,
            section=shape[r.id][0],
            kind=shape[r.id][1],
            linked_to=shape[r.id][2],
            offering_sections=sections,
        )
        for r in rows
    }


def _refusal(facts: dict[int, CourseFacts], held: list[int]) -> str | None:
    """The section rule's reason against the sections `held` (None: they fit)."""
    mine = [facts[i] for i in held]
    for course in mine:
        if (refused := section_refusal(course, [c for c in mine if c.id != course.id])) is not None:
            return refused.reason
    return None
