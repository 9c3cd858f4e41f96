"""The import job machinery on a real SQLite database: lifecycle, one at a time, interrupted jobs."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from cluster.errors import LeaseNotHeldError
from cluster.master_writer import STEP_DOWN_REASON, MasterWriter
from services.common.auth import Principal
from services.common.jobs import MAX_LISTED_ERRORS, Job, JobRunner
from services.common.jobs_pool import WorkerPool
from services.common.problems import Conflict
from storage.database import Database
from storage.errors import StaleEpochError
from storage.migrations import migrate
from storage.schemas.core import MIGRATIONS, import_jobs, write_checks

ADMIN = Principal(1, "registrar", "admin", "sid", 0.0, False, False)


class Master:
    """A fence that tests can move: another epoch, or no lease at all."""

    def __init__(self) -> None:
        self.epoch: int | None = 1
        self.step_downs: list[str] = []

    def fence(self) -> tuple[str, int]:
        if self.epoch is None:
            raise LeaseNotHeldError("not the master")
        return "tests", self.epoch

    def step_down(self, reason: str) -> None:
        self.step_downs.append(reason)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    await migrate(database, MIGRATIONS)
    yield database
    await database.close()


@pytest.fixture
async def runner(db: Database) -> AsyncIterator[tuple[JobRunner, Master]]:
    master = Master()
    made = JobRunner(MasterWriter(db, master), "node-1", WorkerPool())
    yield made, master
    await made.close()


async def job_row(db: Database, job_id: int) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(import_jobs).where(import_jobs.c.id == job_id))).one()


async def wait_for_status(db: Database, job_id: int, status: str) -> None:
    """Within 10 s: the job's `_run` task has not necessarily run yet when `submit` returns."""
    async with asyncio.timeout(10.0):
        while True:
            if (await job_row(db, job_id)).status == status:
                return
            await asyncio.sleep(0.01)


async def written(db: Database) -> int:
    async with db.read() as conn:
        return len((await conn.execute(select(write_checks))).all())


async def test_a_job_runs_in_the_worker_reports_progress_and_commits_its_result(
    runner: tuple[JobRunner, Master], db: Database
) -> None:
    jobs, _ = runner
    seen: dict[str, Any] = {}

    async def work(job: Job) -> None:
        seen["worker_pid"] = await job.in_worker(os.getpid)
        await job.progress("validating", 5, 10)
        seen["progress"] = (await job_row(db, job.id)).rows_done
        async with job.writing() as conn:
            await conn.execute(write_checks.insert().values(node_id="n", epoch=1, written_at=0.0))
            job.result = {"created": 1}

    job = await jobs.submit("tests", ADMIN, work)
    assert (await job_row(db, job.id)).status in ("queued", "running")
    await jobs.idle()
    row = await job_row(db, job.id)
    assert (row.status, row.phase, orjson.loads(row.result)) == ("succeeded", "done", {"created": 1})
    assert (row.submitted_by, row.submitted_role, row.epoch) == ("registrar", "admin", 1)
    assert seen == {"worker_pid": seen["worker_pid"], "progress": 5}
    assert seen["worker_pid"] != os.getpid()  # the CPU work ran in another process
    assert await written(db) == 1


async def test_one_import_at_a_time(runner: tuple[JobRunner, Master], db: Database) -> None:
    jobs, _ = runner
    release = asyncio.Event()

    async def slow(job: Job) -> None:
        await release.wait()

    first = await jobs.submit("tests", ADMIN, slow)
    with pytest.raises(Conflict) as refused:
        await jobs.submit("tests", ADMIN, slow)
    assert refused.value.extra["job"] == first.url
    assert refused.value.headers["Retry-After"]
    release.set()
    await jobs.idle()
    second = await jobs.submit("tests", ADMIN, slow)  # free again
    await jobs.idle()
    assert (await job_row(db, second.id)).status == "succeeded"


async def test_errors_fail_the_job_listed_in_line_order_and_capped(
    runner: tuple[JobRunner, Master], db: Database
) -> None:
    jobs, _ = runner

    async def bad(job: Job) -> None:
        for line in range(MAX_LISTED_ERRORS + 10, 1, -1):
            job.problem(line, "code", "not a course code")
        job.refuse_if_errors()
        async with job.writing() as conn:  # never reached
            await conn.execute(write_checks.insert().values(node_id="n", epoch=1, written_at=0.0))

    job = await jobs.submit("tests", ADMIN, bad)
    await jobs.idle()
    row = await job_row(db, job.id)
    errors = orjson.loads(row.errors)
    assert row.status == "failed"
    assert row.error_count == MAX_LISTED_ERRORS + 9
    assert len(errors) == MAX_LISTED_ERRORS
    assert [e["line"] for e in errors[:3]] == [2, 3, 4]
    assert await written(db) == 0


async def test_a_job_stops_when_its_master_epoch_ends_and_writes_nothing(
    runner: tuple[JobRunner, Master], db: Database
) -> None:
    jobs, master = runner
    step = asyncio.Event()

    async def work(job: Job) -> None:
        await step.wait()
        async with job.writing() as conn:
            await conn.execute(write_checks.insert().values(node_id="n", epoch=1, written_at=0.0))

    job = await jobs.submit("tests", ADMIN, work)
    master.epoch = 2  # this node lost the lease and won it back: the job belongs to epoch 1
    step.set()
    await jobs.idle()
    row = await job_row(db, job.id)
    assert row.status == "failed"
    assert row.detail.startswith("interrupted")
    assert await written(db) == 0
    assert master.step_downs == []  # the master of epoch 2 is not deposed by its old job


async def test_an_import_refused_by_fencing_steps_the_node_down(runner: tuple[JobRunner, Master], db: Database) -> None:
    jobs, master = runner
    async with db.write(fence=("tests", 7)):  # a newer master has written
        pass
    with pytest.raises(StaleEpochError):
        await jobs.submit("tests", ADMIN, lambda job: asyncio.sleep(0))
    assert master.step_downs == [STEP_DOWN_REASON]


async def test_the_next_master_fails_the_jobs_an_earlier_one_left_running(
    runner: tuple[JobRunner, Master], db: Database
) -> None:
    jobs, master = runner
    async with db.write() as conn:
        for status in ("queued", "running", "succeeded"):
            await conn.execute(
                import_jobs.insert().values(
                    kind="users",
                    status=status,
                    submitted_by="registrar",
                    submitted_role="admin",
                    node_id="node-0",
                    epoch=1,
                    created_at=0.0,
                    updated_at=0.0,
                )
            )
    master.epoch = None
    with pytest.raises(LeaseNotHeldError):
        await jobs.sweep()  # only a master sweeps
    master.epoch = 2
    release = asyncio.Event()

    async def slow(job: Job) -> None:
        await release.wait()

    mine = await jobs.submit("tests", ADMIN, slow)  # submitting sweeps too
    assert [(await job_row(db, i)).status for i in (1, 2, 3)] == ["failed", "failed", "succeeded"]
    assert await jobs.sweep() == 0  # its own job is not an orphan, queued or running
    assert (await job_row(db, mine.id)).status in ("queued", "running")
    await wait_for_status(db, mine.id, "running")
    assert await jobs.sweep() == 0
    assert (await job_row(db, mine.id)).status == "running"
    release.set()
    await jobs.idle()


async def test_a_node_that_stops_records_its_running_job_as_interrupted(db: Database) -> None:
    master = Master()
    jobs = JobRunner(MasterWriter(db, master), "node-1", WorkerPool())

    async def forever(job: Job) -> None:
        await asyncio.Event().wait()

    job = await jobs.submit("tests", ADMIN, forever)
    await asyncio.sleep(0)
    await jobs.close()
    row = await job_row(db, job.id)
    assert (row.status, row.detail) == ("failed", "interrupted: the node stopped")
