"""Migrations 104 and 105 bring a course_data database from before terms to today's schema:
one default term (current) holds every course and window, enrollments keep their seats, and
codes become unique per term instead of forever; on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from cluster.settings import CourseSettings
from services.course_data.ledger import Ledger
from storage.database import Database
from storage.migrations import migrate
from storage.schemas import MIGRATIONS
from storage.schemas.course_data import DEFAULT_TERM_ID, courses, enrollments, terms, windows
from tests.databases import KINDS, new_database


@pytest.mark.parametrize("kind", KINDS)
async def test_a_database_from_before_terms_gets_one_default_term(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    db = Database(await new_database(request, kind, tmp_path))
    steps = MIGRATIONS["course_data"]
    now = time.time()
    try:
        await migrate(db, [m for m in steps if m.version < 104])
        async with db.write() as conn:  # rows as the service wrote them before terms (no term_id column)
            for code, taken in (("CS101", 1), ("CS201", 0)):
                await conn.execute(
                    text(
                        "INSERT INTO courses (code, title, department, teacher_name, credits, capacity, taken,"
                        " permit_seats, location, description, updated_at)"
                        " VALUES (:code, :code, '', '', 3, 2, :taken, 0, '', '', :now)"
                    ),
                    {"code": code, "taken": taken, "now": now},
                )
            ids: dict[str, int] = {r.code: r.id for r in await conn.execute(text("SELECT code, id FROM courses"))}
            await conn.execute(
                text("INSERT INTO meetings (course_id, weekday, start_minute, end_minute) VALUES (:c, 0, 540, 600)"),
                {"c": ids["CS101"]},
            )
            await conn.execute(
                text(
                    "INSERT INTO enrollments (course_id, student_id, via_permit, created_at) VALUES (:c, 7, :f, :now)"
                ),
                {"c": ids["CS101"], "f": False, "now": now},
            )
            await conn.execute(
                text(
                    "INSERT INTO registration_windows (cohort, opens_at, closes_at, drop_deadline)"
                    " VALUES (NULL, :o, :c, :c)"
                ),
                {"o": now - 60, "c": now + 3600},
            )
        assert await migrate(db, steps) == [m.version for m in steps if m.version >= 104]
        assert await migrate(db, steps) == []

        async with db.read() as conn:
            [term] = (await conn.execute(select(terms))).all()
            assert (term.id, term.code, term.is_current, term.timezone) == (DEFAULT_TERM_ID, "default", True, "UTC")
            assert (term.starts_on, term.ends_on) == (None, None)  # the settings' term_start/term_end stand in
            moved = (
                await conn.execute(select(courses.c.code, courses.c.term_id, courses.c.taken).order_by("id"))
            ).all()
            assert [tuple(r) for r in moved] == [("CS101", 1, 1), ("CS201", 1, 0)]
            assert [w.term_id for w in (await conn.execute(select(windows))).all()] == [DEFAULT_TERM_ID]
            assert (await conn.execute(select(func.count()).select_from(enrollments))).scalar_one() == 1

        async with db.write() as conn:  # the same code in a new term is another course
            next_term = await conn.execute(
                terms.insert().values(code="2027-spring", timezone="Europe/Berlin", created_at=now, updated_at=now)
            )
            next_id = int(next_term.inserted_primary_key[0])  # type: ignore[index]
            assert next_id != DEFAULT_TERM_ID  # (PostgreSQL's sequence moved past the default term's id)
            await conn.execute(
                courses.insert().values(
                    term_id=next_id, code="CS101", title="again", credits=3, capacity=1, updated_at=now
                )
            )
        with pytest.raises(IntegrityError):  # twice in one term is not
            async with db.write() as conn:
                await conn.execute(
                    courses.insert().values(code="CS101", title="twice", credits=3, capacity=1, updated_at=now)
                )

        ledger = Ledger(lambda: CourseSettings())
        async with db.write() as conn:  # the ledger works on the migrated rows: CS201 of the default term
            assert (await ledger.enroll(conn, 7, None, ids["CS201"], "t", time.time())).outcome == "accepted"
            student = await ledger.student(conn, 7, None)
        assert sorted((c.code, c.term_id) for c in student.enrolled) == [("CS101", 1), ("CS201", 1)]
    finally:
        await db.close()


@pytest.mark.parametrize("kind", ["postgres", "mariadb"])
async def test_a_start_cut_short_inside_migration_104_finishes_it(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    """MySQL commits each DDL statement by itself: a node killed after 104 added the column (and
    before it swapped the unique constraint) finishes the remaining steps at its next start."""
    db = Database(await new_database(request, kind, tmp_path))
    steps = MIGRATIONS["course_data"]
    now = time.time()
    try:
        await migrate(db, [m for m in steps if m.version < 104])
        async with db.write() as conn:  # as far as the cut run got
            await conn.run_sync(terms.create)
            await conn.execute(text("ALTER TABLE courses ADD COLUMN term_id INTEGER NOT NULL DEFAULT 1"))
        assert await migrate(db, steps) == [m.version for m in steps if m.version >= 104]
        async with db.write() as conn:
            other = await conn.execute(terms.insert().values(code="next", created_at=now, updated_at=now))
            for term_id in (DEFAULT_TERM_ID, int(other.inserted_primary_key[0])):  # type: ignore[index]
                row = {"term_id": term_id, "code": "SAME", "title": "t", "credits": 1, "capacity": 1, "updated_at": now}
                await conn.execute(courses.insert().values(**row))
        with pytest.raises(IntegrityError):
            async with db.write() as conn:
                await conn.execute(
                    courses.insert().values(code="SAME", title="t", credits=1, capacity=1, updated_at=now)
                )
        with pytest.raises(IntegrityError):  # the term's foreign key is there too
            async with db.write() as conn:
                await conn.execute(
                    courses.insert().values(term_id=99, code="X1", title="t", credits=1, capacity=1, updated_at=now)
                )
    finally:
        await db.close()
