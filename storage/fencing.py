"""The fencing rule: a database refuses a write whose epoch is older than the newest seen,
and a writer whose lease ended while its transaction ran rolls back instead of committing.

Every grant of a master lease carries a larger epoch than the one before. A master
passes its fence with each write: normally a callable (the master role's `fence`) that
returns `(scope, epoch)` and raises unless this node holds a valid lease now. The write
calls it when it begins, records the epoch in the write's own transaction (refusing an
older one), and calls it again just before COMMIT: if the lease ended or the epoch
changed meanwhile, the transaction is rolled back (`LeaseEndedError`). So a master
frozen inside a transaction (SIGSTOP, a stalled VM) that wakes after its lease never
commits, even when its successor has not written yet.

A plain `(scope, epoch)` tuple pins an epoch without the re-check: for tools and tests
that exercise the database's own rule.

On PostgreSQL the first write at a new epoch also ends the sessions of the same
service's other nodes that still hold the fencing row (`end_predecessors`): a frozen,
cut-off or dead predecessor's open transaction would otherwise hold that lock until a
timeout.

A write at the epoch already recorded only share-locks the row (`check_epoch`); the first
write at a new epoch upserts it.

On MySQL/MariaDB the upsert keeps the larger epoch and reports the row's epoch through
`LAST_INSERT_ID(expr)` in the same statement's answer: its affected-row count cannot tell
a refusal from a repeat of the same epoch (both leave the row unchanged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialects import MYSQL_TABLE, is_mysql
from storage.errors import LeaseEndedError, StaleEpochError

log = logging.getLogger("course_selection.storage")

FenceSource = Callable[[], tuple[str, int]]
Fence = FenceSource | tuple[str, int]

metadata = MetaData()

fencing_epochs = Table(
    "fencing_epochs",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("epoch", Integer, nullable=False),
    **MYSQL_TABLE,
)

# Backends of this service's other nodes (application_name "<service>/<node>") that hold
# a lock on fencing_epochs, i.e. are inside a fenced write: only a deposed master can be.
_PREDECESSORS = text(
    """
    SELECT a.pid, a.application_name, pg_terminate_backend(a.pid) AS ended
    FROM pg_stat_activity a
    WHERE a.datname = current_database()
      AND a.pid <> pg_backend_pid()
      AND left(a.application_name, length(:prefix)) = :prefix
      AND a.application_name <> :me
      AND a.pid IN (SELECT l.pid FROM pg_locks l WHERE l.relation = 'fencing_epochs'::regclass)
    """
)


def pin(fence: Fence) -> tuple[str, int]:
    """The `(scope, epoch)` a write starts with (the source raises if not master now)."""
    return fence() if callable(fence) else fence


def confirm(fence: Fence, pinned: tuple[str, int]) -> None:
    """Just before COMMIT: raise LeaseEndedError unless the lease still holds at the same epoch."""
    if not callable(fence):
        return
    try:
        now = fence()
    except Exception as exc:  # the source raises when this node is no longer master
        raise LeaseEndedError(*pinned) from exc
    if now != pinned:
        raise LeaseEndedError(*pinned)


async def check_epoch(conn: AsyncConnection, scope: str, epoch: int) -> None:
    """Record `epoch` as the newest for `scope`, or raise StaleEpochError if one is newer.

    Most writes come from a master whose epoch is already recorded: for them a shared row
    lock on the epoch's row is enough (a read, no new row version, and the writes of one
    master do not queue behind each other). A successor's upsert of a newer epoch waits
    for every such lock, so a deposed master's open transaction still ends before its
    successor's first write, as with the upsert. Only a row at least as new as `epoch` is
    locked: a master at a new epoch takes no shared lock before its upsert, so two of its
    first writes cannot deadlock upgrading their locks.
    """
    if await _recorded(conn, scope, epoch):
        return
    if is_mysql(conn.dialect):
        await _check_epoch_mysql(conn, scope, epoch)
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(fencing_epochs).values(scope=scope, epoch=epoch)
    stmt = stmt.on_conflict_do_update(
        index_elements=[fencing_epochs.c.scope],
        set_={"epoch": stmt.excluded.epoch},
        where=fencing_epochs.c.epoch <= stmt.excluded.epoch,
    )
    result = await conn.execute(stmt)
    if result.rowcount == 0:
        raise StaleEpochError(scope, epoch)


async def _recorded(conn: AsyncConnection, scope: str, epoch: int) -> bool:
    """True if `epoch` is the recorded one (now share-locked); StaleEpochError if a newer one is."""
    query = select(fencing_epochs.c.epoch).where(fencing_epochs.c.scope == scope, fencing_epochs.c.epoch >= epoch)
    if conn.dialect.name != "sqlite":  # (SQLite: BEGIN IMMEDIATE already holds the database's write lock)
        query = query.with_for_update(read=True)
    recorded = (await conn.execute(query)).scalar_one_or_none()
    if recorded is not None and recorded > epoch:
        raise StaleEpochError(scope, epoch)
    return recorded == epoch


async def _check_epoch_mysql(conn: AsyncConnection, scope: str, epoch: int) -> None:
    stmt = mysql.insert(fencing_epochs).values(scope=scope, epoch=epoch)
    newest = func.greatest(fencing_epochs.c.epoch, stmt.inserted.epoch)
    stmt = stmt.on_duplicate_key_update(epoch=func.last_insert_id(newest))
    result = await conn.execute(stmt)
    # A new row reports 0 (nothing was read); an existing one reports the epoch it now holds.
    if result.lastrowid > epoch:
        raise StaleEpochError(scope, epoch)


async def end_predecessors(conn: AsyncConnection, scope: str, application_name: str) -> list[str]:
    """PostgreSQL: terminate the other nodes' sessions of `scope` inside a fenced write.

    Needs the same role as those sessions (or pg_signal_backend); without it this logs
    and returns nothing, and the predecessor's locks go with its idle timeout instead.
    """
    try:
        rows = (await conn.execute(_PREDECESSORS, {"prefix": f"{scope}/", "me": application_name})).all()
    except Exception as exc:  # permission denied, or the table is not there yet
        log.warning("could not end the predecessor's sessions", extra={"scope": scope, "error": str(exc)})
        return []
    ended = [f"{row.application_name} (pid {row.pid})" for row in rows if row.ended]
    if ended:
        log.warning("ended the sessions of a deposed master", extra={"scope": scope, "sessions": ended})
    return ended
