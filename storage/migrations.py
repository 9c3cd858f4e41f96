"""Numbered schema migrations, applied at start and recorded in the database.

Each service lists its migrations in order. `migrate()` applies the ones not yet
recorded, all in one write transaction that holds the database's write lock (SQLite
`BEGIN IMMEDIATE`, a PostgreSQL advisory lock), so nodes starting together apply each
migration exactly once. Running it again is a no-op.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import UNFENCED_WAIT_SECONDS, Database

Upgrade = Callable[[AsyncConnection], Awaitable[None]]

_meta = MetaData()
schema_migrations = Table(
    "schema_migrations",
    _meta,
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
_PG_LOCK_KEY = 0x43535F4D  # "CS_M"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    upgrade: Upgrade


def create_tables(*tables: Table) -> Upgrade:
    """An upgrade step that creates the given tables (and their indexes)."""

    async def upgrade(conn: AsyncConnection) -> None:
        for table in tables:
            await conn.run_sync(table.create)

    return upgrade


def check_order(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)) or (versions and versions[0] < 1):
        raise ValueError(f"migration versions must be unique, positive and ascending: {versions}")


async def migrate(db: Database, migrations: Sequence[Migration]) -> list[int]:
    """Apply the migrations not yet recorded; return the versions applied now."""
    check_order(migrations)
    async with db.write() as conn:
        if conn.dialect.name == "postgresql":  # wait for another node's migration; DDL may be slow
            await conn.execute(text(f"SET LOCAL lock_timeout = '{round(UNFENCED_WAIT_SECONDS)}s'"))
            await conn.execute(text("SET LOCAL statement_timeout = 0"))
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        await conn.run_sync(lambda sync_conn: _meta.create_all(sync_conn, checkfirst=True))
        done = set((await conn.execute(select(schema_migrations.c.version))).scalars())
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            await migration.upgrade(conn)
            await conn.execute(schema_migrations.insert().values(version=migration.version, name=migration.name))
            applied.append(migration.version)
        return applied


async def applied_versions(db: Database) -> list[int]:
    async with db.read() as conn:
        rows = await conn.execute(select(schema_migrations.c.version).order_by(schema_migrations.c.version))
        return list(rows.scalars())
