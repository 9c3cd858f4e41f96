"""One seat rule for every path, held by the data too: no path oversells, even when its
decision is wrong (the rules are patched to accept everyone), on every database."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import CheckConstraint, MetaData, Table, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from cluster.settings import CourseSettings
from services.course_data import batch as batch_module
from services.course_data import ledger as ledger_module
from services.course_data.batch import Queued, decide_batch
from services.course_data.ledger import Ledger
from services.course_data.rules import Decision
from storage.database import Database
from storage.migrations import migrate, schema_migrations
from storage.schemas import MIGRATIONS
from storage.schemas.course_data import courses, enrollments, permits, windows
from tests.databases import KINDS, new_database

# A CHECK refused: MariaDB's error 4025 comes as an OperationalError, the others' as an IntegrityError.
REFUSED = (IntegrityError, OperationalError)


@pytest.fixture(params=KINDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(await new_database(request, request.param, tmp_path))
    await migrate(database, MIGRATIONS["course_data"])
    now = time.time()
    async with database.write() as conn:
        await conn.execute(
            courses.insert().values(id=1, code="ONE", title="One seat", credits=3, capacity=1, updated_at=now)
        )
        await conn.execute(windows.insert().values(opens_at=now - 60, closes_at=now + 3600, drop_deadline=now + 3600))
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def wrong_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both paths' decision accepts every enrollment: only the seat guard stands in the way."""

    def accept(*args: object, **kwargs: object) -> Decision:
        return Decision("accepted")

    monkeypatch.setattr(ledger_module, "decide_enroll", accept)
    monkeypatch.setattr(batch_module, "decide_enroll", accept)


async def seats(db: Database) -> tuple[int, int, int]:
    async with db.read() as conn:
        taken, permitted = (await conn.execute(select(courses.c.taken, courses.c.permit_seats))).one()
        count = (await conn.execute(select(func.count()).select_from(enrollments))).scalar_one()
    return taken, permitted, count


@pytest.mark.usefixtures("wrong_rules")
async def test_the_one_at_a_time_path_cannot_oversell(db: Database) -> None:
    ledger = Ledger(CourseSettings)
    for student in (1, 2, 3):
        async with db.write() as conn:
            decision = await ledger.enroll(conn, student, None, 1, "t", time.time())
        assert decision.outcome == ("accepted" if student == 1 else "rejected")
    assert await seats(db) == (1, 0, 1)


@pytest.mark.usefixtures("wrong_rules")
async def test_the_batch_path_cannot_oversell(db: Database) -> None:
    ledger = Ledger(CourseSettings)
    run = [Queued(uuid.uuid4().hex, "enroll", s, None, 1, None, "t", float("inf")) for s in (1, 2, 3)]
    with pytest.raises(RuntimeError, match="seat counts"):
        async with db.write() as conn:
            await decide_batch(conn, ledger, run, time.time())
    assert await seats(db) == (0, 0, 0)  # the whole batch rolled back


async def test_capacity_permits_take_seats_past_the_capacity_on_both_paths_and_give_them_back(db: Database) -> None:
    ledger = Ledger(CourseSettings)
    async with db.write() as conn:
        await conn.execute(
            permits.insert(),
            [{"course_id": 1, "student_id": s, "capacity": True, "created_by": "t", "created_at": 0} for s in (2, 3)],
        )
        assert (await ledger.enroll(conn, 1, None, 1, "t", time.time())).outcome == "accepted"
        assert (await ledger.enroll(conn, 2, None, 1, "t", time.time())).via_permit
        queued = Queued(uuid.uuid4().hex, "enroll", 3, None, 1, None, "t", float("inf"))
        [decided] = await decide_batch(conn, ledger, [queued], time.time())
        assert decided.decision.via_permit
    assert await seats(db) == (3, 2, 3)
    async with db.write() as conn:
        assert (await ledger.drop(conn, 2, None, 1, "t", time.time())).outcome == "accepted"
    assert await seats(db) == (2, 1, 2)


async def test_the_database_refuses_a_seat_past_the_capacity_whoever_writes_it(db: Database) -> None:
    for wrong in ({"taken": 2}, {"taken": 2, "permit_seats": 0}, {"permit_seats": 1}, {"taken": -1}):
        with pytest.raises(REFUSED):
            async with db.write() as conn:
                await conn.execute(update(courses).values(**wrong))
    async with db.write() as conn:  # a seat past the capacity is allowed when counted as a permit's
        await conn.execute(update(courses).values(taken=2, permit_seats=1))
    assert (await seats(db))[:2] == (2, 1)


async def test_the_migration_counts_existing_permit_seats_and_adds_the_rule(db: Database) -> None:
    """A ledger from before migration 102: its permit seats are counted, then the rule holds."""
    async with db.write(foreign_keys=False) as conn:
        if conn.dialect.name == "sqlite":  # (SQLite cannot drop a column a CHECK names: rebuild)
            old = Table(
                "courses_old",
                MetaData(),
                *(c._copy() for c in courses.columns if c.name != "permit_seats"),
                CheckConstraint("capacity >= 0", name="ck_courses_capacity"),
            )
            await conn.run_sync(old.create)
            names = ", ".join(c.name for c in old.columns)
            await conn.execute(text(f"INSERT INTO courses_old ({names}) SELECT {names} FROM courses"))
            await conn.execute(text("DROP TABLE courses"))
            await conn.execute(text("ALTER TABLE courses_old RENAME TO courses"))
        else:
            await conn.execute(text("ALTER TABLE courses DROP CONSTRAINT ck_courses_seats"))
            await conn.execute(text("ALTER TABLE courses DROP COLUMN permit_seats"))
        await conn.execute(text("UPDATE courses SET taken = 2"))  # one regular seat, one a permit's
        await conn.execute(
            enrollments.insert(),
            [{"course_id": 1, "student_id": s, "via_permit": s == 2, "created_at": 0} for s in (1, 2)],
        )
        await conn.execute(delete(schema_migrations).where(schema_migrations.c.version == 102))
    assert await migrate(db, MIGRATIONS["course_data"]) == [102]
    assert await seats(db) == (2, 1, 2)
    with pytest.raises(REFUSED):
        async with db.write() as conn:
            await conn.execute(update(courses).values(taken=3))
