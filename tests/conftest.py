"""Shared fixtures: a real redis-server, real PostgreSQL and MariaDB servers where installed, a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from cluster.redis_server import PrivateRedis
from ops.dbservers import mariadb_bin, postgres_bin, private_mariadb, private_postgres
from tests.support import Processes, free_port


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = PrivateRedis("redis-server", free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN (asyncpg, no database) of a PostgreSQL server started for this test session."""
    if postgres_bin() is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): PostgreSQL tests not run")
    with private_postgres(free_port()) as server:
        yield server.url


@pytest.fixture(scope="session")
def mariadb_dsn() -> Iterator[str]:
    """URL (asyncmy, no database) of a private MariaDB server started for this test session:
    its own datadir and socket in a temporary directory, loopback only, no grant tables."""
    if mariadb_bin() is None:
        pytest.skip("no MariaDB server binaries (mariadb-install-db, mariadbd): MariaDB tests not run")
    with private_mariadb(free_port()) as server:
        yield server.url


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    tracker = Processes(tmp_path)
    try:
        yield tracker
    finally:
        tracker.stop_all()


@dataclass
class MailCatcher:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[list[str]] = field(default_factory=list)  # RCPT TO of each message: who really got it

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append(list(envelope.rcpt_tos))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


@pytest.fixture
def smtp_server() -> Iterator[MailCatcher]:
    catcher = MailCatcher(free_port())
    controller = Controller(catcher, hostname="127.0.0.1", port=catcher.port)
    controller.start()
    try:
        yield catcher
    finally:
        controller.stop()
