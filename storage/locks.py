"""Locks on keys (a student's id) held until the end of the current write transaction.

Two transactions that lock the same key run one after the other, so a rule that reads
several rows (a student's credits, their timetable) is checked and written as a whole.
All the keys of a call are taken by one statement, in ascending order, so transactions
locking several keys cannot deadlock, and a batch of 500 students costs one round trip.

- SQLite: nothing to do; `BEGIN IMMEDIATE` already serializes every writer.
- PostgreSQL: `pg_advisory_xact_lock(namespace, key)`, released by the transaction's end.
- MySQL/MariaDB: `GET_LOCK`, named after the database (the names are server-wide).
  These belong to the session, not the transaction: `Database.write()` releases them
  after its commit or rollback (`release_session_locks`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialects import is_mysql

HELD = "cs_session_locks"  # in the connection's info: GET_LOCKs to release after the transaction
_MYSQL_WAIT_SECONDS = 60


class LockTimeoutError(TimeoutError):
    """A MySQL/MariaDB key lock was not granted in time (the write is rolled back)."""


async def lock_keys(conn: AsyncConnection, namespace: int, keys: Collection[int]) -> None:
    """Hold a lock on each of `keys` (whole numbers) in `namespace` until the transaction ends."""
    ordered = sorted({int(k) for k in keys})
    if not ordered or conn.dialect.name == "sqlite":
        return
    if conn.dialect.name == "postgresql":
        locks = (
            "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(:ns, k) FROM unnest(CAST(:keys AS integer[])) AS k) t"
        )
        await conn.execute(text(locks), {"ns": namespace, "keys": ordered})
        return
    if not is_mysql(conn.dialect):
        raise NotImplementedError(f"no key locks for {conn.dialect.name}")
    (await conn.get_raw_connection()).info[HELD] = True  # set first: a lock granted before a failure is released too
    # The text is written here, whole (the name is hex digits, colons and whole numbers): no
    # parameters to bind, no placeholders for SQLAlchemy to parse, and not prepared (its text
    # differs every time). Measured (issue 14): building the statement through `text()` cost
    # the client a tenth of its time per decision on MariaDB.
    prefix = mysql_lock_name(conn.engine.url.database or "", namespace, "")
    calls = ", ".join([f"GET_LOCK('{prefix}{k}', {_MYSQL_WAIT_SECONDS})" for k in ordered])
    statement = f"SELECT {calls}"
    granted = (await conn.exec_driver_sql(statement, execution_options={"no_parameters": True})).one()
    if any(g != 1 for g in granted):
        raise LockTimeoutError(f"key locks of namespace {namespace} not granted within {_MYSQL_WAIT_SECONDS} s")


def mysql_lock_name(database: str, namespace: int, key: int | str) -> str:
    """A key lock's name on MySQL/MariaDB: at most 64 characters, whatever the database's name
    (hex digits, colons and the namespace's and key's digits: safe to write into a statement)."""
    return f"cs:{hashlib.sha256(database.encode()).hexdigest()[:16]}:{int(namespace)}:{key}"


async def release_session_locks(conn: AsyncConnection) -> None:
    """After a MySQL/MariaDB transaction: release the key locks it took (or drop the session)."""
    try:
        raw = await conn.get_raw_connection()
        if raw.info.pop(HELD, False):
            await conn.exec_driver_sql("DO RELEASE_ALL_LOCKS()")
    except Exception:  # the write itself is over (committed or not): do not fail it here
        await conn.invalidate()  # the server releases a closed session's locks
