"""Tables every service's database has: fencing epochs and the masters' write checks."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table

from storage.fencing import fencing_epochs
from storage.migrations import Migration, create_tables

metadata = MetaData()

# One row per successful `POST /cluster/write-check`: proof that a master could commit.
write_checks = Table(
    "write_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("node_id", String(64), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("written_at", Float, nullable=False),
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "fencing epochs", create_tables(fencing_epochs)),
    Migration(2, "write checks", create_tables(write_checks)),
)
