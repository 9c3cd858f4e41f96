"""Which database family a connection speaks, for the few statements that differ.

MySQL and MariaDB share one family: SQLAlchemy names the dialect `mysql` for either
server behind a `mysql+asyncmy://` URL, and `mariadb` behind `mariadb+asyncmy://`.
Tables carry `MYSQL_TABLE` so that text is utf8mb4 compared byte by byte on those
servers, as it is on SQLite and PostgreSQL (the servers' default collations ignore case).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Dialect

MYSQL_FAMILY = frozenset({"mysql", "mariadb"})
MYSQL_TABLE: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def is_mysql(dialect: Dialect) -> bool:
    return dialect.name in MYSQL_FAMILY
