"""The fencing rule: a database refuses a write whose epoch is older than the newest seen.

Every grant of a master lease carries a larger epoch than the one before. A master
passes its epoch with each write; the check and the bump happen in the write's own
transaction, so a deposed master whose lease expired unnoticed can never commit once
its successor has written.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.errors import StaleEpochError

metadata = MetaData()

fencing_epochs = Table(
    "fencing_epochs",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("epoch", Integer, nullable=False),
)


async def check_epoch(conn: AsyncConnection, scope: str, epoch: int) -> None:
    """Record `epoch` as the newest for `scope`, or raise StaleEpochError if one is newer."""
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
