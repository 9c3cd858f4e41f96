"""SIGSTOP inside a fenced transaction: the woken writer, its lease over, rolls back.

A child process holds a one-second lease by its own monotonic clock (as MasterRole
does), opens a fenced write, inserts a row and says so; the test stops it with SIGSTOP
for longer than the lease, then lets it go on to COMMIT. Nobody else wrote meanwhile, so
only the re-check before COMMIT can refuse it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.database import Database
from tests.support import ROOT, wait_until

CHILD = """
import asyncio, sys, time
from storage.database import Database
from storage.errors import LeaseEndedError
from storage.migrations import migrate
from storage.schemas.core import MIGRATIONS, write_checks

async def main(url):
    db = Database(url, name="course_data/frozen")
    await migrate(db, MIGRATIONS)
    valid_until = time.monotonic() + 60  # until inside the transaction, then one second

    def fence():
        if time.monotonic() >= valid_until:
            raise RuntimeError("lease over")
        return "course_data", 1

    try:
        async with db.write(fence=fence) as conn:
            await conn.execute(write_checks.insert().values(node_id="frozen", epoch=1, written_at=time.time()))
            valid_until = time.monotonic() + 1.0
            print("inside", flush=True)
            await asyncio.to_thread(sys.stdin.readline)  # stopped here by the test, then told to go on
    except LeaseEndedError:
        print("rolled back", flush=True)
        return 3
    finally:
        await db.close()
    print("committed", flush=True)
    return 0

sys.exit(asyncio.run(main(sys.argv[1])))
"""
_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'frozen.db'}"
    dsn: str = request.getfixturevalue("postgres_dsn")
    name = f"frozen{next(_names)}_{os.getpid()}"

    async def create() -> None:
        admin = Database(f"{dsn}/postgres")
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"CREATE DATABASE {name}"))
        await admin.close()

    asyncio.run(create())
    return f"{dsn}/{name}"


def rows(url: str) -> list[str]:
    async def read() -> list[str]:
        db = Database(url)
        try:
            async with db.read() as conn:
                return list((await conn.execute(text("SELECT node_id FROM write_checks"))).scalars())
        finally:
            await db.close()

    return asyncio.run(read())


def test_a_writer_woken_after_its_lease_rolls_back_and_never_commits(url: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, url], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        _run(child)
    assert rows(url) == []


def _run(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "inside"
        os.kill(child.pid, signal.SIGSTOP)
        wait_until(lambda: _state(child.pid) == "T", 10, "the writer stopped")
        time.sleep(1.5)  # the fault itself: frozen for longer than the one-second lease
        child.stdin.write("go\n")
        child.stdin.flush()
        os.kill(child.pid, signal.SIGCONT)
        assert child.wait(60) == 3, child.stdout.read()
        assert child.stdout.read().strip() == "rolled back"
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
            child.wait()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
