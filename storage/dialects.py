"""Which database family a connection speaks, for the few statements that differ.

MySQL and MariaDB share one family: SQLAlchemy names the dialect `mysql` for either
server behind a `mysql+asyncmy://` URL, and `mariadb` behind `mariadb+asyncmy://`.
Tables carry `MYSQL_TABLE` so that text is utf8mb4 compared byte by byte on those
servers, as it is on SQLite and PostgreSQL (the servers' default collations ignore case).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

MYSQL_FAMILY = frozenset({"mysql", "mariadb"})
MYSQL_TABLE: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def is_mysql(dialect: Dialect) -> bool:
    return dialect.name in MYSQL_FAMILY


async def insert_new(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows`, keeping (not failing on) those whose key is already there."""
    if is_mysql(conn.dialect):  # (not INSERT IGNORE: that would also turn strict-mode errors into warnings)
        stmt = mysql.insert(table).values(list(rows))
        key = table.primary_key.columns.values()[0].name
        await conn.execute(stmt.on_duplicate_key_update({key: stmt.inserted[key]}))
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(insert(table).values(list(rows)).on_conflict_do_nothing())
