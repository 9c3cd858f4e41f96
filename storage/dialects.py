"""Which database family a connection speaks, for the few statements that differ.

MySQL and MariaDB share one family: SQLAlchemy names the dialect `mysql` for either
server behind a `mysql+asyncmy://` URL, and `mariadb` behind `mariadb+asyncmy://`.
Tables carry `MYSQL_TABLE` so that text is utf8mb4 compared byte by byte on those
servers, as it is on SQLite and PostgreSQL (the servers' default collations ignore case).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, Text, any_, bindparam
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

MYSQL_FAMILY = frozenset({"mysql", "mariadb"})
# Text of any length: MySQL's TEXT holds 64 KiB, LONGTEXT 4 GiB (SQLite and PostgreSQL have no such limit).
LONG_TEXT = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
MYSQL_TABLE: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def is_mysql(dialect: Dialect) -> bool:
    return dialect.name in MYSQL_FAMILY


def among(dialect: Dialect, column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(:array)`: one parameter, whatever the
    number of values, so the statement's text (and asyncpg's prepared statement) is reused
    instead of rendering, binding and preparing a new one for each length."""
    if dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


async def insert_new(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows`, keeping (not failing on) those whose key is already there.

    One small statement executed for many rows (executemany): a multi-row VALUES clause
    of thousands of rows costs the event loop seconds to compile."""
    if is_mysql(conn.dialect):  # (not INSERT IGNORE: that would also turn strict-mode errors into warnings)
        stmt = mysql.insert(table)
        key = table.primary_key.columns.values()[0].name
        await conn.execute(stmt.on_duplicate_key_update({key: stmt.inserted[key]}), list(rows))
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(insert(table).on_conflict_do_nothing(), list(rows))
