"""The storage layer against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text, update
from sqlalchemy.exc import IntegrityError

from storage.database import Database
from storage.errors import StaleEpochError
from storage.migrations import Migration, applied_versions, create_tables, migrate
from storage.schemas import MIGRATIONS
from storage.schemas.core import MIGRATIONS as CORE

meta = MetaData()
courses = Table(
    "t_courses",
    meta,
    Column("id", Integer, primary_key=True),
    Column("capacity", Integer, nullable=False),
    Column("taken", Integer, nullable=False),
)
enrollments = Table(
    "t_enrollments",
    meta,
    Column("course_id", Integer, nullable=False),
    Column("student", String(32), nullable=False, unique=True),
)
TEST_MIGRATIONS = (*CORE, Migration(100, "test tables", create_tables(courses, enrollments)))
_counter = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        name = f"t{next(_counter)}_{abs(hash(tmp_path)) % 10**8}"
        admin = Database(f"{dsn}/postgres")
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"CREATE DATABASE {name}"))
        await admin.close()
        url = f"{dsn}/{name}"
    database = Database(url, pool_size=20)
    try:
        yield database
    finally:
        await database.close()


async def test_migrations_apply_once_and_are_recorded(db: Database) -> None:
    assert await migrate(db, TEST_MIGRATIONS) == [1, 2, 3, 10, 100]
    assert await migrate(db, TEST_MIGRATIONS) == []
    assert await applied_versions(db) == [1, 2, 3, 10, 100]


async def test_concurrent_starts_apply_each_migration_once(db: Database) -> None:
    other = Database(str(db.url.render_as_string(hide_password=False)))
    try:
        results = await asyncio.gather(migrate(db, TEST_MIGRATIONS), migrate(other, TEST_MIGRATIONS))
    finally:
        await other.close()
    assert sorted(results) == [[], [1, 2, 3, 10, 100]]


async def test_every_service_schema_migrates(db: Database) -> None:
    for migrations in MIGRATIONS.values():
        await migrate(db, migrations)
    assert await applied_versions(db) == sorted({m.version for ms in MIGRATIONS.values() for m in ms})


async def test_migration_versions_must_ascend(db: Database) -> None:
    with pytest.raises(ValueError, match="ascending"):
        await migrate(db, (TEST_MIGRATIONS[1], TEST_MIGRATIONS[0]))


async def test_fencing_refuses_an_older_epoch_and_rolls_its_write_back(db: Database) -> None:
    await migrate(db, TEST_MIGRATIONS)
    async with db.write(fence=("course_data", 5)) as conn:
        await conn.execute(courses.insert().values(id=1, capacity=10, taken=0))
    async with db.write(fence=("course_data", 5)) as conn:  # the same master again: fine
        await conn.execute(update(courses).values(taken=1))
    async with db.write(fence=("course_data", 7)) as conn:  # a newer master
        await conn.execute(update(courses).values(taken=2))
    with pytest.raises(StaleEpochError):
        async with db.write(fence=("course_data", 6)) as conn:  # the deposed one
            await conn.execute(update(courses).values(taken=99))
    async with db.write(fence=("other_scope", 1)) as conn:  # scopes are independent
        pass
    async with db.read() as conn:
        assert (await conn.execute(select(courses.c.taken))).scalar_one() == 2


async def test_guarded_seat_take_never_oversells_under_concurrency(db: Database) -> None:
    """80 concurrent enrollments into 10 seats: exactly 10 succeed, none fails with an error."""
    await migrate(db, TEST_MIGRATIONS)
    async with db.write() as conn:
        await conn.execute(courses.insert().values(id=1, capacity=10, taken=0))

    async def enroll(student: str) -> bool:
        async with db.write() as conn:
            took = await conn.execute(
                update(courses)
                .where(courses.c.id == 1, courses.c.taken < courses.c.capacity)
                .values(taken=courses.c.taken + 1)
            )
            if took.rowcount != 1:
                return False
            await conn.execute(enrollments.insert().values(course_id=1, student=student))
            return True

    results = await asyncio.gather(*(enroll(f"s{i}") for i in range(80)))
    assert sum(results) == 10
    async with db.read() as conn:
        assert (await conn.execute(select(courses.c.taken))).scalar_one() == 10
        assert len((await conn.execute(select(enrollments))).all()) == 10


async def test_unique_constraint_backs_the_rules(db: Database) -> None:
    await migrate(db, TEST_MIGRATIONS)
    async with db.write() as conn:
        await conn.execute(enrollments.insert().values(course_id=1, student="s1"))
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await conn.execute(enrollments.insert().values(course_id=2, student="s1"))


async def test_sqlite_read_modify_write_takes_the_lock_up_front(tmp_path: Path) -> None:
    """Check-then-insert in parallel: with BEGIN IMMEDIATE none fails with "database is locked"."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'rmw.db'}", pool_size=20)
    try:
        await migrate(db, TEST_MIGRATIONS)

        async def check_then_insert(i: int) -> None:
            async with db.write() as conn:
                count = (await conn.execute(select(enrollments.c.student))).all()
                await asyncio.sleep(0)
                await conn.execute(enrollments.insert().values(course_id=len(count), student=f"s{i}"))

        await asyncio.gather(*(check_then_insert(i) for i in range(80)))
        async with db.read() as conn:
            course_ids = sorted((await conn.execute(select(enrollments.c.course_id))).scalars())
        assert course_ids == list(range(80))  # each saw every earlier insert: fully serialized
        async with db.read() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    finally:
        await db.close()
