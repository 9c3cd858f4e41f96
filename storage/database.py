"""One service's database: an async SQLAlchemy engine with the right session rules.

SQLite runs in WAL mode with foreign keys on, `synchronous=NORMAL` (durable across a
process kill in WAL) and a busy timeout. `write()` opens its transaction with
`BEGIN IMMEDIATE` on SQLite so that read-modify-write transactions take the write lock
up front instead of failing with "database is locked" at their first write.

MySQL/MariaDB (`mysql+asyncmy://`) runs READ COMMITTED (as PostgreSQL does: each
statement sees what was committed before it, so a guarded update and the reads after a
lock see the newest rows), a strict `sql_mode` (an out-of-range or too-long value is an
error, never a silent truncation), utf8mb4 on the connection, and recycles pooled
connections before the server's `wait_timeout` closes them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage.dialects import MYSQL_FAMILY
from storage.fencing import check_epoch
from storage.locks import release_session_locks

_IMMEDIATE = "cs_begin_immediate"
_MYSQL_SQL_MODE = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE,NO_ENGINE_SUBSTITUTION"


class Database:
    def __init__(self, url: str, *, pool_size: int = 5, echo: bool = False, schema: str = "") -> None:
        """`schema` (PostgreSQL): keep every table of this database object in that schema,
        so that several services can share one database without their tables meeting."""
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.schema = schema
        self.is_mysql = self.url.get_backend_name() in MYSQL_FAMILY
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": not self.is_sqlite}
        if self.is_sqlite:
            if schema:
                raise ValueError("a SQLite database has no schemas: give each service its own file")
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        elif self.is_mysql:
            kwargs.update(_mysql_options())
            kwargs["pool_size"] = pool_size
        else:
            kwargs["pool_size"] = pool_size
            if schema:
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._after_write: list[Callable[[], None]] = []
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a read transaction (rolled back at the end)."""
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(
        self, *, fence: tuple[str, int] | None = None, foreign_keys: bool = True
    ) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed if the block ends without an exception.

        With `fence=(scope, epoch)` the transaction first records `epoch` as the newest
        for `scope`, or raises StaleEpochError if a newer one was seen: the fencing rule
        is checked inside the same transaction as the write it protects.
        `foreign_keys=False` (SQLite) runs it with foreign key actions off, as a table
        rebuild needs (SQLite cannot switch them inside a transaction); the caller checks
        `PRAGMA foreign_key_check` before it ends.
        """
        toggle = self.is_sqlite and not foreign_keys
        async with self.engine.connect() as conn:
            if toggle:
                await conn.run_sync(_sqlite_foreign_keys, False)
            try:
                await conn.execution_options(**{_IMMEDIATE: True})
                async with conn.begin():
                    if fence is not None:
                        await check_epoch(conn, *fence)
                    yield conn
            finally:
                if self.is_mysql:
                    await release_session_locks(conn)
                if toggle:
                    await conn.run_sync(_sqlite_foreign_keys, True)
        for callback in self._after_write:
            callback()

    def after_write(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every committed write through this object (a cache to drop)."""
        self._after_write.append(callback)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def _mysql_options() -> dict[str, Any]:
    return {
        "isolation_level": "READ COMMITTED",
        "pool_recycle": 3600,
        "connect_args": {"charset": "utf8mb4", "init_command": f"SET SESSION sql_mode = '{_MYSQL_SQL_MODE}'"},
    }


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is a plain BEGIN).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_foreign_keys(conn: Any, on: bool) -> None:
    """Outside a transaction (SQLite ignores the pragma inside one)."""
    cursor = conn.connection.dbapi_connection.cursor()
    cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
