"""One service's database: an async SQLAlchemy engine with the right session rules.

SQLite runs in WAL mode with foreign keys on, `synchronous=NORMAL` (durable across a
process kill in WAL) and a busy timeout. `write()` opens its transaction with
`BEGIN IMMEDIATE` on SQLite so that read-modify-write transactions take the write lock
up front instead of failing with "database is locked" at their first write; the writes
of one process take turns on an asyncio lock first (waiting at most the pool timeout,
like a PostgreSQL write waiting for a pooled connection), so the busy timeout only ever
waits for another process (a predecessor, a tool).

PostgreSQL sessions carry their timeouts, keepalives and an `application_name` of
`<service>/<node>` (`storage/timeouts.py`), which lets a new master end its
predecessor's sessions (`storage/fencing.py`).

MySQL/MariaDB (`mysql+asyncmy://`) runs READ COMMITTED (as PostgreSQL does: each
statement sees what was committed before it, so a guarded update and the reads after a
lock see the newest rows), a strict `sql_mode` (an out-of-range or too-long value is an
error, never a silent truncation), utf8mb4 on the connection, the lock timeout as
`innodb_lock_wait_timeout`, server-side prepared statements (asyncmy's statement cache),
and recycles pooled connections before the server's `wait_timeout` closes them.

Errors of the database itself come out as storage errors (`storage/errors.py`): busy,
unreachable or timed out is `StorageUnavailableError`, a full disk `StorageFullError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage.dialects import MYSQL_FAMILY
from storage.errors import StorageError, StorageFullError, StorageUnavailableError
from storage.fencing import Fence, check_epoch, confirm, end_predecessors, pin
from storage.locks import release_session_locks
from storage.timeouts import DatabaseTimeouts

# asyncmy: the statements a connection keeps prepared on the server (the most recently used;
# asyncmy prepares every statement it is given a parameter list for, an empty one too),
# run by the binary protocol: nothing escaped into the text or parsed again, and an
# executemany INSERT sent to MariaDB as one COM_STMT_BULK_EXECUTE. A statement the server
# will not prepare runs as text (and stays text on that connection). Measured (issue 14):
# the ledger's CPU per decision on MariaDB, client and server, fell by a quarter. A batch
# of enrollments runs about a dozen statements (counted by cursor events); savepoints,
# numbered per connection, run as text (`_savepoints_as_text`). The server's
# `max_prepared_stmt_count` (16,382 by default) bounds the sum over every connection of
# every node: 64 for each of up to 15 pooled connections is 960 a service's node.
MYSQL_PREPARED_STATEMENTS = 64

_IMMEDIATE = "cs_begin_immediate"
_BUSY_MS = "cs_busy_ms"
# An unfenced write (a migration, a first start's seed rows, a tool) may wait this long
# for another process: nodes of one service starting together take turns. A master's
# fenced write waits only `timeouts.lock_seconds`, so a failover is never held up longer.
UNFENCED_WAIT_SECONDS = 30.0
_SQLITE_FULL = {sqlite3.SQLITE_FULL}
_SQLITE_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
# SQLSTATE classes: 53 insufficient resources (53100 disk full), 08 connection, 57 operator
# intervention (cancelled by statement_timeout, terminated), 55P03 lock_timeout,
# 25P03 idle-in-transaction timeout, 40 serialization failure or deadlock.
_PG_FULL = {"53100"}
_MYSQL_SQL_MODE = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE,NO_ENGINE_SUBSTITUTION"
# MySQL error numbers: 1205 lock wait timeout, 1213 deadlock, 1040 too many connections,
# 2002/2003 cannot connect, 2006/2013 server gone, 3024 statement time exceeded; full: 1021, 1114.
_MYSQL_BUSY = {1205, 1213, 1040, 2002, 2003, 2006, 2013, 3024}
_MYSQL_FULL = {1021, 1114}
_PG_BUSY_PREFIXES = ("53", "08", "57", "55P03", "25P03", "40")


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        echo: bool = False,
        timeouts: DatabaseTimeouts | None = None,
        name: str = "",
        schema: str = "",
    ) -> None:
        """`schema` (PostgreSQL): keep every table of this database object in that schema,
        so that several services can share one database without their tables meeting."""
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_mysql = self.url.get_backend_name() in MYSQL_FAMILY
        self.is_postgres = not self.is_sqlite and not self.is_mysql
        self.schema = schema
        self.timeouts = timeouts or DatabaseTimeouts()
        self.name = name  # "<service>/<node>": the PostgreSQL application_name
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": not self.is_sqlite}
        if schema and not self.is_postgres:
            raise ValueError("only a PostgreSQL database has schemas: give each service its own database")
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": UNFENCED_WAIT_SECONDS}
        elif self.is_mysql:
            kwargs.update(_mysql_options(self.timeouts, self.url.get_driver_name()))
            kwargs["pool_size"] = pool_size
        else:
            kwargs["pool_size"] = pool_size
            settings = self.timeouts.postgres_settings(name or "course-selection")
            if schema:
                settings["search_path"] = schema
            kwargs["connect_args"] = {
                "timeout": self.timeouts.connect_seconds,
                "command_timeout": self.timeouts.statement_seconds + self.timeouts.connect_seconds,
                "server_settings": settings,
            }
        if self.url.database != ":memory:":
            kwargs["pool_timeout"] = self.timeouts.pool_seconds
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._after_write: list[Callable[[], None]] = []
        self._writer = asyncio.Lock() if self.is_sqlite else None
        self._taken_over: dict[str, int] = {}  # scope -> the epoch whose predecessors were ended
        if self.is_mysql:
            _savepoints_as_text(self.engine.sync_engine.dialect)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a read transaction (rolled back at the end)."""
        opened = False
        try:
            async with self.engine.connect() as conn:
                opened = True
                yield conn
        except _FAILURES as error:
            if (translated := _translate(error, opened)) is None:
                raise
            raise translated from error

    @asynccontextmanager
    async def write(self, *, fence: Fence | None = None, foreign_keys: bool = True) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed if the block ends without an exception.

        With a `fence` (see `storage/fencing.py`) the transaction first records its
        epoch as the newest for its scope, or raises StaleEpochError if a newer one was
        seen; a callable fence is asked again just before COMMIT and the transaction is
        rolled back (LeaseEndedError) if the lease ended or changed while it ran.
        `foreign_keys=False` (SQLite) runs it with foreign key actions off, as a table
        rebuild needs (SQLite cannot switch them inside a transaction); the caller checks
        `PRAGMA foreign_key_check` before it ends.
        """
        toggle = self.is_sqlite and not foreign_keys
        pinned = pin(fence) if fence is not None else None
        if pinned is not None and self.is_postgres and self._taken_over.get(pinned[0]) != pinned[1]:
            await self.end_predecessors(pinned[0])
            self._taken_over[pinned[0]] = pinned[1]
        fenced = fence is not None
        busy = self.timeouts.lock_seconds if fenced else UNFENCED_WAIT_SECONDS  # another process
        turn = self.timeouts.pool_seconds if fenced else UNFENCED_WAIT_SECONDS  # this process's queue
        opened = False
        try:
            async with self._turn(turn), self.engine.connect() as conn:
                opened = True
                if toggle:
                    await conn.run_sync(_sqlite_foreign_keys, False)
                try:
                    await conn.execution_options(**{_IMMEDIATE: True, _BUSY_MS: round(busy * 1000)})
                    transaction = await conn.begin()
                    try:
                        if pinned is not None:
                            await check_epoch(conn, *pinned)
                        yield conn
                        if fence is not None and pinned is not None:
                            confirm(fence, pinned)  # no await between this and COMMIT
                    except BaseException:
                        # The reason stands even when the session is gone (a new master ended it).
                        with contextlib.suppress(*_FAILURES):
                            await transaction.rollback()
                        raise
                    await transaction.commit()
                finally:
                    if self.is_mysql:
                        await release_session_locks(conn)
                    if toggle:
                        await conn.run_sync(_sqlite_foreign_keys, True)
        except _FAILURES as error:
            if (translated := _translate(error, opened)) is None:
                raise
            raise translated from error
        for callback in self._after_write:
            callback()

    async def end_predecessors(self, scope: str) -> list[str]:
        """PostgreSQL: end the sessions of `scope`'s other nodes still inside a fenced write.

        Called by the first write at each new epoch; a new master may call it as soon as
        it takes over. Returns the sessions ended (none on SQLite: a frozen process's
        lock cannot be broken from outside; the node's watchdog ends that process).
        """
        if not self.is_postgres:
            return []
        try:
            async with self.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                return await end_predecessors(conn, scope, self.name)
        except _FAILURES as error:
            if (translated := _translate(error, False)) is None:
                raise
            raise translated from error

    def _turn(self, wait: float) -> AbstractAsyncContextManager[object]:
        """SQLite: wait (at most `wait` seconds) for this process's one writer at a time."""
        return _Turn(self._writer, wait) if self._writer is not None else nullcontext()

    def after_write(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every committed write through this object (a cache to drop)."""
        self._after_write.append(callback)

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def _mysql_options(timeouts: DatabaseTimeouts, driver: str) -> dict[str, Any]:
    lock = max(1, round(timeouts.lock_seconds))
    session = (
        f"SET SESSION sql_mode = '{_MYSQL_SQL_MODE}', innodb_lock_wait_timeout = {lock}, "
        "group_concat_max_len = 4294967295"  # (JSON_ARRAYAGG's limit: `dialects.select_many`)
    )
    connect_args: dict[str, Any] = {
        "charset": "utf8mb4",
        "init_command": session,
        "connect_timeout": max(1, round(timeouts.connect_seconds)),
    }
    if driver == "asyncmy":
        connect_args["stmt_cache_size"] = MYSQL_PREPARED_STATEMENTS
    return {"isolation_level": "READ COMMITTED", "pool_recycle": 3600, "connect_args": connect_args}


def _savepoints_as_text(dialect: Dialect) -> None:
    """MySQL/MariaDB: this engine's SAVEPOINT, RELEASE and ROLLBACK TO as text, never prepared.
    SQLAlchemy runs them with an empty parameter list, which asyncmy's statement cache takes
    for a statement to prepare, and it numbers each connection's savepoints (`sa_savepoint_1`,
    `_2`...): each would be a statement of its own, prepared for one use (two round trips for
    one), pushing the statements worth keeping out of the cache. Found by review: a batch of
    60 drops and swaps prepared about 100 statements; one of enrollments, none."""
    quote = dialect.identifier_preparer.quote

    def run(connection: Connection, statement: str) -> None:
        connection.exec_driver_sql(statement, execution_options={"no_parameters": True})

    def savepoint(connection: Connection, name: str) -> None:
        run(connection, f"SAVEPOINT {quote(name)}")

    def release(connection: Connection, name: str) -> None:
        run(connection, f"RELEASE SAVEPOINT {quote(name)}")

    def rollback_to(connection: Connection, name: str) -> None:
        run(connection, f"ROLLBACK TO SAVEPOINT {quote(name)}")

    dialect.do_savepoint = savepoint  # type: ignore[method-assign]
    dialect.do_release_savepoint = release  # type: ignore[method-assign]
    dialect.do_rollback_to_savepoint = rollback_to  # type: ignore[method-assign]


def _sqlite_foreign_keys(conn: Any, on: bool) -> None:
    """Outside a transaction (SQLite ignores the pragma inside one)."""
    cursor = conn.connection.dbapi_connection.cursor()
    cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    cursor.close()


class _Turn:
    def __init__(self, lock: asyncio.Lock, timeout: float) -> None:
        self._lock = lock
        self._timeout = timeout

    async def __aenter__(self) -> object:
        try:
            async with asyncio.timeout(self._timeout):
                await self._lock.acquire()
        except TimeoutError:
            raise StorageUnavailableError(f"the database was busy writing for {self._timeout:g} s") from None
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._lock.release()


_FAILURES = (exc.DBAPIError, exc.TimeoutError, OSError)


def _translate(error: BaseException, opened: bool) -> StorageError | None:
    """A database failure as a storage error; None for anything else (a constraint...).

    An OSError counts only while connecting (`opened` false), except a timeout (asyncpg's
    `command_timeout`): the block's own file work is not the database's.
    """
    if isinstance(error, exc.TimeoutError):
        return StorageUnavailableError(f"no database connection free: {error}")
    if isinstance(error, TimeoutError):
        return StorageUnavailableError("the database did not answer in time")
    if isinstance(error, OSError):
        if opened:
            return None
        if error.errno == errno.ENOSPC:
            return StorageFullError(f"the database's disk is full: {error}")
        return StorageUnavailableError(f"the database cannot be reached: {error}")
    if not isinstance(error, exc.DBAPIError):
        return None
    orig = error.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        if code & 0xFF in _SQLITE_FULL:
            return StorageFullError(f"the database's disk is full: {orig}")
        if code & 0xFF in _SQLITE_BUSY:
            return StorageUnavailableError(f"the database is busy or failing: {orig}")
        return None
    if is_mysql_error(error):
        number = orig.args[0] if orig is not None and orig.args and isinstance(orig.args[0], int) else 0
        if number in _MYSQL_FULL:
            return StorageFullError(f"the database's disk is full: {_first_line(orig)}")
        if number in _MYSQL_BUSY or error.connection_invalidated:
            return StorageUnavailableError(f"the database is busy or failing: {_first_line(orig)}")
        return None
    state = str(getattr(orig, "sqlstate", "") or getattr(orig, "pgcode", "") or "")
    if state in _PG_FULL:
        return StorageFullError(f"the database's disk is full: {_first_line(orig)}")
    if state.startswith(_PG_BUSY_PREFIXES) or error.connection_invalidated:
        return StorageUnavailableError(f"the database is busy or failing: {_first_line(orig)}")
    if isinstance(error, (exc.OperationalError, exc.InterfaceError)) and not state:
        return StorageUnavailableError(f"the database cannot be reached: {_first_line(orig)}")
    return None


def is_mysql_error(error: exc.DBAPIError) -> bool:
    return type(error.orig).__module__.startswith(("asyncmy", "pymysql", "aiomysql"))


def _first_line(value: object) -> str:
    return str(value).strip().splitlines()[0] if str(value).strip() else type(value).__name__


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is a plain BEGIN).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.execute(f"PRAGMA busy_timeout={round(UNFENCED_WAIT_SECONDS * 1000)}")
    cursor.close()
    connection_record.info[_BUSY_MS] = round(UNFENCED_WAIT_SECONDS * 1000)


def _sqlite_begin(conn: Any) -> None:
    options = conn.get_execution_options()
    busy_ms = options.get(_BUSY_MS)
    info = conn.connection.info  # this pooled connection's own record
    if busy_ms is not None and info.get(_BUSY_MS) != busy_ms:  # set only when it changes
        conn.exec_driver_sql(f"PRAGMA busy_timeout={int(busy_ms)}")
        info[_BUSY_MS] = busy_ms
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_IMMEDIATE, False) else "BEGIN")
