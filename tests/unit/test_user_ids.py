"""User ids are never given again after a delete, on SQLite and PostgreSQL, and an older
SQLite login database is rebuilt to that rule without losing its sessions."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database
from storage.migrations import Migration, create_tables, migrate
from storage.schemas import MIGRATIONS
from storage.schemas.core import MIGRATIONS as CORE
from storage.schemas.login import audit_log, sessions, signing_keys, used_refresh_tokens, users

_counter = itertools.count()


def _user(name: str) -> dict[str, object]:
    return {
        "username": name,
        "role": "student",
        "password_hash": "x",
        "created_at": 0.0,
        "updated_at": 0.0,
        "password_changed_at": 0.0,
    }


async def _add_user(db: Database, name: str) -> int:
    async with db.write() as conn:
        result = await conn.execute(users.insert().values(**_user(name)))
        return int(result.inserted_primary_key[0])  # type: ignore[index]


async def _delete_user(db: Database, user_id: int) -> None:
    async with db.write() as conn:
        await conn.execute(users.delete().where(users.c.id == user_id))


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'login.db'}"
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        name = f"ids{next(_counter)}_{abs(hash(tmp_path)) % 10**8}"
        admin = Database(f"{dsn}/postgres")
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"CREATE DATABASE {name}"))
        await admin.close()
        url = f"{dsn}/{name}"
    database = Database(url)
    try:
        yield database
    finally:
        await database.close()


async def test_the_last_users_id_is_not_given_again(db: Database) -> None:
    await migrate(db, MIGRATIONS["login"])
    first, last = await _add_user(db, "ann"), await _add_user(db, "ben")
    await _delete_user(db, last)
    assert await _add_user(db, "cat") == last + 1
    assert first < last


async def test_an_older_sqlite_database_is_rebuilt_with_its_sessions(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    old = MetaData()
    for table in (users, sessions, used_refresh_tokens, signing_keys, audit_log):  # migration 100's tables
        table.to_metadata(old)
    old.tables["users"].dialect_options["sqlite"]["autoincrement"] = False  # as migration 100 first made it

    async def first_tables(conn: AsyncConnection) -> None:
        await create_tables(*old.sorted_tables)(conn)
        for column in ("program", "year", "priority_group"):  # users' columns of migration 130
            await conn.exec_driver_sql(f"ALTER TABLE users DROP COLUMN {column}")

    try:
        await migrate(db, (*CORE, Migration(100, "the first login tables", first_tables)))
        ids = [await _add_user(db, name) for name in ("ann", "ben", "cat")]
        async with db.write() as conn:
            row = {"created_at": 0.0, "last_seen_at": 0.0, "expires_at": 9e9}
            await conn.execute(sessions.insert().values(id="s-ann", user_id=ids[0], refresh_hash="h", **row))
            await conn.execute(used_refresh_tokens.insert().values(token_hash="u", session_id="s-ann", used_at=0.0))

        assert await migrate(db, MIGRATIONS["login"]) == [101, 110, 120, 130]

        async with db.read() as conn:
            made = (await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'users'"))).scalar_one()
            assert "AUTOINCREMENT" in made.upper()
            assert (await conn.execute(select(func.count()).select_from(sessions))).scalar_one() == 1
            assert (await conn.execute(select(func.count()).select_from(used_refresh_tokens))).scalar_one() == 1
            assert [r.username for r in await conn.execute(select(users).order_by(users.c.id))] == ["ann", "ben", "cat"]
            assert [r.program for r in await conn.execute(select(users))] == [None] * 3  # (migration 130's)
        await _delete_user(db, ids[2])
        assert await _add_user(db, "dan") == ids[2] + 1
        with pytest.raises(IntegrityError):  # foreign keys are enforced again after the migration
            async with db.write() as conn:
                await conn.execute(
                    sessions.insert().values(id="s-x", user_id=999, created_at=0.0, last_seen_at=0.0, expires_at=1.0)
                )
        await _delete_user(db, ids[0])  # and they still cascade to the sessions
        async with db.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(sessions))).scalar_one() == 0
    finally:
        await db.close()
