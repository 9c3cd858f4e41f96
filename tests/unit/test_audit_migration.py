"""Migration 103 gives an existing course_data database the audit's `overrides` column (the
desk's named overrides), keeping the records it had; a new database has it from the start."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from services.course_data.audit import record
from storage.database import Database
from storage.migrations import migrate
from storage.schemas import MIGRATIONS
from storage.schemas.course_data import ledger_audit
from tests.databases import new_database


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mariadb"])
async def test_an_older_audit_table_gets_the_overrides_column(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    db = Database(await new_database(request, kind, tmp_path))
    try:
        steps = MIGRATIONS["course_data"]
        await migrate(db, [m for m in steps if m.version < 103])
        async with db.write() as conn:  # as a database made before the column was
            await conn.execute(text("ALTER TABLE ledger_audit DROP COLUMN overrides"))
            await conn.execute(
                text(
                    "INSERT INTO ledger_audit (at, actor, action, outcome, reason) VALUES (1, 'a', 'enroll', 'x', 'y')"
                )
            )
        assert await migrate(db, steps) == [m.version for m in steps if m.version >= 103]
        assert await migrate(db, steps) == []
        async with db.write() as conn:
            await record(conn, "registrar", "enroll", 2.0, student_id=5, reason="late add", overrides="capacity")
            rows = (await conn.execute(select(ledger_audit.c.actor, ledger_audit.c.overrides).order_by("id"))).all()
        assert [tuple(r) for r in rows] == [("a", ""), ("registrar", "capacity")]
    finally:
        await db.close()


async def test_a_new_database_has_the_column_from_the_start(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    try:
        assert 103 in await migrate(db, MIGRATIONS["course_data"])
        async with db.read() as conn:
            assert (await conn.execute(select(ledger_audit.c.overrides))).all() == []
    finally:
        await db.close()
