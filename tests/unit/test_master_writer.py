"""The master's one fenced write: it commits as the master, and a refused write steps the node down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cluster.errors import EpochChangedError, LeaseNotHeldError
from cluster.master_writer import STEP_DOWN_REASON, MasterWriter
from storage.database import Database
from storage.errors import LeaseEndedError, StaleEpochError
from storage.migrations import migrate
from storage.schemas.core import MIGRATIONS, write_checks


class Master:
    """A lease that tests move: an epoch, or none."""

    def __init__(self, epoch: int | None = 1) -> None:
        self.epoch = epoch
        self.step_downs: list[str] = []

    def fence(self) -> tuple[str, int]:
        if self.epoch is None:
            raise LeaseNotHeldError("not the master")
        return "tests", self.epoch

    def step_down(self, reason: str) -> None:
        self.step_downs.append(reason)
        self.epoch = None


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'writer.db'}")
    await migrate(database, MIGRATIONS)
    yield database
    await database.close()


async def rows(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(write_checks))).scalar_one())


async def insert(writer: MasterWriter, **options: object) -> None:
    async with writer.write(**options) as conn:  # type: ignore[arg-type]
        await conn.execute(write_checks.insert().values(node_id="n", epoch=1, written_at=0.0))


async def test_the_master_writes_and_a_node_that_is_not_master_does_not(db: Database) -> None:
    master = Master()
    await insert(MasterWriter(db, master))
    master.epoch = None
    with pytest.raises(LeaseNotHeldError):
        await insert(MasterWriter(db, master))
    assert await rows(db) == 1
    assert master.step_downs == []  # not being master is not being deposed


async def test_a_write_refused_by_a_newer_epoch_steps_the_node_down(db: Database) -> None:
    async with db.write(fence=("tests", 5)):  # a newer master has written
        pass
    master = Master(epoch=4)
    with pytest.raises(StaleEpochError):
        await insert(MasterWriter(db, master))
    assert master.step_downs == [STEP_DOWN_REASON]
    assert await rows(db) == 0


async def test_a_lease_that_ends_inside_the_transaction_rolls_back_and_steps_down(db: Database) -> None:
    master = Master()

    async def lapsing() -> None:
        async with MasterWriter(db, master).write() as conn:
            await conn.execute(write_checks.insert().values(node_id="n", epoch=1, written_at=0.0))
            master.epoch = None  # the lease lapsed (a frozen master woke up)

    with pytest.raises(LeaseEndedError):
        await lapsing()
    assert master.step_downs == [STEP_DOWN_REASON]
    assert await rows(db) == 0


async def test_a_task_of_an_older_epoch_stops_without_deposing_the_newer_master(db: Database) -> None:
    master = Master(epoch=2)  # lost the lease and won it back since the task started at 1
    with pytest.raises(EpochChangedError):
        await insert(MasterWriter(db, master), epoch=1)
    writer = MasterWriter(db, master)
    await insert(writer)  # the database has seen epoch 2 now
    with pytest.raises(StaleEpochError):
        await insert(writer, pinned=("tests", 1))
    assert master.step_downs == []
    assert await rows(db) == 1


async def test_a_pinned_epoch_reaches_the_database_without_a_lease(db: Database) -> None:
    async with db.write(fence=("tests", 3)):
        pass
    master = Master(epoch=None)  # (the failpoint: paused past its lease, then writes)
    with pytest.raises(StaleEpochError):
        await insert(MasterWriter(db, master), pinned=("tests", 2))
    assert master.step_downs == [STEP_DOWN_REASON]
