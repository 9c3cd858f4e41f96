"""The revocation outbox: recorded with the sessions' end, delivered to the replicated list until Raft takes it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cluster.errors import LeaseNotHeldError, RaftError
from cluster.model import ClusterModel
from services.login.revocations import Revocations
from storage.database import Database
from storage.migrations import migrate
from storage.schemas import MIGRATIONS
from storage.schemas.login import session_revocations


class Raft:
    """The replicated model behind a Raft that can lose its quorum (fail) or hang (a deposed leader)."""

    def __init__(self) -> None:
        self.model = ClusterModel()
        self.failing = False
        self.hanging = False
        self.proposals = 0

    async def revoke(self, session_ids: list[str], until: float, now: float) -> None:
        self.proposals += 1
        if self.hanging:
            await asyncio.Event().wait()
        if self.failing:
            raise RaftError("missing_leader")
        self.model.revoke_sessions(session_ids, until, now)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'login.db'}")
    await migrate(database, MIGRATIONS["login"])
    yield database
    await database.close()


async def pending(db: Database) -> list[str]:
    async with db.read() as conn:
        query = select(session_revocations.c.session_id).where(session_revocations.c.delivered_at.is_(None))
        return sorted(r.session_id for r in await conn.execute(query))


async def drained(db: Database, seconds: float = 10) -> None:
    """Wait (with a deadline) until nothing is pending."""
    for _ in range(int(seconds / 0.02)):
        if not await pending(db):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still pending: {await pending(db)}")


async def test_a_revocation_is_recorded_in_the_transaction_that_ends_the_session(db: Database) -> None:
    raft = Raft()
    revocations = Revocations(db, raft.revoke, lambda: True, clock=lambda: 100.0)

    async def failing_change() -> None:
        async with db.write() as conn:
            await revocations.record(conn, ["rolled-back"], 3700.0, 100.0)
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with db.write() as conn:
        await revocations.record(conn, ["s1", "s2"], 3700.0, 100.0)
    assert await pending(db) == ["s1", "s2"]  # the rolled-back one was never recorded
    assert await revocations.push(["s1", "s2"]) is True
    assert await pending(db) == []
    assert raft.model.session_revoked("s1", 200.0)
    assert raft.model.session_revoked("s2", 200.0)
    assert not raft.model.session_revoked("s1", 3700.0)  # kept as long as a token could live


async def test_without_quorum_the_push_does_not_raise_and_the_master_delivers_later(db: Database) -> None:
    raft, master = Raft(), [False]
    revocations = Revocations(db, raft.revoke, lambda: master[0], clock=lambda: 100.0)
    async with db.write() as conn:
        await revocations.record(conn, ["s1"], 3700.0, 100.0)
    raft.failing = True
    assert await revocations.push(["s1"]) is False  # the route answers for its committed change
    raft.hanging, raft.failing = True, False
    assert await revocations.push(["s1"]) is False  # a leader that never answers: bounded, not stuck
    assert await pending(db) == ["s1"]
    with pytest.raises(LeaseNotHeldError):
        await revocations.deliver_due()  # only the master delivers
    master[0] = True
    with pytest.raises(TimeoutError):
        await revocations.deliver_due()
    assert [m.samples[0].value for m in revocations.collect()] == [1.0]  # the alert gauge
    raft.hanging = False
    assert await revocations.deliver_due() == 1
    assert raft.model.session_revoked("s1", 200.0)
    assert await pending(db) == []
    assert await revocations.deliver_due() == 0  # delivered once: nothing proposed again
    assert raft.proposals == 4
    assert [m.samples[0].value for m in revocations.collect()] == [0.0]


async def test_the_master_loop_delivers_once_raft_is_back_and_forgets_expired_rows(db: Database) -> None:
    raft, now = Raft(), [100.0]
    revocations = Revocations(db, raft.revoke, lambda: True, clock=lambda: now[0])
    raft.failing = True
    async with db.write() as conn:
        await revocations.record(conn, ["old"], 150.0, 100.0)
        await revocations.record(conn, ["new"], 3700.0, 100.0)
    loop = asyncio.create_task(revocations.run())
    try:
        await asyncio.sleep(0.3)  # a few failed turns (the loop keeps going)
        assert await pending(db) == ["new", "old"]
        raft.failing = False
        await drained(db)
        assert raft.model.session_revoked("new", 200.0)
        now[0] = 200.0
        async with db.write() as conn:
            await revocations.record(conn, ["later"], 3800.0, 200.0)
        revocations.wake()
        await drained(db)
    finally:
        revocations.stop()
        await loop
    async with db.read() as conn:
        left = sorted(r.session_id for r in await conn.execute(select(session_revocations.c.session_id)))
    assert left == ["later", "new"]  # "old" guards nothing past 150: forgotten
