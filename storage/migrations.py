"""Numbered schema migrations, applied at start and recorded in the database.

Each service lists its migrations in order. `migrate()` applies the ones not yet
recorded, all in one write transaction that holds the database's write lock (SQLite
`BEGIN IMMEDIATE`, a PostgreSQL advisory lock), so nodes starting together apply each
migration exactly once. Running it again is a no-op. On SQLite the transaction runs with
foreign key actions off (SQLite's own procedure for rebuilding a table: dropping a parent
table must not cascade to its children) and commits only if `foreign_key_check` finds
nothing broken.

The record is the service's own: a database object with a schema (several services on
one PostgreSQL database) creates that schema first and keeps `schema_migrations` in it
beside the service's tables, so one service's version 100 never hides another's.
MySQL/MariaDB commit implicitly at each CREATE TABLE, so there the transaction is no
lock: a named lock (`GET_LOCK`, held by its own connection until the transaction after
it has committed) keeps the nodes apart, and tables are created only where missing, so a
run cut between a table and its record finishes on the next start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import UNFENCED_WAIT_SECONDS, Database
from storage.dialects import MYSQL_TABLE, is_mysql

Upgrade = Callable[[AsyncConnection], Awaitable[None]]

_meta = MetaData()
schema_migrations = Table(
    "schema_migrations",
    _meta,
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    **MYSQL_TABLE,
)
_PG_LOCK_KEY = 0x43535F4D  # "CS_M"
_MYSQL_LOCK_SECONDS = 300


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    upgrade: Upgrade


def create_tables(*tables: Table) -> Upgrade:
    """An upgrade step that creates the given tables (and their indexes)."""

    async def upgrade(conn: AsyncConnection) -> None:
        checkfirst = is_mysql(conn.dialect)
        for table in tables:
            await conn.run_sync(table.create, checkfirst=checkfirst)

    return upgrade


def check_order(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)) or (versions and versions[0] < 1):
        raise ValueError(f"migration versions must be unique, positive and ascending: {versions}")


async def migrate(db: Database, migrations: Sequence[Migration]) -> list[int]:
    """Apply the migrations not yet recorded; return the versions applied now."""
    check_order(migrations)
    async with _mysql_lock(db), db.write(foreign_keys=False) as conn:
        if conn.dialect.name == "postgresql":  # wait for another node's migration; DDL may be slow
            await conn.execute(text(f"SET LOCAL lock_timeout = '{round(UNFENCED_WAIT_SECONDS)}s'"))
            await conn.execute(text("SET LOCAL statement_timeout = 0"))
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            if db.schema:
                quoted = conn.dialect.identifier_preparer.quote_identifier(db.schema)
                await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
        await conn.run_sync(lambda sync_conn: _meta.create_all(sync_conn, checkfirst=True))
        done = set((await conn.execute(select(schema_migrations.c.version))).scalars())
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            await migration.upgrade(conn)
            await conn.execute(schema_migrations.insert().values(version=migration.version, name=migration.name))
            applied.append(migration.version)
        if conn.dialect.name == "sqlite" and applied:
            broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
            if broken:
                raise RuntimeError(f"migrations {applied} would break foreign keys: {broken[:5]}")
        return applied


@asynccontextmanager
async def _mysql_lock(db: Database) -> AsyncIterator[None]:
    """On MySQL/MariaDB, hold this database's migration lock (nothing elsewhere)."""
    if not is_mysql(db.engine.dialect):
        yield
        return
    name = text("CONCAT('cs_migrations:', DATABASE())")
    async with db.engine.connect() as conn:
        got = await conn.scalar(select(func.get_lock(name, _MYSQL_LOCK_SECONDS)))
        if got != 1:
            raise TimeoutError(f"migration lock not granted within {_MYSQL_LOCK_SECONDS} s")
        try:
            yield
        finally:
            await conn.scalar(select(func.release_lock(name)))


async def applied_versions(db: Database) -> list[int]:
    async with db.read() as conn:
        rows = await conn.execute(select(schema_migrations.c.version).order_by(schema_migrations.c.version))
        return list(rows.scalars())
