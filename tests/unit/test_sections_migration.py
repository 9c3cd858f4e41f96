"""Migration 140 brings a course_data database from before sections to today's schema: each
course becomes the single section ("", a lecture) of its offering, seats and enrollments are
kept, and a code is unique per term and section; on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from cluster.settings import CourseSettings
from services.course_data.groups import enroll_group
from services.course_data.ledger import Ledger
from storage.database import Database
from storage.migrations import migrate
from storage.schemas import MIGRATIONS
from storage.schemas.course_data import courses, waitlist, windows
from tests.databases import KINDS, new_database


@pytest.mark.parametrize("kind", KINDS)
async def test_a_database_from_before_sections_gets_one_section_per_course(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    db = Database(await new_database(request, kind, tmp_path))
    steps = MIGRATIONS["course_data"]
    now = time.time()
    try:
        await migrate(db, [m for m in steps if m.version < 140])
        async with db.write() as conn:  # a course as the service wrote it before sections
            await conn.execute(
                text(
                    "INSERT INTO courses (term_id, code, title, department, teacher_name, credits, capacity, taken,"
                    " permit_seats, location, description, updated_at)"
                    " VALUES (1, 'CS101', 'CS101', '', '', 3, 2, 1, 0, '', '', :now)"
                ),
                {"now": now},
            )
            await conn.execute(
                text(
                    "INSERT INTO enrollments (course_id, student_id, via_permit, created_at)"
                    " SELECT id, 7, :f, :now FROM courses"
                ),
                {"f": False, "now": now},
            )
        assert await migrate(db, steps) == [m.version for m in steps if m.version >= 140]
        assert await migrate(db, steps) == []
        async with db.read() as conn:
            [row] = (await conn.execute(select(courses))).all()
        assert (row.code, row.section, row.kind, row.linked_to, row.taken) == ("CS101", "", "lecture", None, 1)

        async with db.write() as conn:  # a lab section of the same code in the same term is allowed now
            lab = await conn.execute(
                courses.insert().values(
                    code="CS101", section="B01", kind="lab", title="lab", credits=3, capacity=1, updated_at=now
                )
            )
            lab_id = int(lab.inserted_primary_key[0])  # type: ignore[index]
            await conn.execute(
                windows.insert().values(opens_at=now - 60, closes_at=now + 3600, drop_deadline=now + 3600)
            )
        with pytest.raises(IntegrityError):  # the same section twice is not
            async with db.write() as conn:
                await conn.execute(
                    courses.insert().values(
                        code="CS101", section="B01", kind="lab", title="again", credits=3, capacity=1, updated_at=now
                    )
                )
        ledger = Ledger(lambda: CourseSettings())
        async with db.write() as conn:  # the ledger works on the migrated rows: a group of both sections
            decided = await enroll_group(ledger, conn, 8, None, [row.id, lab_id], "t", time.time())
        assert decided.outcome == "accepted", decided
    finally:
        await db.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_waitlist_from_before_groups_gets_its_group_column(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    """Migration 141 adds `waitlist.group_sections`: a row waiting already is a single course's ("")."""
    db = Database(await new_database(request, kind, tmp_path))
    steps = MIGRATIONS["course_data"]
    now = time.time()
    try:
        await migrate(db, [m for m in steps if m.version < 141])
        async with db.write() as conn:  # the waitlist as it was before groups waited
            await conn.execute(text("ALTER TABLE waitlist DROP COLUMN group_sections"))
            made = await conn.execute(
                courses.insert().values(code="CS101", title="CS101", credits=3, capacity=0, updated_at=now)
            )
            await conn.execute(
                text("INSERT INTO waitlist (course_id, student_id, created_at) VALUES (:c, 7, :now)"),
                {"c": made.inserted_primary_key[0], "now": now},  # type: ignore[index]
            )
        assert await migrate(db, steps) == [141]
        assert await migrate(db, steps) == []
        async with db.read() as conn:
            [row] = (await conn.execute(select(waitlist))).all()
        assert (row.student_id, row.group_sections) == (7, "")
    finally:
        await db.close()
