"""Shared fixtures: a real redis-server, real PostgreSQL and MariaDB servers where installed, a real SMTP server."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from cluster.redis_server import PrivateRedis
from tests.support import Processes, free_port, wait_until


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = PrivateRedis("redis-server", free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN (asyncpg) of a PostgreSQL server started for this test session."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): PostgreSQL tests not run")
    root = Path(tempfile.mkdtemp(prefix="cs-pg-"))
    port = free_port()
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    run = lambda *cmd: subprocess.run([*as_postgres, *cmd], check=True, capture_output=True)  # noqa: E731
    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _mariadb_bin() -> tuple[str, str] | None:
    install = shutil.which("mariadb-install-db")
    server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
    return (install, server) if install and server else None


@pytest.fixture(scope="session")
def mariadb_dsn() -> Iterator[str]:
    """URL (asyncmy, no database) of a private MariaDB server started for this test session.

    Its own datadir and socket in a temporary directory, loopback only, no grant tables
    (any user may do anything: it is the suite's alone), utf8mb4 by default.
    """
    found = _mariadb_bin()
    if found is None:
        pytest.skip("no MariaDB server binaries (mariadb-install-db, mariadbd): MariaDB tests not run")
    install, server = found
    root = Path(tempfile.mkdtemp(prefix="cs-mariadb-"))
    as_mysql: list[str] = []
    if os.geteuid() == 0:  # mariadbd refuses to run as root: it switches to `mysql` itself
        shutil.chown(root, "mysql", "mysql")
        as_mysql = ["--user=mysql"]
    data, port = root / "data", free_port()
    install_db = [install, "--no-defaults", *as_mysql, f"--datadir={data}", "--skip-test-db"]
    subprocess.run([*install_db, "--auth-root-authentication-method=normal"], check=True, capture_output=True)
    command = [
        server,
        "--no-defaults",
        *as_mysql,
        f"--datadir={data}",
        f"--socket={root / 'sock'}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        "--skip-grant-tables",
        "--skip-name-resolve",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_bin",
        "--innodb-flush-log-at-trx-commit=2",
        f"--log-error={root / 'log'}",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _accepts(port) or process.poll() is not None, timeout=60, what="MariaDB to listen")
        if process.poll() is not None:
            log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
            pytest.fail(f"mariadbd exited with {process.returncode}: {log[-2000:]}")
        yield f"mysql+asyncmy://root@127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


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

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
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
