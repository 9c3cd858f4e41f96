"""Migration 110 gives an existing course_data database time tickets and priority groups on
its windows, consent on its permits and the tables of corequisites, restrictions and consent
courses, keeping what it had; the same for login's migration 130 (program, year, priority group)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from storage.database import Database
from storage.migrations import migrate
from storage.schemas import MIGRATIONS
from storage.schemas.course_data import consent_courses, corequisites, course_restrictions, permits, windows
from storage.schemas.login import users
from tests.databases import new_database


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mariadb"])
async def test_an_older_ledger_gets_the_eligibility_columns_and_tables(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    db = Database(await new_database(request, kind, tmp_path))
    try:
        steps = MIGRATIONS["course_data"]
        await migrate(db, [m for m in steps if m.version < 110])
        async with db.write() as conn:  # as a database made before them
            for table, column in (
                ("registration_windows", "student_id"),
                ("registration_windows", "priority_group"),
                ("permits", "consent"),
            ):
                await conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            for table in ("corequisites", "course_restrictions", "consent_courses"):
                await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
            await conn.execute(
                text(
                    "INSERT INTO courses (id, code, title, department, teacher_name, credits, capacity, taken, "
                    "permit_seats, location, description, updated_at) "
                    "VALUES (1, 'CS1', 'CS1', '', '', 3, 5, 0, 0, '', '', 0)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO registration_windows (cohort, opens_at, closes_at, drop_deadline) "
                    "VALUES (2024, 1, 2, 3)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO permits (course_id, student_id, capacity, prerequisites, created_by, created_at) "
                    "VALUES (1, 5, TRUE, FALSE, 't', 0)"
                )
            )
        assert 110 in await migrate(db, steps)
        assert await migrate(db, steps) == []
        async with db.write() as conn:
            [window] = (await conn.execute(select(windows))).all()
            assert (window.cohort, window.student_id, window.priority_group) == (2024, None, None)
            [permit] = (await conn.execute(select(permits))).all()
            assert (permit.capacity, permit.consent) == (True, False)
            await conn.execute(corequisites.insert().values(course_id=1, required_code="CS0"))
            await conn.execute(course_restrictions.insert().values(course_id=1, kind="program", value="CS"))
            await conn.execute(consent_courses.insert().values(course_id=1))
            await conn.execute(windows.insert().values(student_id=5, opens_at=0, closes_at=1, drop_deadline=1))
    finally:
        await db.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_older_users_get_program_year_and_priority_group(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    db = Database(await new_database(request, kind, tmp_path))
    try:
        steps = MIGRATIONS["login"]
        await migrate(db, [m for m in steps if m.version < 130])
        async with db.write() as conn:
            for column in ("program", "year", "priority_group"):
                await conn.execute(text(f"ALTER TABLE users DROP COLUMN {column}"))
            await conn.execute(
                text(
                    "INSERT INTO users (username, role, password_hash, must_change_password, full_name, cohort, "
                    "disabled, totp_enabled, created_at, updated_at, password_changed_at) "
                    "VALUES ('ann', 'student', 'x', FALSE, 'Ann', 2024, FALSE, FALSE, 0, 0, 0)"
                )
            )
        assert await migrate(db, steps) == [130]
        async with db.read() as conn:
            [ann] = (await conn.execute(select(users))).all()
        assert (ann.username, ann.cohort, ann.program, ann.year, ann.priority_group) == ("ann", 2024, None, None, None)
    finally:
        await db.close()
