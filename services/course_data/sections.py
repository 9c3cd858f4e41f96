"""Sections: the rows of `courses` that share a term and a code are one offering.

A section is a course row like any other (its own capacity, seats, meetings, teacher,
location, waitlist and permits), so the seat machinery works per section unchanged; what
sections add is a rule over an offering's rows (`rules.section_refusal`): one section of
each kind the offering has, taken together, none twice, a linked section only with the
one it is linked to. This module loads what that rule needs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialects import among
from storage.schemas.course_data import courses

Offering = tuple[int, str]  # (term_id, code)


async def offering_sections(
    conn: AsyncConnection, rows: Sequence[Row[Any]]
) -> dict[Offering, tuple[tuple[int, str, str], ...]]:
    """For the offerings of course `rows`: every section, as (id, section, kind), in id order
    (one query: the rows of those codes, kept where the term matches)."""
    wanted = {(r.term_id, r.code) for r in rows}
    if not wanted:
        return {}
    query = (
        select(courses.c.id, courses.c.term_id, courses.c.code, courses.c.section, courses.c.kind)
        .where(
            among(conn.dialect, courses.c.term_id, sorted({term for term, _ in wanted})),
            among(conn.dialect, courses.c.code, sorted({code for _, code in wanted})),
        )
        .order_by(courses.c.id)
    )
    found: dict[Offering, list[tuple[int, str, str]]] = defaultdict(list)
    for r in await conn.execute(query):
        if (r.term_id, r.code) in wanted:
            found[(r.term_id, r.code)].append((r.id, r.section, r.kind))
    return {key: tuple(value) for key, value in found.items()}


async def offering_ids(conn: AsyncConnection, course_id: int) -> list[int]:
    """The ids of every section of `course_id`'s offering, itself included, in id order (none
    when it does not exist)."""
    mine = select(courses.c.term_id, courses.c.code).where(courses.c.id == course_id).subquery()
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
