"""New empty databases on SQLite or on the suite's PostgreSQL and MariaDB servers (conftest)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from ops.dbservers import create_database

KINDS = ("sqlite", "postgres", "mariadb")
_counter = itertools.count()


def server_url(request: pytest.FixtureRequest, kind: str) -> str:
    """The URL (no database) of the suite's server of `kind`; skips where it is not installed."""
    return str(request.getfixturevalue("postgres_dsn" if kind == "postgres" else "mariadb_dsn"))


async def new_database(request: pytest.FixtureRequest, kind: str, folder: Path) -> str:
    """The URL of a new empty database of `kind` (a file in `folder` for SQLite)."""
    name = f"t{os.getpid()}_{next(_counter)}"
    if kind == "sqlite":
        return await create_database("sqlite", None, folder, name)
    return await create_database("postgresql" if kind == "postgres" else kind, server_url(request, kind), folder, name)
