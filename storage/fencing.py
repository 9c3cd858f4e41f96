"""The fencing rule: a database refuses a write whose epoch is older than the newest seen.

Every grant of a master lease carries a larger epoch than the one before. A master
passes its epoch with each write; the check and the bump happen in the write's own
transaction, so a deposed master whose lease expired unnoticed can never commit once
its successor has written.

On MySQL/MariaDB the upsert keeps the larger epoch and reports the row's epoch through
`LAST_INSERT_ID(expr)` in the same statement's answer: its affected-row count cannot tell
a refusal from a repeat of the same epoch (both leave the row unchanged).
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, func
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialects import MYSQL_TABLE, is_mysql
from storage.errors import StaleEpochError

metadata = MetaData()

fencing_epochs = Table(
    "fencing_epochs",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("epoch", Integer, nullable=False),
    **MYSQL_TABLE,
)


async def check_epoch(conn: AsyncConnection, scope: str, epoch: int) -> None:
    """Record `epoch` as the newest for `scope`, or raise StaleEpochError if one is newer."""
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


async def _check_epoch_mysql(conn: AsyncConnection, scope: str, epoch: int) -> None:
    stmt = mysql.insert(fencing_epochs).values(scope=scope, epoch=epoch)
    newest = func.greatest(fencing_epochs.c.epoch, stmt.inserted.epoch)
    stmt = stmt.on_duplicate_key_update(epoch=func.last_insert_id(newest))
    result = await conn.execute(stmt)
    # A new row reports 0 (nothing was read); an existing one reports the epoch it now holds.
    if result.lastrowid > epoch:
        raise StaleEpochError(scope, epoch)
